package data

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func newTransitions(t *testing.T, ds Dataset, settings int, seed uint64) (*Transitions, *Splits) {
	t.Helper()
	s, err := NewSplits(ds.Len(), DefaultSplitSeed)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransitions(ds, s, settings, seed)
	if err != nil {
		t.Fatal(err)
	}
	return tr, s
}

func TestTransitionsFollowTheProtocol(t *testing.T) {
	for _, tc := range []struct {
		ds       Dataset
		settings int
	}{{NewDSprites(), DefaultSettings}, {NewShapes3D(), 300}} {
		ds := tc.ds
		tr, s := newTransitions(t, ds, tc.settings, 1)
		fs := ds.Factors()
		nf := len(fs)
		steps := 0
		for _, f := range fs {
			steps += f.Size - 1
		}
		perFactor := make([]int, nf)
		total := 0
		for sp := Train; sp < numSplits; sp++ {
			pairs := tr.Pairs[sp]
			if len(pairs)%2 != 0 {
				t.Fatalf("%s %s: odd number of pairs", ds.Name(), sp)
			}
			for k := 0; k < len(pairs); k += 2 {
				p, q := pairs[k], pairs[k+1]
				if q.From != p.To || q.To != p.From || q.Action != p.Action+nf || p.Action >= nf {
					t.Fatalf("%s: pair %v is not followed by its reverse (got %v)", ds.Name(), p, q)
				}
				for _, x := range []Pair{p, q} {
					a, _ := ds.FactorsOf(x.From)
					b, _ := ds.FactorsOf(x.To)
					f, dir := x.Action%nf, x.Action/nf
					for i := range a {
						want := 0
						if i == f {
							want = 1 - 2*dir // +1 for increase, -1 for decrease
						}
						if b[i]-a[i] != want {
							t.Fatalf("%s: pair %v (%v -> %v) under %s", ds.Name(), x, a, b, tr.ActionNames[x.Action])
						}
					}
					if s.of(x.From) != sp || s.of(x.To) != sp {
						t.Fatalf("%s: pair %v stored in %s but its images are in %s and %s", ds.Name(), x, sp, s.of(x.From), s.of(x.To))
					}
				}
				perFactor[p.Action] += 2
			}
			total += len(pairs)
		}
		// Draws: settings per factor and step, almost none duplicated in
		// these large spaces; a pair survives when both images share a
		// split, probability .7^2 + .15^2 + .15^2 = .535.
		draws := float64(steps * tc.settings)
		if kept := float64(total) / 2 / draws; math.Abs(kept-0.535) > 0.02 {
			t.Errorf("%s: %.3f of the drawn steps kept, want 0.535", ds.Name(), kept)
		}
		for f, fac := range fs {
			share := float64(perFactor[f]) / float64(total)
			want := float64(fac.Size-1) / float64(steps)
			if math.Abs(share-want) > 0.1*want+0.003 {
				t.Errorf("%s: factor %s has %.4f of the pairs, want %.4f", ds.Name(), fac.Name, share, want)
			}
		}
		// Each split's share of pairs follows the squares of its share of images.
		for sp, want := range []float64{0.49 / 0.535, 0.0225 / 0.535, 0.0225 / 0.535} {
			if got := float64(len(tr.Pairs[sp])) / float64(total); math.Abs(got-want) > 0.15*want {
				t.Errorf("%s: split %s holds %.3f of the pairs, want %.3f", ds.Name(), Split(sp), got, want)
			}
		}
	}
}

// The paper's dSprites imbalance: orientation about 36% of the pairs, shape about 2%.
func TestDSpritesTransitionImbalance(t *testing.T) {
	tr, _ := newTransitions(t, NewDSprites(), DefaultSettings, 2)
	c := tr.ActionCounts(Train)
	total := 0
	for _, n := range c {
		total += n
	}
	orientation := float64(c[2]+c[7]) / float64(total)
	shape := float64(c[0]+c[5]) / float64(total)
	if math.Abs(orientation-0.361) > 0.01 || math.Abs(shape-0.0185) > 0.004 {
		t.Errorf("orientation share %.3f (want 0.361), shape share %.4f (want 0.019)", orientation, shape)
	}
}

func TestTransitionsDeduplicate(t *testing.T) {
	// A tiny space (a: 2 values, b: 3) forces repeats among 1000 draws per step.
	ds := &tinyDataset{space: newSpace("tiny", []Factor{{"a", 2}, {"b", 3}})}
	s, _ := NewSplitsFrac(ds.Len(), 1, 1, 0)
	tr, err := NewTransitions(ds, s, DefaultSettings, 3)
	if err != nil {
		t.Fatal(err)
	}
	// Factor a: 1 step x 3 settings of b; factor b: 2 steps x 2 settings of a;
	// both directions: 2 * (3 + 4).
	if n := len(tr.Pairs[Train]); n != 14 {
		t.Fatalf("%d pairs, want 14 (every distinct step once per direction)", n)
	}
	seen := map[Pair]bool{}
	for _, p := range tr.Pairs[Train] {
		if seen[p] {
			t.Fatalf("pair %v repeated", p)
		}
		seen[p] = true
	}
}

type tinyDataset struct{ space }

func (d *tinyDataset) Channels() int                     { return 1 }
func (d *tinyDataset) Size() int                         { return 1 }
func (d *tinyDataset) Render(dst []float32, i int) error { return nil }

func TestTransitionsAreDeterministic(t *testing.T) {
	ds := NewShapes3D()
	a, _ := newTransitions(t, ds, 50, 4)
	b, _ := newTransitions(t, ds, 50, 4)
	c, _ := newTransitions(t, ds, 50, 5)
	for sp := range a.Pairs {
		if !slices.Equal(a.Pairs[sp], b.Pairs[sp]) {
			t.Fatalf("split %s: same seed, different pairs", Split(sp))
		}
	}
	if slices.Equal(a.Pairs[Train], c.Pairs[Train]) {
		t.Fatal("seeds 4 and 5 give the same pairs")
	}
}

func TestTransitionBadInputs(t *testing.T) {
	ds := NewDSprites()
	s, _ := NewSplits(ds.Len(), 1)
	other, _ := NewSplits(100, 1)
	pairs := []Pair{{0, 1, 4}, {1, 0, 9}}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{second(NewTransitions(ds, s, 0, 1)), "0 settings per factor and step"},
		{second(NewTransitions(ds, other, 10, 1)), "split covers 100 images, dataset dsprites has 737280"},
		{second(NewSkewSampler(nil, 10, 1, 1)), "no pairs"},
		{second(NewSkewSampler(pairs, 10, math.NaN(), 1)), "skew NaN"},
		{second(NewSkewSampler(pairs, 4, 1, 1)), "action 4, want [0, 4)"},
		{second(NewWeightedSampler(pairs, 10, []float64{1}, 1)), "1 sampler weights, want one per action (10)"},
		{second(NewWeightedSampler(pairs, 10, []float64{0, 0, 0, 0, 1, 0, 0, 0, 0, -1}, 1)), "weight -1 for action 9"},
		{second(NewWeightedSampler(pairs, 10, []float64{1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1)), "action 0, which has no pairs"},
		{second(NewWeightedSampler(pairs, 10, make([]float64, 10), 1)), "weights sum to 0"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", tc.err, tc.want)
		}
	}
}

func TestSamplers(t *testing.T) {
	ds := NewDSprites()
	tr, _ := newTransitions(t, ds, 200, 6)
	pairs := tr.Pairs[Train]
	counts := tr.ActionCounts(Train)
	const draws = 50000
	for _, skew := range []float64{1, 0, 2, -1} {
		smp, err := NewSkewSampler(pairs, ds.NumActions(), skew, 7)
		if err != nil {
			t.Fatal(err)
		}
		var norm float64
		for _, c := range counts {
			norm += math.Pow(float64(c), skew)
		}
		got := make([]int, ds.NumActions())
		for range draws {
			got[smp.Next().Action]++
		}
		for a, c := range counts {
			want := math.Pow(float64(c), skew) / norm
			if math.Abs(smp.Prob(a)-want) > 1e-12 {
				t.Fatalf("skew %v: Prob(%d) = %v, want %v", skew, a, smp.Prob(a), want)
			}
			// 5 standard deviations of a binomial count.
			sd := math.Sqrt(draws * want * (1 - want))
			if math.Abs(float64(got[a])-draws*want) > 5*sd+1 {
				t.Errorf("skew %v: action %s drawn %d times, want %.0f", skew, tr.ActionNames[a], got[a], draws*want)
			}
		}
	}
	// Balanced: every action 1/10.
	bal, _ := NewSkewSampler(pairs, ds.NumActions(), 0, 1)
	for a := range ds.NumActions() {
		if math.Abs(bal.Prob(a)-0.1) > 1e-12 {
			t.Fatalf("balanced Prob(%d) = %v", a, bal.Prob(a))
		}
	}
	// Explicit weights: only pos_x+ and pos_x-, 3:1.
	w := make([]float64, 10)
	w[3], w[8] = 3, 1
	smp, err := NewWeightedSampler(pairs, 10, w, 2)
	if err != nil {
		t.Fatal(err)
	}
	n3 := 0
	for range 10000 {
		switch p := smp.Next(); p.Action {
		case 3:
			n3++
		case 8:
		default:
			t.Fatalf("drew action %d with weight 0", p.Action)
		}
	}
	if n3 < 7300 || n3 > 7700 {
		t.Errorf("pos_x+ drawn %d of 10000 times, want about 7500", n3)
	}
}
