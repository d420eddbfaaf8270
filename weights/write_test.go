package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sampleFile holds ordinary values, every special value, and odd shapes.
func sampleFile() *File {
	rng := rand.New(rand.NewPCG(5, 6))
	w := make([]float32, 4*3*4*4)
	for i := range w {
		w[i] = float32(rng.NormFloat64() * 0.1)
	}
	inf := float32(math.Inf(1))
	specials := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 65504, -65504, 0x1p-14, 0x1p-24, 0x1p-25, 0x1.8p-25, 1e-30,
		inf, -inf, float32(math.NaN()), math.Float32frombits(0x7f800001), 3.14159265, 1.0009765625, 1.00048828125}
	return &File{
		Metadata: map[string]string{"k": "v", "config": `{"a":[1,2],"s":"<&>\"\\` + "\n\t\x01é\"}"},
		Tensors: []*Tensor{
			{Name: "z.weight", Shape: []int{4, 3, 4, 4}, Data: w},
			{Name: "special", Shape: []int{len(specials)}, Data: specials},
			{Name: "scalar", Shape: []int{}, Data: []float32{2}},
			{Name: "empty", Shape: []int{3, 0}, Data: nil},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range []struct {
		dtype DType
		conv  func(float32) float32 // the value a stored float comes back as
	}{
		{F32, func(v float32) float32 { return v }},
		{F16, func(v float32) float32 { return f16ToF32(f32ToF16(v)) }},
		{BF16, func(v float32) float32 { return bf16ToF32(f32ToBF16(v)) }},
	} {
		t.Run(string(c.dtype), func(t *testing.T) {
			f := sampleFile()
			b, err := Marshal(f, c.dtype)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := Write(&buf, f, c.dtype); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), b) {
				t.Fatal("Write and Marshal produce different bytes")
			}
			if n := binary.LittleEndian.Uint64(b); n%8 != 0 || b[8+n-1] != '}' && b[8+n-1] != ' ' {
				t.Errorf("header length %d is not a multiple of 8 padded with spaces", n)
			}
			g, err := Read(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Metadata) != len(f.Metadata) || g.Metadata["config"] != f.Metadata["config"] || g.Metadata["k"] != "v" {
				t.Errorf("metadata %q, want %q", g.Metadata, f.Metadata)
			}
			want := sortedByName(f.Tensors)
			if len(g.Tensors) != len(want) {
				t.Fatalf("%d tensors, want %d", len(g.Tensors), len(want))
			}
			for i, w := range want {
				data := make([]float32, len(w.Data))
				for j, v := range w.Data {
					data[j] = c.conv(v)
				}
				equalTensor(t, g.Tensors[i], &Tensor{w.Name, w.Shape, data, c.dtype})
			}
			if c.dtype == F32 {
				// F32 is exact to the bit, NaN payloads included.
				s, _ := g.Get("special")
				for j, v := range f.Tensors[1].Data {
					if math.Float32bits(s.Data[j]) != math.Float32bits(v) {
						t.Errorf("special[%d] = %#08x, want %#08x", j, math.Float32bits(s.Data[j]), math.Float32bits(v))
					}
				}
			}
		})
	}
}

// TestRoundTripValues pins a few conversions so that the round trip cannot
// pass with a conversion that is merely self-consistent.
func TestRoundTripValues(t *testing.T) {
	in := []float32{1.0009765625, 1.00048828125, 1.00146484375, 0x1p-25, 0x1.8p-25, 65519, 3.14159265}
	for _, c := range []struct {
		dtype DType
		want  []float32
	}{
		// F16: 1+2^-10 exact; 1+2^-11 ties to even 1; 1+3*2^-11 ties to even
		// 1+2^-9; 2^-25 ties to even 0; 1.5*2^-25 rounds up to 2^-24.
		{F16, []float32{1.0009765625, 1, 1.001953125, 0, 0x1p-24, 65504, 3.140625}},
		{BF16, []float32{1, 1, 1, 0x1p-25, 0x1.8p-25, 65536, 3.140625}},
	} {
		b, err := Marshal(&File{Tensors: []*Tensor{{Name: "x", Shape: []int{len(in)}, Data: in}}}, c.dtype)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Read(b)
		if err != nil {
			t.Fatal(err)
		}
		equalTensor(t, f.Tensors[0], &Tensor{"x", []int{len(in)}, c.want, c.dtype})
	}
}

func TestMarshalLayout(t *testing.T) {
	f := &File{Metadata: map[string]string{"b": "2", "a": "1"}, Tensors: []*Tensor{
		{Name: "y", Shape: []int{1}, Data: []float32{1}},
		{Name: "x", Shape: []int{2}, Data: []float32{2, 3}},
	}}
	b, err := Marshal(f, F16)
	if err != nil {
		t.Fatal(err)
	}
	const header = `{"__metadata__":{"a":"1","b":"2"},"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"y":{"dtype":"F16","shape":[1],"data_offsets":[4,6]}}`
	padded := header + strings.Repeat(" ", (8-len(header)%8)%8)
	want := raw(padded, []byte{0x00, 0x40, 0x00, 0x42, 0x00, 0x3c})
	if !bytes.Equal(b, want) {
		t.Errorf("Marshal =\n%q\nwant\n%q", b, want)
	}
	if f.Tensors[0].Name != "y" {
		t.Error("Marshal reordered the caller's tensors")
	}
	b, err = Marshal(&File{}, F32)
	if err != nil {
		t.Fatal(err)
	}
	if want := raw("{}      ", nil); !bytes.Equal(b, want) {
		t.Errorf("empty file = %q, want %q", b, want)
	}
}

func TestWriteErrors(t *testing.T) {
	one := func(name string, shape []int, data ...float32) *File {
		return &File{Tensors: []*Tensor{{Name: name, Shape: shape, Data: data}}}
	}
	for _, c := range []struct {
		name  string
		f     *File
		dtype DType
		err   string
	}{
		{"nil file", nil, F32, "cannot write a nil File"},
		{"bad dtype", one("a", []int{1}, 1), "F64", `cannot write dtype "F64"`},
		{"nil tensor", &File{Tensors: []*Tensor{nil}}, F32, "tensor 0 is nil"},
		{"empty name", one("", []int{1}, 1), F32, "tensor 0 has an empty name"},
		{"reserved name", one("__metadata__", []int{1}, 1), F32, `tensor name "__metadata__" is reserved`},
		{"invalid UTF-8 name", one("a\xff", []int{1}, 1), F32, "name is not valid UTF-8"},
		{"invalid UTF-8 metadata", &File{Metadata: map[string]string{"k": "\xff"}}, F32, `metadata "k": key or value is not valid UTF-8`},
		{"duplicate", &File{Tensors: []*Tensor{{Name: "a", Shape: []int{}, Data: []float32{1}}, {Name: "a", Shape: []int{}, Data: []float32{1}}}}, F32, `duplicate tensor "a"`},
		{"shape mismatch", one("a", []int{2, 2}, 1, 2, 3), F32, `tensor "a": shape [2 2] holds 4 elements, data has 3`},
		{"negative dim", one("a", []int{-1}), F32, `tensor "a": shape [-1] has a negative dimension or overflows`},
		{"rank", one("a", []int{1, 1, 1, 1, 1, 1, 1, 1, 1}, 1), F32, "rank 9 exceeds the limit of 8"},
		{"F16 overflow", one("w", []int{3}, 1, -65520, 2), F16, `tensor "w": element 1 = -65520 overflows F16 (would become infinity)`},
		{"BF16 overflow", one("w", []int{1}, math.MaxFloat32), BF16, `tensor "w": element 0 = 3.4028235e+38 overflows BF16`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, c.f, c.dtype)
			if err == nil || !strings.HasPrefix(err.Error(), "weights: ") || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Write error %v, want one containing %q", err, c.err)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
			if _, err := Marshal(c.f, c.dtype); err == nil {
				t.Error("Marshal succeeded")
			}
		})
	}
	// Largest values that still fit, and infinities, are fine.
	for _, c := range []struct {
		dtype DType
		v     float32
	}{{F16, 65519.996}, {F16, float32(math.Inf(-1))}, {BF16, math.Float32frombits(0x7f7f7fff)}} {
		if _, err := Marshal(one("a", []int{1}, c.v), c.dtype); err != nil {
			t.Errorf("Marshal %s of %g: %v", c.dtype, c.v, err)
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestWriteReportsWriterError(t *testing.T) {
	f := sampleFile()
	if err := Write(&failWriter{n: 10}, f, F32); err == nil || !strings.Contains(err.Error(), "writing header: disk full") {
		t.Errorf("error %v, want a header write error", err)
	}
	b, err := Marshal(f, F32)
	if err != nil {
		t.Fatal(err)
	}
	// Room for the header, "empty", "scalar" and part of "special".
	n := 8 + int(binary.LittleEndian.Uint64(b)) + 4 + 10
	if err := Write(&failWriter{n: n}, f, F32); err == nil || !strings.Contains(err.Error(), `writing tensor "special": disk full`) {
		t.Errorf("error %v, want a tensor write error", err)
	}
}
