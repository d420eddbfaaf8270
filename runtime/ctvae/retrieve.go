package ctvae

import (
	"context"
	"fmt"

	"ctvae/runtime/causal"
)

// Retrieval is the answer to "which action turns x into y".
type Retrieval struct {
	Dist        []float32 // [A] mean re-normalised cross-entropy per action
	Probs       []float32 // [A] softmin(Dist)
	FactorProbs []float32 // [F] max(Probs[f], Probs[F+f]), renormalised
	Best        int       // argmax Probs (lowest index on ties)
	BestFactor  int       // Best's factor (directions folded, MODEL.md)
	Decrease    bool      // whether Best decreases its factor (index >= F)
	CodesX      []int32   // [n] codes of x
	CodesY      []int32   // [n] codes of y
}

// MaxSamples bounds the samples of a Sample-mode retrieval.
const MaxSamples = 256

// Retrieve finds the action that turns image x into image y (both [C, S, S]):
// it encodes both, runs every action on x's codes and scores the predicted
// code distributions against y's codes (MODEL.md, "Action retrieval"). In
// Sample mode it averages samples passes per action (samples must be 1 in
// Mode). Work runs in bounded steps (one encoder pass or one causal pass):
// ctx is checked between steps and progress told after each. The result is
// owned by the model and valid until the next Retrieve.
func (m *Model) Retrieve(ctx context.Context, x, y []float32, samples int, progress Progress) (*Retrieval, error) {
	if m.ct == nil {
		return nil, fmt.Errorf("ctvae: the model has no causal layer (a VQ-VAE-only file): it cannot retrieve actions")
	}
	if err := m.checkImage("x", x); err != nil {
		return nil, err
	}
	if err := m.checkImage("y", y); err != nil {
		return nil, err
	}
	if samples < 1 || samples > MaxSamples {
		return nil, fmt.Errorf("ctvae: %d samples, want 1..%d", samples, MaxSamples)
	}
	if m.opts.Sampling == causal.Mode && samples != 1 {
		return nil, fmt.Errorf("ctvae: %d samples in mode sampling, which is deterministic: want 1 (or sample mode)", samples)
	}
	total := 2 + m.NumActions()*samples
	tell := func(done int) error {
		if progress != nil {
			progress(done, total)
		}
		return ctx.Err()
	}
	m.encode(x, m.codes)
	if err := tell(1); err != nil {
		return nil, err
	}
	m.encode(y, m.codesY)
	if err := tell(2); err != nil {
		return nil, err
	}
	return m.retrieveCodes(m.codes, m.codesY, samples, func(done int) error { return tell(2 + done) })
}

// RetrieveCodes is Retrieve on codes already encoded ([n] each).
func (m *Model) RetrieveCodes(ctx context.Context, x, y []int32, samples int, progress Progress) (*Retrieval, error) {
	if m.ct == nil {
		return nil, fmt.Errorf("ctvae: the model has no causal layer (a VQ-VAE-only file): it cannot retrieve actions")
	}
	if samples < 1 || samples > MaxSamples {
		return nil, fmt.Errorf("ctvae: %d samples, want 1..%d", samples, MaxSamples)
	}
	total := m.NumActions() * samples
	return m.retrieveCodes(x, y, samples, func(done int) error {
		if progress != nil {
			progress(done, total)
		}
		return ctx.Err()
	})
}

func (m *Model) retrieveCodes(x, y []int32, samples int, tell func(done int) error) (*Retrieval, error) {
	if err := m.ct.BeginRetrieve(x, y, m.opts.Sampling, samples, m.rng); err != nil {
		return nil, fmt.Errorf("ctvae: %w", err)
	}
	for done := 1; ; done++ {
		finished, err := m.ct.RetrieveStep()
		if err != nil {
			return nil, fmt.Errorf("ctvae: %w", err)
		}
		if err := tell(done); err != nil {
			return nil, err
		}
		if finished {
			break
		}
	}
	r := &m.ret
	if r.Probs == nil {
		A, F := m.NumActions(), m.NumFactors()
		r.Dist, r.Probs, r.FactorProbs = make([]float32, A), make([]float32, A), make([]float32, F)
	}
	if err := m.ct.RetrieveResult(r.Dist, r.Probs); err != nil {
		return nil, fmt.Errorf("ctvae: %w", err)
	}
	F := m.NumFactors()
	r.Best = 0
	for a, p := range r.Probs {
		if p > r.Probs[r.Best] {
			r.Best = a
		}
	}
	r.BestFactor = foldFactors(r.FactorProbs, r.Probs, r.Best)
	r.Decrease = r.Best >= F
	r.CodesX, r.CodesY = x, y
	return r, nil
}

// foldFactors sets factorProbs[f] to max(probs[f], probs[F+f]) renormalised
// and returns best's factor, which is their argmax. A factor scores by its
// better direction: in deterministic mode this is softmin over the factors
// of their best direction's distance. Summing both directions instead would
// let a factor whose + and - both fit moderately (a near-symmetric change)
// outrank the factor of the best action, since softmin probabilities are
// close to uniform and the opposite of a good action is usually the worst.
func foldFactors(factorProbs, probs []float32, best int) int {
	F := len(factorProbs)
	var sum float32
	for f := range factorProbs {
		p := probs[f]
		if F+f < len(probs) && probs[F+f] > p {
			p = probs[F+f]
		}
		factorProbs[f] = p
		sum += p
	}
	for f := range factorProbs {
		factorProbs[f] /= sum
	}
	return best % F
}
