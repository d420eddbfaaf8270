package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// retrieval is the state of an action retrieval in progress.
type retrieval struct {
	x, y    []int32
	s       Sampling
	samples int
	rng     *rand.Rand
	draws   *Draws
	step    int
	dist    []float64 // [A] sum over samples of the mean node distance
	active  bool
}

func (r *retrieval) init(l *Layer) {
	r.x, r.y = make([]int32, l.n), make([]int32, l.n)
	r.draws = NewDraws(l.cfg)
	r.dist = make([]float64, l.A)
}

// BeginRetrieve starts the retrieval of the action that turns the image
// with codes x into the image with codes y: for each action a it runs the
// layer on x and measures, with the official re-normalised cross-entropy,
//
//	d_i = log Σ_k c(q_a[i,k]) - log c(q_a[i,y_i]),  c = clamp(., 1e-4),
//	dist_a = mean_i d_i,
//
// averaged over samples passes in Sample mode (rng supplies the draws;
// samples must be 1 in Mode). Run RetrieveStep until it reports done, then
// read RetrieveResult; Retrieve does all three. Everything that depends only
// on x is computed once and shared by the A*samples passes.
func (l *Layer) BeginRetrieve(x, y []int32, s Sampling, samples int, rng *rand.Rand) error {
	r := &l.ret
	r.active = false
	if err := l.checkInput(x, -1); err != nil {
		return fmt.Errorf("causal: retrieval x: %w", err)
	}
	if err := l.checkInput(y, -1); err != nil {
		return fmt.Errorf("causal: retrieval y: %w", err)
	}
	switch {
	case s != Mode && s != Sample:
		return fmt.Errorf("causal: retrieval sampling %d, want Mode or Sample", int(s))
	case s == Mode && samples != 1:
		return fmt.Errorf("causal: retrieval in Mode is deterministic: samples = %d, want 1", samples)
	case samples < 1:
		return fmt.Errorf("causal: retrieval samples = %d, want >= 1", samples)
	case s == Sample && rng == nil:
		return fmt.Errorf("causal: retrieval in Sample mode needs a random generator, got nil")
	}
	copy(r.x, x)
	copy(r.y, y)
	r.s, r.samples, r.rng = s, samples, rng
	r.step = 0
	clear(r.dist)
	r.active = true
	l.macs = 0
	return nil
}

// RetrieveSteps is the number of RetrieveStep calls a retrieval takes:
// one pass of the layer each (A * samples).
func (l *Layer) RetrieveSteps() int { return l.A * l.ret.samples }

// RetrieveStep runs the next pass (actions in order, the samples of one
// action together) and reports whether the retrieval is complete. Between
// steps the caller may report progress or abandon the retrieval. It
// allocates nothing. The layer's Out holds the pass's outputs.
func (l *Layer) RetrieveStep() (done bool, err error) {
	r := &l.ret
	if !r.active {
		return false, fmt.Errorf("causal: RetrieveStep without BeginRetrieve")
	}
	total := l.A * r.samples
	if r.step >= total {
		return true, nil
	}
	a := r.step / r.samples
	var dr *Draws
	if r.s == Sample {
		r.draws.Fill(r.rng)
		dr = r.draws
	}
	l.forward(r.x, a, r.s, dr)
	r.dist[a] += nodeDistance(l.out.Probs, r.y, l.d)
	r.step++
	return r.step == total, nil
}

// nodeDistance is mean_i [log Σ_k c(q[i,k]) - log c(q[i,y_i])].
func nodeDistance(q []float32, y []int32, d int) float64 {
	var total float64
	for i, yi := range y {
		row := q[i*d : (i+1)*d]
		var s float64
		for _, v := range row {
			s += float64(clampProb(v))
		}
		total += math.Log(s) - math.Log(float64(clampProb(row[yi])))
	}
	return total / float64(len(y))
}

// clampProb is max(v, 1e-4) written as a comparison: max is a runtime call
// under wasm; the result is the same (a NaN stays NaN, and the signs of
// zero cannot matter below 1e-4).
func clampProb(v float32) float32 {
	if v < 1e-4 {
		return 1e-4
	}
	return v
}

// RetrieveResult writes the distance per action (mean over samples) into
// dist [A] and P = softmin(dist) into probs [A] (either may be nil).
func (l *Layer) RetrieveResult(dist, probs []float32) error {
	r := &l.ret
	if !r.active || r.step < l.A*r.samples {
		return fmt.Errorf("causal: RetrieveResult before the retrieval's last step")
	}
	if dist != nil && len(dist) != l.A {
		return fmt.Errorf("causal: retrieval dist has %d values, want %d actions", len(dist), l.A)
	}
	if probs != nil && len(probs) != l.A {
		return fmt.Errorf("causal: retrieval probs has %d values, want %d actions", len(probs), l.A)
	}
	mn := math.Inf(1)
	for a := range r.dist {
		mn = min(mn, r.dist[a]/float64(r.samples))
	}
	var z float64
	for a := range r.dist {
		z += math.Exp(mn - r.dist[a]/float64(r.samples))
	}
	for a := range r.dist {
		v := r.dist[a] / float64(r.samples)
		if dist != nil {
			dist[a] = float32(v)
		}
		if probs != nil {
			probs[a] = float32(math.Exp(mn-v) / z)
		}
	}
	return nil
}

// Retrieve runs a whole retrieval (BeginRetrieve, every RetrieveStep,
// RetrieveResult). It allocates nothing.
func (l *Layer) Retrieve(x, y []int32, s Sampling, samples int, rng *rand.Rand, dist, probs []float32) error {
	if err := l.BeginRetrieve(x, y, s, samples, rng); err != nil {
		return err
	}
	for {
		done, err := l.RetrieveStep()
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	return l.RetrieveResult(dist, probs)
}
