package train

import (
	"math"
	"testing"

	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
)

// TestAdamMatchesPyTorchFormula runs three steps on one parameter and
// compares with the update rule written out in float64, step by step.
func TestAdamMatchesPyTorchFormula(t *testing.T) {
	specs := []nn.Spec{{Name: "w", Shape: []int{3}}}
	a := NewAdam(specs, []string{"w"})
	p := nn.Params{"w": tensor.FromData([]float32{0.5, -1, 2}, 3)}
	gs := [][]float32{{0.1, -0.2, 3}, {0.05, 0.4, -1}, {-0.3, 0, 0.5}}
	ref := []float64{0.5, -1, 2}
	m, v := make([]float64, 3), make([]float64, 3)
	const lr = 1e-2
	for step, g := range gs {
		a.Update(p, nn.Params{"w": tensor.FromData(g, 3)}, lr)
		tt := float64(step + 1)
		for i := range ref {
			m[i] = 0.9*m[i] + 0.1*float64(g[i])
			v[i] = 0.999*v[i] + 0.001*float64(g[i])*float64(g[i])
			mh, vh := m[i]/(1-math.Pow(0.9, tt)), v[i]/(1-math.Pow(0.999, tt))
			ref[i] -= lr * mh / (math.Sqrt(vh) + 1e-8)
		}
		for i := range ref {
			// float32 state: agreement to ~1e-6 relative of the step size.
			if d := math.Abs(float64(p["w"].Data[i]) - ref[i]); d > 1e-6 {
				t.Fatalf("step %d w[%d] = %.8g, want %.8g", step+1, i, p["w"].Data[i], ref[i])
			}
		}
	}
	if got := DecayedLR(5e-4, 0.98, 2); math.Abs(got-5e-4*0.98*0.98) > 1e-15 {
		t.Fatalf("DecayedLR = %g", got)
	}
}
