package train

import (
	"math"

	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
)

// ---------------------------------------------------------------------------
// Adam with PyTorch's semantics (torch.optim.Adam, no weight decay, no
// amsgrad): m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g²,
// θ -= (lr / (1-β1^t)) · m / (sqrt(v) / sqrt(1-β2^t) + eps),
// and ExponentialLR: lr = lr0 · decay^epoch.
// ---------------------------------------------------------------------------

// Adam holds the optimizer state of the tensors named in Names.
type Adam struct {
	Beta1, Beta2, Eps float64
	Step              int64 // number of updates done (t after the next update is Step+1)
	Names             []string
	M, V              nn.Params
}

// NewAdam starts an optimizer for the named tensors of specs, with
// PyTorch's defaults β = (0.9, 0.999), eps 1e-8.
func NewAdam(specs []nn.Spec, names []string) *Adam {
	a := &Adam{Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, Names: names, M: nn.Params{}, V: nn.Params{}}
	shapes := map[string][]int{}
	for _, s := range specs {
		shapes[s.Name] = s.Shape
	}
	for _, n := range names {
		a.M[n] = tensor.New(shapes[n]...)
		a.V[n] = tensor.New(shapes[n]...)
	}
	return a
}

// Update applies one step with learning rate lr to params from grads.
func (a *Adam) Update(params, grads nn.Params, lr float64) {
	a.Step++
	t := float64(a.Step)
	bc1 := 1 - math.Pow(a.Beta1, t)
	bc2 := math.Sqrt(1 - math.Pow(a.Beta2, t))
	step := float32(lr / bc1)
	b1, b2 := float32(a.Beta1), float32(a.Beta2)
	inv2, eps := float32(1/bc2), float32(a.Eps)
	for _, n := range a.Names {
		p, g, m, v := params[n].Data, grads[n].Data, a.M[n].Data, a.V[n].Data
		for i, gi := range g {
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			p[i] -= step * m[i] / (float32(math.Sqrt(float64(v[i])))*inv2 + eps)
		}
	}
}

// AnnealedLR is a half-cosine anneal from lr0 (at done 0) to final (at done
// >= steps, and beyond); a negative done gives lr0.
func AnnealedLR(lr0, final float64, done, steps int64) float64 {
	p := float64(done) / float64(steps)
	switch {
	case p <= 0:
		return lr0
	case p >= 1:
		return final
	}
	return final + (lr0-final)*(1+math.Cos(math.Pi*p))/2
}

// DecayedLR is ExponentialLR stepped once per epoch.
func DecayedLR(lr0, decay float64, epoch int) float64 {
	return lr0 * math.Pow(decay, float64(epoch))
}
