package data

import (
	"fmt"
	"math"
)

// ===== the paper's transition protocol =====

// Pair is one transition: image From becomes image To under Action
// (factor f increased by one step is action f, decreased is F+f).
type Pair struct {
	From, To int
	Action   int
}

// DefaultSettings is the paper's number of random settings of the other
// factors drawn per factor and step.
const DefaultSettings = 1000

// Transitions holds the pairs of each split and the action names they use.
type Transitions struct {
	Dataset     string
	ActionNames []string
	// Pairs[s] are the pairs whose two images both lie in split s, in the
	// order they were drawn, each followed by its reverse.
	Pairs [numSplits][]Pair
}

// NewTransitions draws the paper's transitions: for each factor f and each
// step v -> v+1 (no wrap-around), settings random settings of the other
// factors, deduplicated; each pair is kept in both directions when both
// images lie in the same split. Natural imbalance follows: a factor with
// more values has more steps, hence more pairs.
func NewTransitions(ds Dataset, splits *Splits, settings int, seed uint64) (*Transitions, error) {
	if settings <= 0 {
		return nil, fmt.Errorf("data: %d settings per factor and step, want at least 1", settings)
	}
	if splits.N() != ds.Len() {
		return nil, fmt.Errorf("data: split covers %d images, dataset %s has %d", splits.N(), ds.Name(), ds.Len())
	}
	fs := ds.Factors()
	nf := len(fs)
	t := &Transitions{Dataset: ds.Name(), ActionNames: ds.ActionNames()}
	r := newRNG(seed)
	v := make([]int, nf)
	seen := make(map[int]struct{}, settings)
	for f, fac := range fs {
		for step := 0; step+1 < fac.Size; step++ {
			clear(seen)
			for range settings {
				for i, o := range fs {
					v[i] = r.intn(o.Size)
				}
				v[f] = step
				a, err := ds.IndexOf(v)
				if err != nil {
					return nil, err
				}
				if _, dup := seen[a]; dup {
					continue
				}
				seen[a] = struct{}{}
				v[f] = step + 1
				b, err := ds.IndexOf(v)
				if err != nil {
					return nil, err
				}
				sp := splits.of(a)
				if splits.of(b) != sp {
					continue
				}
				t.Pairs[sp] = append(t.Pairs[sp], Pair{a, b, f}, Pair{b, a, nf + f})
			}
		}
	}
	return t, nil
}

// ActionCounts returns how many pairs of split sp use each action.
func (t *Transitions) ActionCounts(sp Split) []int {
	counts := make([]int, len(t.ActionNames))
	if sp < 0 || sp >= numSplits {
		return counts
	}
	for _, p := range t.Pairs[sp] {
		counts[p.Action]++
	}
	return counts
}

// ===== samplers: natural, balanced, skewed =====

// Sampler draws pairs at random with replacement: first an action with a
// chosen probability, then a pair of that action uniformly.
type Sampler struct {
	pairs    []Pair
	byAction [][]int // indices into pairs
	cum      []float64
	r        *rng
}

// NewSkewSampler gives action a the probability count_a^skew / sum: skew 1
// is the natural distribution (every pair equally likely), 0 balances the
// actions, above 1 exaggerates the imbalance and below 0 inverts it.
// Actions without pairs are never drawn.
func NewSkewSampler(pairs []Pair, numActions int, skew float64, seed uint64) (*Sampler, error) {
	if math.IsNaN(skew) || math.IsInf(skew, 0) {
		return nil, fmt.Errorf("data: sampler skew %v, want a finite number", skew)
	}
	by, err := groupByAction(pairs, numActions)
	if err != nil {
		return nil, err
	}
	w := make([]float64, numActions)
	for a, idx := range by {
		if len(idx) > 0 {
			w[a] = math.Pow(float64(len(idx)), skew)
		}
	}
	return newSampler(pairs, by, w, seed)
}

// NewWeightedSampler gives action a the probability weights[a] / sum.
func NewWeightedSampler(pairs []Pair, numActions int, weights []float64, seed uint64) (*Sampler, error) {
	if len(weights) != numActions {
		return nil, fmt.Errorf("data: %d sampler weights, want one per action (%d)", len(weights), numActions)
	}
	by, err := groupByAction(pairs, numActions)
	if err != nil {
		return nil, err
	}
	for a, w := range weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return nil, fmt.Errorf("data: sampler weight %v for action %d, want a finite value >= 0", w, a)
		}
		if w > 0 && len(by[a]) == 0 {
			return nil, fmt.Errorf("data: sampler weight %v for action %d, which has no pairs", w, a)
		}
	}
	return newSampler(pairs, by, weights, seed)
}

func groupByAction(pairs []Pair, numActions int) ([][]int, error) {
	if len(pairs) == 0 {
		return nil, fmt.Errorf("data: sampler over no pairs")
	}
	by := make([][]int, numActions)
	for i, p := range pairs {
		if p.Action < 0 || p.Action >= numActions {
			return nil, fmt.Errorf("data: pair %d has action %d, want [0, %d)", i, p.Action, numActions)
		}
		by[p.Action] = append(by[p.Action], i)
	}
	return by, nil
}

func newSampler(pairs []Pair, by [][]int, w []float64, seed uint64) (*Sampler, error) {
	cum := make([]float64, len(w))
	total := 0.0
	for a, x := range w {
		total += x
		cum[a] = total
	}
	if !(total > 0) || math.IsInf(total, 0) {
		return nil, fmt.Errorf("data: sampler weights sum to %v, want a positive finite total", total)
	}
	for a := range cum {
		cum[a] /= total
	}
	return &Sampler{pairs: pairs, byAction: by, cum: cum, r: newRNG(seed)}, nil
}

// Prob returns the probability of drawing action a.
func (s *Sampler) Prob(a int) float64 {
	if a < 0 || a >= len(s.cum) {
		return 0
	}
	if a == 0 {
		return s.cum[0]
	}
	return s.cum[a] - s.cum[a-1]
}

// Next draws one pair.
func (s *Sampler) Next() Pair {
	u := s.r.float64()
	a := 0
	// Linear scan: at most 2F (12) actions; skip zero-probability ones,
	// which rounding could otherwise select at the boundary.
	for a < len(s.cum)-1 && (u >= s.cum[a] || len(s.byAction[a]) == 0) {
		a++
	}
	for len(s.byAction[a]) == 0 {
		a--
	}
	idx := s.byAction[a]
	return s.pairs[idx[s.r.intn(len(idx))]]
}
