package weights

import (
	"encoding/binary"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

// raw assembles a file from a header (not padded) and a data region.
func raw(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func f32Bytes(vs ...float32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func TestReadPythonWriter(t *testing.T) {
	// Written by internal/golden/safetensors_io.py through
	// testdata/gen_python_fixture.py.
	b, err := os.ReadFile("testdata/python_writer.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.Names(), []string{"a.weight", "b.codes", "c.half", "d.scalar", "e.empty"}; !slices.Equal(got, want) {
		t.Fatalf("names %q, want %q", got, want)
	}
	if f.Metadata["note"] != `x<y & "q"` || f.Metadata[KeyFormatVersion] != "1" {
		t.Errorf("metadata %q", f.Metadata)
	}
	if ok, err := f.CheckFormat(); !ok || err != nil {
		t.Errorf("CheckFormat = %v, %v; want true, nil", ok, err)
	}
	inf := float32(math.Inf(1))
	nan := float32(math.NaN())
	a := make([]float32, 24)
	for i := range a {
		a[i] = float32(i)/8 - 1
	}
	want := []Tensor{
		{"a.weight", []int{2, 3, 4}, a, F32},
		{"b.codes", []int{2, 3}, []float32{0, 1, 63, 7, 8, 9}, F32},
		// Every value is exact in F16, the last three are the smallest
		// normal, the smallest subnormal, and the specials.
		{"c.half", []int{10}, []float32{0, float32(math.Copysign(0, -1)), 1, -2.5, 65504, 0x1p-14, 0x1p-24, inf, -inf, nan}, F16},
		// The Python writer's np.ascontiguousarray turns a 0-d array into [1].
		{"d.scalar", []int{1}, []float32{3.25}, F32},
		{"e.empty", []int{0, 5}, []float32{}, F32},
	}
	for i, w := range want {
		equalTensor(t, f.Tensors[i], &w)
	}
}

// equalTensor compares everything, data bit for bit (NaN == NaN).
func equalTensor(t *testing.T, got, want *Tensor) {
	t.Helper()
	if got.Name != want.Name || !slices.Equal(got.Shape, want.Shape) || got.DType != want.DType {
		t.Errorf("tensor %q %v %s, want %q %v %s", got.Name, got.Shape, got.DType, want.Name, want.Shape, want.DType)
		return
	}
	if len(got.Data) != len(want.Data) {
		t.Errorf("tensor %q: %d values, want %d", got.Name, len(got.Data), len(want.Data))
		return
	}
	for i := range got.Data {
		g, w := math.Float32bits(got.Data[i]), math.Float32bits(want.Data[i])
		if g != w && !(got.Data[i] != got.Data[i] && want.Data[i] != want.Data[i]) {
			t.Errorf("tensor %q [%d] = %g (%#08x), want %g (%#08x)", got.Name, i, got.Data[i], g, want.Data[i], w)
			return
		}
	}
}

// validInputs are unusual but well-formed files.
var validInputs = []struct {
	name string
	file []byte
	want []string // tensor names
}{
	{"empty object", raw(`{}`, nil), nil},
	{"space padding", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}    `+"\t\n\r", f32Bytes(1, 2)), []string{"a"}},
	// Header order is not data order; Read sorts by name.
	{"unsorted", raw(`{"z":{"dtype":"F16","shape":[1],"data_offsets":[0,2]},"b":{"data_offsets":[2,4],"shape":[],"dtype":"BF16"}}`, []byte{0, 0x3c, 0x80, 0x3f}), []string{"b", "z"}},
	{"zero-size tensors anywhere", raw(`{"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e2":{"dtype":"F16","shape":[3,0],"data_offsets":[8,8]},"e3":{"dtype":"F16","shape":[0],"data_offsets":[8,8]}}`, f32Bytes(1, 2)),
		[]string{"a", "e1", "e2", "e3"}},
	{"escaped names", raw(`{"\u00e9\n\ud83d\ude00\/\"\\\b\f\r\t\u0000é":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), []string{"é\n😀/\"\\\b\f\r\t\x00é"}},
	{"JSON whitespace everywhere", raw("{ \"a\" :\n{\t\"dtype\" : \"F32\" , \"shape\" : [ 1 , 1 ] , \"data_offsets\" : [ 0 , 4 ] } ,\r\"__metadata__\":{ } }", f32Bytes(1)), []string{"a"}},
	{"metadata only", raw(`{"__metadata__":{"k":"v","":""}}`, nil), nil},
	{"F16 specials", raw(`{"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}}`, []byte{0x01, 0x00, 0xff, 0x7b, 0x00, 0x7c, 0x01, 0xfc, 0xff, 0x7f, 0x00, 0x80}), []string{"h"}},
	{"BF16 specials", raw(`{"h":{"dtype":"BF16","shape":[4],"data_offsets":[0,8]}}`, []byte{0x01, 0x00, 0x7f, 0x7f, 0x81, 0xff, 0x80, 0x7f}), []string{"h"}},
}

func TestReadValidEdgeCases(t *testing.T) {
	for _, c := range validInputs {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Names(); !slices.Equal(got, c.want) && len(got)+len(c.want) > 0 {
				t.Errorf("names %q, want %q", got, c.want)
			}
			if f.Metadata == nil {
				t.Error("nil Metadata")
			}
			checkReread(t, c.file)
		})
	}
}

func TestReadValues(t *testing.T) {
	f, err := Read(raw(`{"h":{"dtype":"F16","shape":[2],"data_offsets":[4,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`,
		[]byte{0x80, 0x3f, 0x49, 0xc0, 0x01, 0x00, 0x00, 0xbc}))
	if err != nil {
		t.Fatal(err)
	}
	equalTensor(t, f.Tensors[0], &Tensor{"b", []int{2}, []float32{1, -3.140625}, BF16})
	equalTensor(t, f.Tensors[1], &Tensor{"h", []int{2}, []float32{0x1p-24, -1}, F16})
	if tt, ok := f.Get("h"); !ok || tt != f.Tensors[1] {
		t.Error(`Get("h") did not return the tensor`)
	}
	if _, ok := f.Get("x"); ok {
		t.Error(`Get("x") found a tensor`)
	}
}

// badInputs are hostile or corrupt files and the error each must produce.
var badInputs = []struct {
	name string
	file []byte
	err  string
}{
	{"empty", nil, "file is 0 bytes, too short"},
	{"seven bytes", []byte{2, 0, 0, 0, 0, 0, 0}, "file is 7 bytes, too short"},
	{"header length huge", binary.LittleEndian.AppendUint64(nil, 1<<62), "header length 4611686018427387904 exceeds the limit of 100000000 bytes"},
	{"header length max", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "exceeds the limit"},
	{"truncated header", append(binary.LittleEndian.AppendUint64(nil, 200), `{"a":{"dtype"`...), "header length 200 exceeds the 13 bytes after the length field (truncated file?)"},
	{"zero header", raw(``, nil), "header does not start with '{'"},
	{"header is a list", raw(`[]`, nil), "header does not start with '{'"},
	{"leading space", raw(` {}`, nil), "header does not start with '{'"},
	{"bad JSON", raw(`{"a":`, nil), `tensor "a": want an object at header byte 5, found the end of the header`},
	{"bad JSON token", raw(`{"a" 1}`, nil), "header: want ':' at header byte 5, found '1'"},
	{"trailing comma", raw(`{"__metadata__":{},}`, nil), "header: want a string at header byte 19, found '}'"},
	{"unterminated string", raw(`{"ab`, nil), "header: want the end of the string at header byte 4"},
	{"control character", raw("{\"a\tb\":{}}", nil), "want no control character in a string at header byte 3"},
	{"bad escape", raw(`{"a\x":{}}`, nil), "want a valid escape character at header byte 4, found 'x'"},
	{"short unicode escape", raw(`{"a\u12":{}}`, nil), "want a hex digit at header byte 7"},
	{"lone surrogate", raw(`{"a\ud800":{}}`, nil), "lone UTF-16 surrogate"},
	{"reversed surrogates", raw(`{"a\udc00\ud800":{}}`, nil), "lone UTF-16 surrogate"},
	{"leading zero", raw(`{"a":{"dtype":"F32","shape":[01],"data_offsets":[0,4]}}`, f32Bytes(1)), "shape: value 01 at header byte 29 has a leading zero"},
	{"missing comma in array", raw(`{"a":{"dtype":"F32","shape":[1 1],"data_offsets":[0,4]}}`, f32Bytes(1)), "shape: want ',' or ']' at header byte 31"},
	{"missing comma in object", raw(`{"a":{"dtype":"F32" "shape":[1],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": want ',' or '}' at header byte 20`},
	{"invalid UTF-8", raw("{\"\xff\":{}}", nil), "header is not valid UTF-8"},
	{"data after JSON", raw(`{} x`, nil), "header has data after the JSON object"},
	{"two objects", raw(`{}{}`, nil), "header has data after the JSON object"},
	{"NUL padding", raw("{}\x00\x00", nil), "header has data after the JSON object"},
	{"duplicate tensor", raw(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, f32Bytes(1, 2)), `duplicate tensor "a" in header`},
	{"duplicate tensor escaped", raw(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"\u0061":{"dtype":"F32","shape":[],"data_offsets":[4,8]}}`, f32Bytes(1, 2)), `duplicate tensor "a" in header`},
	{"duplicate metadata", raw(`{"__metadata__":{},"__metadata__":{}}`, nil), "two __metadata__ entries"},
	{"duplicate metadata key", raw(`{"__metadata__":{"k":"1","k":"2"}}`, nil), `metadata: duplicate key "k"`},
	{"duplicate field", raw(`{"a":{"dtype":"F32","dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": duplicate field "dtype"`},
	{"unknown field", raw(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4],"offset":0}}`, f32Bytes(1)), `tensor "a": unknown field "offset"`},
	{"unknown dtype", raw(`{"a":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": dtype "I32" is not supported (want F32, F16 or BF16)`},
	{"lowercase dtype", raw(`{"a":{"dtype":"f32","shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), `dtype "f32" is not supported`},
	{"dtype not a string", raw(`{"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": dtype: want a string at header byte 14, found '4'`},
	{"missing dtype", raw(`{"a":{"shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": missing dtype`},
	{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": missing shape`},
	{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[]}}`, f32Bytes(1)), `tensor "a": missing data_offsets`},
	{"empty name", raw(`{"":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32Bytes(1)), "tensor with an empty name"},
	{"tensor is null", raw(`{"a":null}`, nil), `tensor "a": want an object at header byte 5, found 'n'`},
	{"tensor is a list", raw(`{"a":[1]}`, nil), `tensor "a": want an object at header byte 5, found '['`},
	{"metadata not an object", raw(`{"__metadata__":"x"}`, nil), `metadata: want an object at header byte 16, found '"'`},
	{"metadata value not a string", raw(`{"__metadata__":{"k":1}}`, nil), `metadata "k": value: want a string at header byte 21, found '1'`},
	{"metadata value nested", raw(`{"__metadata__":{"k":{"a":"b"}}}`, nil), `metadata "k": value: want a string at header byte 21, found '{'`},
	{"shape not a list", raw(`{"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": shape: want an array at header byte 28, found '4'`},
	{"shape element string", raw(`{"a":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, f32Bytes(1)), `shape: want a non-negative integer at header byte 29, found '"'`},
	{"negative dim", raw(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": shape: negative value -1`},
	{"fractional dim", raw(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, f32Bytes(1)), "shape: value 1.5 at header byte 29 is not an integer"},
	{"exponent dim", raw(`{"a":{"dtype":"F32","shape":[1e0],"data_offsets":[0,4]}}`, f32Bytes(1)), "shape: value 1e0 at header byte 29 is not an integer"},
	{"dim beyond uint64", raw(`{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}`, f32Bytes(1)), "shape: value 18446744073709551616 at header byte 29 is too large"},
	{"dim beyond int", raw(`{"a":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,4]}}`, f32Bytes(1)), "shape dimension 9223372036854775808 is too large"},
	{"shape product overflows", raw(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": shape [4294967296 4294967296]: element count overflows`},
	{"shape product overflows beside zero", raw(`{"a":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}`, nil), "element count overflows"},
	{"bytes overflow", raw(`{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}}`, f32Bytes(1)), "do not match dtype F32 x shape [4611686018427387904] (more than 2^64 bytes)"},
	{"rank too high", raw(`{"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": rank exceeds the limit of 8`},
	{"offsets three values", raw(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,4,8]}}`, f32Bytes(1)), "data_offsets has more than 2 values"},
	{"offsets one value", raw(`{"a":{"dtype":"F32","shape":[],"data_offsets":[4]}}`, f32Bytes(1)), "data_offsets [4]: want [start, end]"},
	{"offsets negative", raw(`{"a":{"dtype":"F32","shape":[],"data_offsets":[-4,0]}}`, f32Bytes(1)), "data_offsets: negative value -4"},
	{"offsets reversed", raw(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}}`, f32Bytes(1)), `tensor "a": data offsets [4 0] end before they start`},
	{"offsets out of range", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32Bytes(1)), `tensor "a": data offsets [0 8] exceed the data region of 4 bytes`},
	{"offsets far out of range", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551611,18446744073709551615]}}`, f32Bytes(1)), "exceed the data region"},
	{"offsets inconsistent with shape", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, f32Bytes(1)), `tensor "a": data offsets [0 4] do not match dtype F32 x shape [2] (8 bytes)`},
	{"offsets inconsistent with dtype", raw(`{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, f32Bytes(1)), `data offsets [0 4] do not match dtype F16 x shape [1] (2 bytes)`},
	{"overlapping", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, f32Bytes(1, 2, 3)), `tensor "b": data offsets [4 12] overlap tensor "a" [0 8]`},
	{"aliased", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32Bytes(1)), "overlap tensor"},
	// The reference rejects this too: sorted by offset, tensors must chain.
	{"empty tensor inside another", raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}`, f32Bytes(1, 2)), `tensor "e": data offsets [4 4] overlap tensor "a" [0 8]`},
	{"gap", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32Bytes(1, 2)), `tensor "a": data offsets [4 8] leave a gap of 4 bytes after offset 0 (tensors must be contiguous)`},
	{"trailing garbage", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32Bytes(1, 2)), "4 trailing bytes after the last tensor"},
	{"data without tensors", raw(`{}`, []byte{1}), "1 trailing bytes after the last tensor"},
}

func TestReadBadInputs(t *testing.T) {
	for _, c := range badInputs {
		t.Run(c.name, func(t *testing.T) {
			f, err := Read(c.file)
			if err == nil {
				t.Fatalf("Read succeeded with %d tensors, want error containing %q", len(f.Tensors), c.err)
			}
			if f != nil {
				t.Errorf("Read returned a File along with error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "weights: ") || !strings.Contains(err.Error(), c.err) {
				t.Errorf("error %q, want it to start with \"weights: \" and contain %q", err, c.err)
			}
		})
	}
}

// TestReadTruncations cuts a valid file at every length: each prefix must be
// rejected cleanly.
func TestReadTruncations(t *testing.T) {
	b, err := os.ReadFile("testdata/python_writer.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := Read(b[:n]); err == nil {
			t.Fatalf("Read of the first %d of %d bytes succeeded", n, len(b))
		}
	}
}

func TestReadDoesNotAlias(t *testing.T) {
	b := raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32Bytes(1))
	f, err := Read(b)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0xff
	}
	if f.Tensors[0].Data[0] != 1 || f.Tensors[0].Name != "a" {
		t.Errorf("tensor changed with the input buffer: %q %v", f.Tensors[0].Name, f.Tensors[0].Data)
	}
}
