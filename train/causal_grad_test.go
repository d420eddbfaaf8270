package train

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"ctvae/runtime/causal"
	"ctvae/runtime/nn"
)

// Finite-difference checks of the causal layer's backward, in float64 with
// ε = 1e-6: truncation is ~1e-12 relative, and the loss's rounding, summed
// over many terms, reached 1.0e-9 absolute in the difference quotient (a
// run failed on a 6e-5 gradient with floor 1e-4), so the tolerance is 1e-5
// relative to max(|fd|, |grad|, 1e-3): relative for gradients above 1e-3,
// within 1e-8 absolute below. Hard samples are
// held by the straight-through surrogate (ctPass.ste), which has the same
// value and the derivative the backward computes; a coordinate whose
// perturbation crosses a LeakyReLU kink is rare at this ε and would show as
// an outlier, so none are skipped.
const (
	ctEps   = 1e-6
	ctTol   = 1e-5
	ctFloor = 1e-3
)

func tinyCausal() causal.Config {
	return causal.Config{Nodes: 6, NodeDim: 4, ActionDim: 4, HiddenDims: []int{5, 3}}
}

// ctFixture builds random parameters (spread wider than the default init so
// the discoverers give varied probabilities and both mask outcomes occur),
// draws and codes.
func ctFixture(seed uint64) (causal.Config, *ctParams, []int32, []int32, func() *ctDraws) {
	cfg := tinyCausal()
	p32 := nn.InitParams(causal.Specs(cfg), seed)
	r := rand.New(rand.NewPCG(seed, 77))
	for name, t := range p32 {
		if name == causal.Prefix+"pos_encoding.pe" {
			continue
		}
		for i := range t.Data {
			t.Data[i] = float32(2*r.Float64()-1) * 0.9
		}
	}
	p := newCTParams(cfg)
	p.load(p32)
	s := newCTShape(cfg)
	x, y := make([]int32, s.n), make([]int32, s.n)
	for i := range x {
		x[i], y[i] = int32(r.IntN(s.d)), int32(r.IntN(s.d))
		if i%3 == 0 {
			y[i] = x[i] // unchanged nodes, so changed-node weights matter
		}
	}
	newDraws := func() *ctDraws {
		dr := newCTDraws(s)
		dr.fill(r.Float64, 0.1)
		return dr
	}
	return cfg, p, x, y, newDraws
}

// ctFDCheck compares g with central differences of loss for every
// trainable tensor (up to 6 coordinates each) and returns the worst error.
func ctFDCheck(t *testing.T, p, g *ctParams, loss func() float64) float64 {
	t.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	names := make([]string, 0, len(p.t))
	for name := range p.t {
		names = append(names, name)
	}
	sort.Strings(names)
	worst := 0.0
	nonzero := 0
	for _, name := range names {
		th, gr := p.t[name], g.t[name]
		for range min(6, len(th)) {
			i := r.IntN(len(th))
			old := th[i]
			th[i] = old + ctEps
			lp := loss()
			th[i] = old - ctEps
			lm := loss()
			th[i] = old
			fd := (lp - lm) / (2 * ctEps)
			err := math.Abs(gr[i]-fd) / math.Max(ctFloor, max(math.Abs(fd), math.Abs(gr[i])))
			worst = max(worst, err)
			if math.Abs(fd) > 1e-8 {
				nonzero++
			}
			if err > ctTol {
				t.Errorf("%s[%d]: backward %.9g, finite difference %.9g (rel err %.2g)", name, i, gr[i], fd, err)
			}
		}
	}
	if nonzero < 20 {
		t.Errorf("only %d coordinates with a nonzero gradient: the check is too weak", nonzero)
	}
	t.Logf("max rel err %.2g over %d tensors (%d nonzero coordinates)", worst, len(names), nonzero)
	return worst
}

var ctLW = ctLossWeights{gamma: 1.5, cAlpha: 0.5, cBeta: 0.4, cDelta: 0.3, cEpsilon: 0.7, auxMask: 0.6, changedWeight: 2.5}

func TestCausalBaseLossFiniteDifferences(t *testing.T) {
	cfg, p, x, _, newDraws := ctFixture(1)
	s := newCTShape(cfg)
	w := newCTWorker(s)
	dr := newDraws()
	g := newCTParams(cfg)
	w.pass.forward(p, x, -1, dr)
	w.pass.ste = w.pass.record()
	_, total := w.baseLoss(p, g, x, dr, ctLW, 1)
	scratch := newCTParams(cfg)
	loss := func() float64 { _, v := w.baseLoss(p, scratch, x, dr, ctLW, 1); return v }
	if v := loss(); math.Abs(v-total) > 1e-12 {
		t.Fatalf("loss not reproducible: %v vs %v", v, total)
	}
	ctFDCheck(t, p, g, loss)
}

func TestCausalActionLossFiniteDifferences(t *testing.T) {
	cfg, p, x, y, newDraws := ctFixture(2)
	s := newCTShape(cfg)
	w := newCTWorker(s)
	for a := 0; a < s.A; a++ {
		dr := newDraws()
		g := newCTParams(cfg)
		w.pass.ste = nil
		w.pass.forward(p, x, a, dr)
		w.pass.ste = w.pass.record()
		masked := 0
		for _, m := range w.pass.m {
			masked += int(m)
		}
		w.actionLoss(p, g, x, y, a, dr, ctLW, 1)
		scratch := newCTParams(cfg)
		t.Logf("action %d: %d of %d nodes masked", a, masked, s.n)
		ctFDCheck(t, p, g, func() float64 { _, v := w.actionLoss(p, scratch, x, y, a, dr, ctLW, 1); return v })
	}
}

func TestCausalRetrievalLossFiniteDifferences(t *testing.T) {
	cfg, p, x, y, newDraws := ctFixture(3)
	s := newCTShape(cfg)
	w := newCTWorker(s)
	draws := make([]*ctDraws, s.A)
	for b := range draws {
		draws[b] = newDraws()
	}
	// Record each action pass's samples for the surrogate.
	w.causalLoss(p, newCTParams(cfg), x, y, 1, draws, 1)
	for b := 0; b < s.A; b++ {
		w.passes[b].ste = nil
		w.passes[b].forward(p, x, b, draws[b])
		w.passes[b].ste = w.passes[b].record()
	}
	g := newCTParams(cfg)
	w.causalLoss(p, g, x, y, 1, draws, 1)
	scratch := newCTParams(cfg)
	ctFDCheck(t, p, g, func() float64 { v, _ := w.causalLoss(p, scratch, x, y, 1, draws, 1); return v })
}

// TestHardGumbelGradient checks ∂soft/∂p of the hard Gumbel sample.
func TestHardGumbelGradient(t *testing.T) {
	for _, c := range []struct{ p, g0, g1 float64 }{{0.3, 0.1, -0.4}, {0.8, 1.2, 0.5}, {0.5, 0, 0}, {0.01, -1, 2}} {
		_, _, ds := hardGumbel(c.p, c.g0, c.g1)
		_, sp, _ := hardGumbel(c.p+1e-7, c.g0, c.g1)
		_, sm, _ := hardGumbel(c.p-1e-7, c.g0, c.g1)
		fd := (sp - sm) / 2e-7
		if math.Abs(fd-ds) > 1e-6*max(1, math.Abs(fd)) {
			t.Errorf("p %v: ∂soft/∂p %v, finite difference %v", c.p, ds, fd)
		}
	}
	if h, _, _ := hardGumbel(0.7, 0, 0); h != 1 {
		t.Error("noise-free hard sample of p = 0.7 is not 1")
	}
	if h, _, _ := hardGumbel(0.5, 0, 0); h != 0 {
		t.Error("noise-free hard sample of p = 0.5 is not 0 (MODEL.md: p > 0.5 keeps)")
	}
}

// TestCausalForwardMatchesRuntime ties the training forward to the
// runtime's specification twin: with no dropout and zero Gumbel noise the
// hard samples are the deterministic mode (p > 0.5), so the code
// distributions must equal causal.ForwardNaive in Mode, for base mode and
// every action (float32 reference: 1e-5 absolute on probabilities).
func TestCausalForwardMatchesRuntime(t *testing.T) {
	cfg := tinyCausal()
	p32 := nn.InitParams(causal.Specs(cfg), 9)
	r := rand.New(rand.NewPCG(9, 10))
	for name, ten := range p32 {
		if name != causal.Prefix+"pos_encoding.pe" {
			for i := range ten.Data {
				ten.Data[i] = float32(2*r.Float64()-1) * 0.9
			}
		}
	}
	p := newCTParams(cfg)
	p.load(p32)
	s := newCTShape(cfg)
	dr := newCTDraws(s)
	for i := range dr.keepX {
		dr.keepX[i], dr.keepM[i] = true, true
	}
	codes := make([]int32, s.n)
	for i := range codes {
		codes[i] = int32(r.IntN(s.d))
	}
	c := newCTPass(s)
	compared := 0
	for a := -1; a < s.A; a++ {
		c.forward(p, codes, a, dr)
		ref, err := causal.ForwardNaive(cfg, p32, codes, a, causal.Mode, nil)
		if err != nil {
			t.Fatal(err)
		}
		// An adjacency or mask probability within 1e-5 of 0.5 may round
		// either way in float32: skip such near-ties.
		tie := false
		for i, v := range ref.AdjP {
			if math.Abs(float64(v)-0.5) < 1e-5 || (ref.Adj[i] != 0) != (c.G[i] != 0) && math.Abs(c.adj[i]-0.5) < 1e-5 {
				tie = true
			}
		}
		if tie {
			continue
		}
		for i, v := range ref.Mask {
			if float64(v) != c.m[i] {
				t.Fatalf("action %d: mask[%d] = %v, runtime %v", a, i, c.m[i], v)
			}
		}
		for i, v := range ref.Probs {
			if math.Abs(float64(v)-c.q[i]) > 1e-5 {
				t.Fatalf("action %d: q[%d] = %.7f, runtime %.7f", a, i, c.q[i], v)
			}
		}
		compared++
	}
	if compared < s.A {
		t.Fatalf("only %d of %d passes compared (near-ties)", compared, s.A+1)
	}
}
