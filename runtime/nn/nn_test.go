package nn

import (
	"math"
	"strings"
	"testing"

	"ctvae/runtime/tensor"
)

func TestCheckReportsEveryProblem(t *testing.T) {
	specs := []Spec{{Name: "a", Shape: []int{2, 3}}, {Name: "b", Shape: []int{4}}, {Name: "c", Shape: []int{1}}}
	p := Params{"a": tensor.New(3, 2), "c": tensor.New(1), "z": tensor.New(5)}
	err := Check(specs, p)
	if err == nil {
		t.Fatal("Check accepted a broken set")
	}
	for _, want := range []string{"3 problems", `tensor "a": shape [3 2], want [2 3]`, `missing tensor "b" [4]`, `unexpected tensor "z" [5]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := Check(specs[2:], Params{"c": tensor.New(1)}); err != nil {
		t.Errorf("Check rejected a good set: %v", err)
	}
}

func TestInitParamsBoundsAndDeterminism(t *testing.T) {
	specs := append(ConvSpecs("conv", 3, 8, 4, true, false), ConvSpecs("up", 8, 3, 4, true, true)...)
	specs = append(specs,
		Spec{Name: "codebook", Shape: []int{16, 4}, Init: InitUniformCodebook},
		Spec{Name: "att", Shape: []int{1, 5, 7}, Init: InitGlorot},
		Spec{Name: "bias", Shape: []int{9}, Init: InitZeros},
		Spec{Name: "pe", Shape: []int{10, 1, 6}, Init: InitPositional})
	a, b := InitParams(specs, 7), InitParams(specs, 7)
	c := InitParams(specs, 8)
	bounds := map[string]float64{
		"conv.weight": 1 / math.Sqrt(48), "conv.bias": 1 / math.Sqrt(48),
		// ConvTranspose2d fan-in is weight.size(1)·k·k = 3·16.
		"up.weight": 1 / math.Sqrt(48), "up.bias": 1 / math.Sqrt(48),
		"codebook": 1.0 / 16, "att": math.Sqrt(6.0 / 12), "bias": 0,
	}
	for name, bound := range bounds {
		var mx float64
		for i, v := range a[name].Data {
			mx = math.Max(mx, math.Abs(float64(v)))
			if v != b[name].Data[i] {
				t.Fatalf("%s: same seed, different values", name)
			}
		}
		if mx > bound || (bound > 0 && mx < 0.5*bound) {
			t.Errorf("%s: max |w| %g, want within (%g/2, %g]", name, mx, bound, bound)
		}
	}
	if a["conv.weight"].Data[0] == c["conv.weight"].Data[0] {
		t.Error("different seeds gave the same first weight")
	}
	if got := a["up.weight"].Shape; got[0] != 8 || got[1] != 3 {
		t.Errorf("transposed weight shape %v, want [8 3 4 4]", got)
	}
}

func TestPositionalEncodingFormula(t *testing.T) {
	const rows, d = 50, 8
	pe := make([]float32, rows*d)
	PositionalEncoding(pe, rows, d)
	for p := 0; p < rows; p++ {
		for i := 0; 2*i < d; i++ {
			div := math.Exp(float64(2*i) * -math.Log(10000) / d)
			if s := math.Sin(float64(p) * div); math.Abs(s-float64(pe[p*d+2*i])) > 1e-4 {
				t.Fatalf("pe[%d,%d] = %g, want sin %g", p, 2*i, pe[p*d+2*i], s)
			}
			if c := math.Cos(float64(p) * div); math.Abs(c-float64(pe[p*d+2*i+1])) > 1e-4 {
				t.Fatalf("pe[%d,%d] = %g, want cos %g", p, 2*i+1, pe[p*d+2*i+1], c)
			}
		}
	}
}
