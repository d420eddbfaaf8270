package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ctvae/weights"
)

// Fixtures written by internal/golden/gen_checkpoints.py with PyTorch.
const fixtures = "../../internal/golden/testdata/checkpoints"

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goldenParams returns the model tensors of a golden file.
func goldenParams(t *testing.T, name string) map[string]*weights.Tensor {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../internal/golden/testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	p := map[string]*weights.Tensor{}
	for _, tt := range f.Tensors {
		if !strings.HasPrefix(tt.Name, "io.") {
			p[tt.Name] = tt
		}
	}
	return p
}

// roundF16 rounds through the weights package's float16 writer, an
// implementation independent of this package's reader.
func roundF16(t *testing.T, ts map[string]*weights.Tensor) map[string]*weights.Tensor {
	t.Helper()
	f := &weights.File{}
	for _, tt := range ts {
		f.Tensors = append(f.Tensors, tt)
	}
	b, err := weights.Marshal(f, weights.F16)
	if err != nil {
		t.Fatal(err)
	}
	r, err := weights.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*weights.Tensor{}
	for _, tt := range r.Tensors {
		out[tt.Name] = tt
	}
	return out
}

// TestReadModelMatchesGolden: every fixture holds the golden weights
// exactly (float16 ones: the golden weights rounded to float16), whatever
// the layout, prefix or strides.
func TestReadModelMatchesGolden(t *testing.T) {
	ct := goldenParams(t, "ctvae_tiny.safetensors")
	vq := goldenParams(t, "vqvae_tiny_k2.safetensors")
	for _, c := range []struct {
		file  string
		want  map[string]*weights.Tensor
		kind  string
		dtype weights.DType
	}{
		{"ctvae_tiny_state_dict.pt", ct, KindStateDict, weights.F32},
		{"ctvae_tiny_lightning.ckpt", ct, KindLightning, weights.F32},
		{"vqvae_tiny_k2_f16.ckpt", roundF16(t, vq), KindLightning, weights.F16},
		{"vqvae_tiny_k2_views.pt", vq, KindStateDict, weights.F32},
	} {
		m, err := ReadModel(fixture(t, c.file))
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if m.Kind != c.kind {
			t.Errorf("%s: kind %q, want %q", c.file, m.Kind, c.kind)
		}
		if len(m.Tensors) != len(c.want) {
			t.Errorf("%s: %d tensors, want %d", c.file, len(m.Tensors), len(c.want))
		}
		for _, got := range m.Tensors {
			w, ok := c.want[got.Name]
			if !ok {
				t.Errorf("%s: unexpected tensor %q", c.file, got.Name)
				continue
			}
			if !slices.Equal(got.Shape, w.Shape) || !slices.Equal(got.Data, w.Data) || got.DType != c.dtype {
				t.Errorf("%s: tensor %q (%s %v) differs from the golden (%v)", c.file, got.Name, got.DType, got.Shape, w.Shape)
			}
		}
	}
}

func TestReadModelLightningParts(t *testing.T) {
	m, err := ReadModel(fixture(t, "ctvae_tiny_lightning.ckpt"))
	if err != nil {
		t.Fatal(err)
	}
	if m.About != "pytorch-lightning 1.6.5 checkpoint, epoch 3, global_step 120" {
		t.Errorf("About = %q", m.About)
	}
	// Adam over ct_layer's 38 parameters: step, exp_avg, exp_avg_sq each.
	for _, want := range []string{"optimizer_states (114 tensors)", "lr_schedulers", "callbacks (1 tensor)",
		"state_dict key val_metric.running_mean (tensor [3] float32)"} {
		if !slices.Contains(m.Dropped, want) {
			t.Errorf("Dropped %q lacks %q", m.Dropped, want)
		}
	}
	mp, ok := m.HyperParameters["model_params"].(map[string]any)
	if !ok || mp["name"] != "CTMCQVAE" || mp["action_dim"] != int64(4) || !slices.Equal(mp["hidden_dims"].([]any), []any{int64(8), int64(16)}) {
		t.Errorf("hyper_parameters model_params = %v", m.HyperParameters["model_params"])
	}
	if lr := m.HyperParameters["exp_params"].(map[string]any)["LR"]; lr != 0.0005 {
		t.Errorf("exp_params.LR = %v", lr)
	}
}

// TestReadModelParameterBF16: an nn.Parameter (torch's _rebuild_parameter)
// and a bfloat16 tensor, values as PyTorch prints them.
func TestReadModelParameterBF16(t *testing.T) {
	m, err := ReadModel(fixture(t, "small_param_bf16.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tensors) != 2 {
		t.Fatalf("%d tensors", len(m.Tensors))
	}
	b, w := m.Tensors[0], m.Tensors[1]
	if b.Name != "b" || b.DType != weights.BF16 || !slices.Equal(b.Data, []float32{1.5, -2, 0.0030059814453125}) {
		t.Errorf("b = %s %v %v", b.DType, b.Shape, b.Data)
	}
	if w.Name != "w" || w.DType != weights.F32 || !slices.Equal(w.Shape, []int{2, 3}) || !slices.Equal(w.Data, []float32{0, 1, 2, 3, 4, 5}) {
		t.Errorf("w = %s %v %v", w.DType, w.Shape, w.Data)
	}
}

// TestReadModelSafetensors: a safetensors file passes through with its
// metadata; a "model." prefix is stripped as for checkpoints.
func TestReadModelSafetensors(t *testing.T) {
	f := &weights.File{Metadata: map[string]string{"k": "v"}, Tensors: []*weights.Tensor{
		{Name: "model.a", Shape: []int{2}, Data: []float32{1, 2}},
		{Name: "other", Shape: []int{1}, Data: []float32{3}},
	}}
	b, err := weights.Marshal(f, weights.F16)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindSafetensors || m.Metadata["k"] != "v" || len(m.Tensors) != 1 || m.Tensors[0].Name != "a" ||
		m.Tensors[0].DType != weights.F16 || !slices.Equal(m.Dropped, []string{"tensor other [1]"}) {
		t.Errorf("got %+v, tensors %+v", m, m.Tensors)
	}
}

// ---- bad inputs ----

// zipOf builds a torch-style archive (stored entries) in the given order.
func zipOf(t testing.TB, method uint16, kv ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for i := 0; i < len(kv); i += 2 {
		e, err := w.CreateHeader(&zip.FileHeader{Name: kv[i], Method: method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Write([]byte(kv[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pkl wraps pickle opcodes in PROTO 2 ... STOP.
func pkl(body string) string { return "\x80\x02" + body + "." }

// tensorPkl is {'w': tensor} on storage "0" of numel floats with the given
// size and stride tuples (pickle opcodes).
func tensorPkl(numel int, size, stride string) string {
	return pkl("}X\x01\x00\x00\x00w" +
		"ctorch._utils\n_rebuild_tensor_v2\n(" +
		"(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK" + string(rune(numel)) + "tQ" +
		"K\x00" + size + stride + "\x89" + "ccollections\nOrderedDict\n)Rt" + "R" + "s")
}

func TestReadModelBadInputs(t *testing.T) {
	small := fixture(t, "small.pt")
	floats := string(make([]byte, 24))
	bomb := zipOf(t, zip.Deflate, "archive/data.pkl", pkl("}"), "archive/data/0", strings.Repeat("\x00", 4<<20))
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "neither a torch.save zip archive nor a safetensors file"},
		{"text", []byte("hello, world"), "neither a torch.save zip archive nor a safetensors file (starts with 68 65 6c"},
		{"raw pickle", []byte(pkl("}")), "a raw pickle (torch.save before torch 1.6"},
		{"truncated zip", small[:len(small)/2], "not a valid zip archive (truncated or corrupt?)"},
		{"zip bomb", bomb, "refusing a possible zip bomb"},
		{"os.system", fixture(t, "bad_os_system.pt"), "refusing global os.system"},
		{"missing storage", fixture(t, "bad_missing_storage.pt"), `storage "0" (FloatStorage) is missing from the archive (no entry archive/data/0)`},
		{"short storage", fixture(t, "bad_short_storage.pt"), `storage "0" holds 20 bytes, the pickle declares 6 float32 elements`},
		{"view past storage", fixture(t, "bad_view.pt"), `tensor "w": view (size [3 3], stride [3 1], offset 0) reaches element 8 of storage "0", which holds 6`},
		{"float64", fixture(t, "bad_double.pt"), `tensor "w": storage type torch.DoubleStorage (float64) is not supported`},
		{"unknown storage", fixture(t, "bad_unknown_storage.pt"), "refusing global torch.QInt8Storage"},
		{"no data.pkl", zipOf(t, zip.Store, "archive/version", "3\n"), "archive has no <folder>/data.pkl"},
		{"two pickles", zipOf(t, zip.Store, "a/data.pkl", pkl("}"), "b/data.pkl", pkl("}")), "archive has two pickles"},
		{"outside folder", zipOf(t, zip.Store, "a/data.pkl", pkl("}"), "b/x", ""), `archive entry "b/x" is outside the archive folder "a/"`},
		{"big endian", zipOf(t, zip.Store, "a/data.pkl", pkl("}"), "a/byteorder", "big"), `archive byteorder "big", want "little"`},
		{"not a dict", zipOf(t, zip.Store, "a/data.pkl", pkl("]")), "the archive holds a list, want a state_dict"},
		{"no tensors", zipOf(t, zip.Store, "a/data.pkl", pkl("}")), "the state_dict holds no model tensors"},
		{"int key", zipOf(t, zip.Store, "a/data.pkl", pkl("}K\x01Ns")), "state_dict key 1, want a string"},
		{"state_dict not a dict", zipOf(t, zip.Store, "a/data.pkl", pkl("}X\x0a\x00\x00\x00state_dictK\x01s")), `"state_dict" is 1, want a dict`},
		{"stride rank", zipOf(t, zip.Store, "archive/data.pkl", tensorPkl(6, "K\x06\x85", "K\x01K\x01\x86"), "archive/data/0", floats),
			"size [6] with stride [1 1]: ranks differ"},
		{"negative dim", zipOf(t, zip.Store, "archive/data.pkl", tensorPkl(6, "J\xff\xff\xff\xff\x85", "K\x01\x85"), "archive/data/0", floats),
			"element 0 is -1, want an integer >= 0"},
		{"huge size", zipOf(t, zip.Store, "archive/data.pkl", tensorPkl(6, "J\xff\xff\xff\x7fJ\xff\xff\xff\x7f\x86", "K\x00K\x00\x86"), "archive/data/0", floats),
			"has more than 2147483647 elements"},
		{"stride overflow", zipOf(t, zip.Store, "archive/data.pkl", tensorPkl(6, "K\x03\x85", "\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f\x85"), "archive/data/0", floats),
			"overflows"},
		{"stride 0 repeats", zipOf(t, zip.Store, "archive/data.pkl", tensorPkl(6, "J\x00\x00\x10\x00\x85", "K\x00\x85"), "archive/data/0", floats),
			"tensors view more elements than the archive stores"},
	} {
		_, err := ReadModel(c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "checkpoint: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestVetRefuses: pickles that gopickle would run into a panic, an
// unbounded allocation or an unvetted global are refused by the pre-scan.
func TestVetRefuses(t *testing.T) {
	for _, c := range []struct{ name, p, want string }{
		{"odd dict", pkl("(K\x01d"), "1 items for key/value pairs"},
		{"odd setitems", pkl("}(K\x01u"), "1 items for key/value pairs"},
		{"bytes key", pkl("}C\x01aK\x01s"), "a bytes dict key"},
		{"long1 zero", pkl("\x8a\x00"), "integer of 0 bytes"},
		{"long4 long", pkl("\x8b\x40\x00\x00\x00" + strings.Repeat("\x01", 64)), "integer of 64 bytes"},
		{"huge bytes8", pkl("\x8e\xff\xff\xff\xff\xff\xff\xff\x7f"), "exceeds the 1 bytes that remain"},
		{"huge frame", "\x80\x04\x95\x00\x00\x00\x00\x00\x00\x10\x00}.", "exceeds the 2 bytes that remain"},
		{"short arg", "\x80\x02J\x01", "argument of 4 bytes, only 1 remain"},
		{"stack underflow", pkl("s"), "needs 3 stack items, the stack holds 0"},
		{"pop mark empty", pkl("}1"), "no MARK to pop to"},
		{"memo unset", pkl("h\x05"), "memo entry 5 read before it is written"},
		{"stack global dynamic", pkl("N}\x93"), "STACK_GLOBAL with names that are not string constants"},
		{"stack global os", "\x80\x04\x8c\x02os\x8c\x06system\x93.", "refusing global os.system"},
		{"memoized global name", "\x80\x04\x8c\x05posix\x94\x8c\x06system\x94h\x00h\x01\x93.", "refusing global posix.system"},
		{"copy_reg", pkl("ccopy_reg\n_reconstructor\n"), "refusing global copy_reg._reconstructor"},
		{"array", pkl("carray\n_array_reconstructor\n"), "refusing global array._array_reconstructor"},
		{"object", pkl("c__builtin__\nobject\n"), "refusing global __builtin__.object"},
		{"set", pkl("\x8f"), "unsupported opcode"},
		{"ext", pkl("\x82\x01"), "unsupported opcode"},
		{"inst", pkl("(ibuiltins\ndict\n"), "unsupported opcode"},
		{"text persid", pkl("P0\n"), "unsupported opcode"},
		{"deep marks", "\x80\x02" + strings.Repeat("(", 70), "MARKs nested deeper than 64"},
		{"after stop", pkl("}") + "N", "1 bytes after STOP"},
		{"no stop", "\x80\x02}", "without STOP"},
		{"stop in mark", "\x80\x02(}.", "STOP inside a MARK"},
		{"protocol 6", "\x80\x06}.", "pickle protocol 6"},
		{"long line", pkl("I" + strings.Repeat("1", 5000) + "\n"), "line argument without a newline"},
	} {
		err := vet([]byte(c.p))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: vet error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestUnpickleRefuses: structures the pre-scan allows but conversion
// refuses, with exact errors.
func TestUnpickleRefuses(t *testing.T) {
	for _, c := range []struct{ name, p, want string }{
		// l = []; l.append(l)
		{"cycle", pkl("]q\x00h\x00a"), "a container holds itself"},
		// 150 nested lists built with APPEND through the stack.
		{"deep", pkl(strings.Repeat("]", 150) + strings.Repeat("a", 149)), "containers nested deeper than 100"},
		{"dict attrs", pkl("cpytorch_lightning.utilities.parsing\nAttributeDict\n)\x81}X\x01\x00\x00\x00aK\x01sb"),
			"AttributeDict with instance attribute \"a\""},
		{"bad persid", pkl("K\x01Q"), "persistent id 1, want ('storage'"},
		{"rebuild args", pkl("ctorch._utils\n_rebuild_tensor_v2\n)R"), "_rebuild_tensor_v2 with 0 arguments, want 6 or 7"},
		{"latin1", pkl("c_codecs\nencode\nX\x02\x00\x00\x00\xc4\x80X\x06\x00\x00\x00latin1\x86R"), "rune U+0100 is not latin1"},
	} {
		a := &Archive{storages: map[string]*storageRef{}, files: map[string]*zip.File{}}
		if err := vet([]byte(c.p)); err != nil {
			t.Errorf("%s: vet: %v", c.name, err)
			continue
		}
		_, err := a.unpickle([]byte(c.p))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// TestUnpickleValues: the plain values of a pickle covering the allowed
// globals, dict subclasses, duplicates and shared objects.
func TestUnpickleValues(t *testing.T) {
	// {'a': AttributeDict(x=1.5), 'b': bytes via _codecs, 'c': [s, s] with
	// s shared, 'd': OrderedDict, 'a' again: the last value wins}
	p := pkl("}(X\x01\x00\x00\x00a" +
		"clightning.fabric.utilities.data\nAttributeDict\n)\x81X\x01\x00\x00\x00xG\x3f\xf8\x00\x00\x00\x00\x00\x00s" +
		"X\x01\x00\x00\x00bc_codecs\nencode\nX\x02\x00\x00\x00\xc3\xbfX\x06\x00\x00\x00latin1\x86R" +
		"X\x01\x00\x00\x00c]q\x01h\x01\x86" +
		"X\x01\x00\x00\x00dccollections\nOrderedDict\n)R" +
		"X\x01\x00\x00\x00a\x88u")
	if err := vet([]byte(p)); err != nil {
		t.Fatal(err)
	}
	a := &Archive{storages: map[string]*storageRef{}, files: map[string]*zip.File{}}
	v, err := a.unpickle([]byte(p))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	if !slices.Equal(d.Keys, []any{"a", "b", "c", "d"}) || d.Values[0] != true {
		t.Fatalf("keys %v values %v", d.Keys, d.Values)
	}
	if b := d.Values[1].([]byte); !bytes.Equal(b, []byte{0xff}) {
		t.Errorf("bytes = %x", b)
	}
	c := d.Values[2].([]any)
	if len(c) != 2 || fmt.Sprintf("%p", c[0]) != fmt.Sprintf("%p", c[1]) {
		t.Errorf("shared list converted twice: %v", c)
	}
	if od := d.Values[3].(*Dict); len(od.Keys) != 0 {
		t.Errorf("OrderedDict = %v", od)
	}
}

// ---- strided views and float16 ----

// TestFloat32MatchesNaive: the odometer walk against the index formula
// offset + sum(i_d * stride_d), on random shapes, strides and offsets.
func TestFloat32MatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 300; trial++ {
		rank := rng.IntN(5)
		shape := make([]int, rank)
		stride := make([]int, rank)
		off := rng.IntN(4)
		last := off
		for d := range shape {
			shape[d] = rng.IntN(4)
			stride[d] = rng.IntN(7)
			if shape[d] > 0 {
				last += (shape[d] - 1) * stride[d]
			}
		}
		numel := last + 1 + rng.IntN(3)
		raw := make([]byte, 4*numel)
		for i := 0; i < numel; i++ {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)))
		}
		a := &Archive{data: map[string][]byte{"0": raw}, budget: 1 << 20}
		tt := &Tensor{Shape: shape, Stride: stride, Offset: off, storage: &storageRef{typ: storageTypes["FloatStorage"], key: "0", numel: numel}, arc: a}
		got, err := tt.Float32()
		if err != nil {
			t.Fatalf("shape %v stride %v: %v", shape, stride, err)
		}
		n := 1
		for _, d := range shape {
			n *= d
		}
		if len(got) != n {
			t.Fatalf("shape %v: %d elements, want %d", shape, len(got), n)
		}
		for i := range got {
			pos, rem := off, i
			for d := rank - 1; d >= 0; d-- {
				pos += rem % shape[d] * stride[d]
				rem /= shape[d]
			}
			if got[i] != float32(pos) {
				t.Fatalf("shape %v stride %v off %d: element %d = %g, want %d", shape, stride, off, i, got[i], pos)
			}
		}
	}
}

// TestF16MatchesWeights: every float16 bit pattern widens as the weights
// package's reader widens it (NaNs compared as NaN).
func TestF16MatchesWeights(t *testing.T) {
	const n = 1 << 16
	hdr := fmt.Sprintf(`{"h":{"dtype":"F16","shape":[%d],"data_offsets":[0,%d]}}`, n, 2*n)
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(b, hdr...)
	for i := 0; i < n; i++ {
		b = binary.LittleEndian.AppendUint16(b, uint16(i))
	}
	f, err := weights.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range f.Tensors[0].Data {
		got := f16ToF32(uint16(i))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("f16 0x%04x: %g, want %g", i, got, want)
		}
	}
}

// TestSharedDAGIsLinear: hyper_parameters whose lists share sublists 2^60
// ways (l_{k+1} = [l_k, l_k]) convert in bounded time, and a dict with many
// keys.converts in linear time.
func TestSharedDAGIsLinear(t *testing.T) {
	var dag strings.Builder // leaves l_60 on the stack
	dag.WriteString("]q\x000")
	for k := 0; k < 60; k++ {
		fmt.Fprintf(&dag, "h%ch%c\x86q%c0", k, k, k+1)
	}
	dag.WriteString("h\x3c")
	var keys strings.Builder
	keys.WriteString("(")
	for i := 0; i < 100000; i++ {
		keys.WriteString("J" + string(binary.LittleEndian.AppendUint32(nil, uint32(i))) + "N")
	}
	keys.WriteString("K\x00K\x01u")
	p := pkl("}(X\x10\x00\x00\x00hyper_parameters}X\x01\x00\x00\x00x" + dag.String() + "s" +
		"X\x05\x00\x00\x00extra}" + keys.String() +
		"X\x0a\x00\x00\x00state_dict}X\x01\x00\x00\x00w" +
		"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x06tQK\x00K\x06\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtRsu")
	b := zipOf(t, zip.Store, "archive/data.pkl", p, "archive/data/0", string(make([]byte, 24)))
	m, err := ReadModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tensors) != 1 || m.HyperParameters["x"] == nil {
		t.Fatalf("tensors %v hyper_parameters %.100v", m.Tensors, m.HyperParameters)
	}
	if !slices.Contains(m.Dropped, "extra") {
		t.Errorf("Dropped = %q", m.Dropped)
	}
}
