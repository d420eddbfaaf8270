package golden

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
)

// The whole model from pixels: encoder, causal layer, decoder and retrieval
// from image pairs, against the generator's outputs (mode sampling).
func checkWholeModel(t *testing.T, name string, tol float64) {
	f := mustOpen(t, name)
	cfg, err := ctvae.ParseConfig([]byte(f.Metadata["config"]))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Params()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p["ct_layer.pos_encoding.pe"]; !ok {
		// Formula files do not store pe: build it as the model does.
		for _, s := range ctvae.Specs(cfg) {
			if s.Name == "ct_layer.pos_encoding.pe" {
				p[s.Name] = nn.InitParams([]nn.Spec{s}, 0)[s.Name]
			}
		}
	}
	m, err := ctvae.New(cfg, p, ctvae.Meta{}, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cmp := func(what string, got, want []float32) { compareScaled(t, what, got, want, tol) }
	x := mustTensor(t, f, "io.x")
	per, n := m.ImageLen(), m.Nodes()
	batch := len(x) / per
	ctRecon := mustTensor(t, f, "io.ct_recon")
	var actions []int
	if err := json.Unmarshal([]byte(f.Metadata["actions_tested"]), &actions); err != nil {
		t.Fatalf("metadata actions_tested: %v", err)
	}
	for i := 0; i < batch; i++ {
		xi := x[i*per : (i+1)*per]
		r, err := m.Reconstruct(xi)
		if err != nil {
			t.Fatal(err)
		}
		cmp(fmt.Sprintf("image %d ct_recon", i), r.Image, ctRecon[i*per:(i+1)*per])
		for _, a := range actions {
			r, err := m.Intervene(xi, a)
			if err != nil {
				t.Fatal(err)
			}
			codesEqual(t, fmt.Sprintf("image %d action %d codes", i, a), r.Codes, mustTensor(t, f, fmt.Sprintf("io.int.a%d.codes", a))[i*n:(i+1)*n])
			cmp(fmt.Sprintf("image %d action %d image", i, a), r.Image, mustTensor(t, f, fmt.Sprintf("io.int.a%d.image", a))[i*per:(i+1)*per])
		}
	}
	rx, ry, rp := mustTensor(t, f, "io.ret.x"), mustTensor(t, f, "io.ret.y"), mustTensor(t, f, "io.ret.probs")
	A := m.NumActions()
	for k := 0; k < len(rx)/per; k++ {
		r, err := m.Retrieve(context.Background(), rx[k*per:(k+1)*per], ry[k*per:(k+1)*per], 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := rp[k*A : (k+1)*A]
		// Probabilities come from a softmin of mean cross-entropies; the
		// 1e-4 relative tolerance covers float32 differences in the logits.
		if d, at := MaxRelDiff(r.Probs, want, 1e-3); d > 1e-4 {
			t.Errorf("pair %d: probability of action %d is %g, want %g", k, at, r.Probs[at], want[at])
		}
		best := 0
		for a := range want {
			if want[a] > want[best] {
				best = a
			}
		}
		if r.Best != best {
			t.Errorf("pair %d: retrieved action %d, want %d (argmax actions must be identical)", k, r.Best, best)
		}
	}
}

func TestWholeModelGoldenTiny(t *testing.T) { checkWholeModel(t, "ctvae_tiny.safetensors", 1e-4) }

func TestWholeModelGoldenDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("default config in -short mode")
	}
	checkWholeModel(t, "ctvae_default.safetensors", deepScaledTol)
}
