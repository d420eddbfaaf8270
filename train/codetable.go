package train

import (
	"context"
	"fmt"
	"math"

	"ctvae/data"
	"ctvae/runtime/ctvae"
)

// ---------------------------------------------------------------------------
// The code-table baseline: what the VQ-VAE's codes alone say about the
// actions, without the causal layer. For every action a it counts, over
// training pairs, how often a node with code c in x has code c' in y, and
// retrieves the action of a test pair as
//
//	argmax_a  sum_i log p_a(y_i | x_i),  p_a(c'|c) = (count + α) / (row + α·K)
//
// (position-free, α = 0.01). It is an estimate of how much of the retrieval
// accuracy the codes make available to a per-node predictor: when the
// causal layer stays far below it, the layer is under-trained rather than
// the codes uninformative; when both are low for a factor, the VQ-VAE does
// not encode that factor's steps consistently.
// ---------------------------------------------------------------------------

// tableAlpha is the additive smoothing of the transition counts.
const tableAlpha = 0.01

// codeTable holds the transition counts [A][K][K] and their row sums [A][K].
type codeTable struct {
	A, K   int
	counts []float64
	rows   []float64
	logp   []float64 // [A][K][K] smoothed log-probabilities
}

// buildCodeTable counts the code transitions of pairs action-balanced
// training pairs (seeded by seed).
func buildCodeTable(ctx context.Context, m *ctvae.Model, ds data.Dataset, train []data.Pair, pairs int, seed uint64) (*codeTable, error) {
	A, K := m.NumActions(), m.Config.NumEmbeddings
	smp, err := data.NewSkewSampler(train, A, 0, seed)
	if err != nil {
		return nil, err
	}
	t := &codeTable{A: A, K: K, counts: make([]float64, A*K*K), rows: make([]float64, A*K)}
	img := make([]float32, data.ImageLen(ds))
	cx := make([]int32, m.Nodes())
	for range pairs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		p := smp.Next()
		if err := ds.Render(img, p.From); err != nil {
			return nil, err
		}
		c, err := m.Encode(img)
		if err != nil {
			return nil, err
		}
		copy(cx, c)
		if err := ds.Render(img, p.To); err != nil {
			return nil, err
		}
		cy, err := m.Encode(img)
		if err != nil {
			return nil, err
		}
		t.add(p.Action, cx, cy)
	}
	t.finish()
	return t, nil
}

func (t *codeTable) add(a int, cx, cy []int32) {
	for i := range cx {
		t.counts[(a*t.K+int(cx[i]))*t.K+int(cy[i])]++
		t.rows[a*t.K+int(cx[i])]++
	}
}

func (t *codeTable) finish() {
	t.logp = make([]float64, len(t.counts))
	for r, n := range t.rows {
		den := math.Log(n + tableAlpha*float64(t.K))
		for k := range t.K {
			t.logp[r*t.K+k] = math.Log(t.counts[r*t.K+k]+tableAlpha) - den
		}
	}
}

// retrieve scores every action on (cx, cy) into score and returns the best
// action.
func (t *codeTable) retrieve(cx, cy []int32, score []float64) (best int) {
	if len(score) != t.A || len(cx) != len(cy) {
		panic(fmt.Sprintf("train: code table: %d scores for %d actions, %d/%d codes", len(score), t.A, len(cx), len(cy)))
	}
	for a := range t.A {
		var s float64
		for i := range cx {
			s += t.logp[(a*t.K+int(cx[i]))*t.K+int(cy[i])]
		}
		score[a] = s
		if s > score[best] {
			best = a
		}
	}
	return best
}
