package causal

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
)

// testParams draws parameters from the table and spreads the mask and
// discoverer outputs over (0,1) (random init leaves them near 0.5, where
// mode sampling is a coin toss) and gives the GATv2 biases non-zero values.
func testParams(c Config, seed uint64) nn.Params {
	p := nn.InitParams(Specs(c), seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	for name, t := range p {
		switch {
		case strings.Contains(name, "graph_discovers.") && strings.Contains(name, ".2."),
			strings.HasPrefix(name, Prefix+"mask."):
			for i := range t.Data {
				t.Data[i] *= 8
			}
		case strings.HasSuffix(name, "module_0.bias"), strings.HasSuffix(name, "module_2.bias"):
			for i := range t.Data {
				t.Data[i] = float32(rng.Float64()*0.2 - 0.1)
			}
		}
	}
	return p
}

func randomCodes(rng *rand.Rand, n, d int) []int32 {
	c := make([]int32, n)
	for i := range c {
		c[i] = int32(rng.IntN(d))
	}
	return c
}

func smallConfig(rng *rand.Rand) Config {
	noises := []string{NoiseOff, NoiseExo, NoiseEndo}
	return Config{
		Nodes:      1 + rng.IntN(9),
		NodeDim:    2 * (1 + rng.IntN(4)),
		ActionDim:  1 + rng.IntN(4),
		HiddenDims: []int{1 + rng.IntN(9), 1 + rng.IntN(5)},
		Noise:      noises[rng.IntN(3)],
	}
}

// close reports whether got matches want to the float32 rounding of two
// summation orders: relative tolerance 2e-5, absolute near zero.
func close32(got, want float32) bool {
	return math.Abs(float64(got-want)) <= 2e-5*math.Max(1, math.Abs(float64(want)))
}

func compare(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !close32(got[i], want[i]) {
			t.Fatalf("%s[%d] = %g, want %g (rel tol 2e-5)", what, i, got[i], want[i])
		}
	}
}

// nearTie reports a discrete decision of the reference within 1e-5 of its
// threshold, where the fast path's rounding may legitimately flip it.
func nearTie(o *NaiveOutputs, s Sampling, dr *Draws, action int) bool {
	near := func(p, u float32) bool {
		if s == Mode {
			return math.Abs(float64(p)-0.5) < 1e-5
		}
		return math.Abs(float64(u-keepProb(p))) < 1e-5
	}
	for i, p := range o.AdjP {
		var u float32
		if s == Sample {
			u = dr.Adj[i]
		}
		if near(p, u) {
			return true
		}
	}
	if action >= 0 {
		for i, p := range o.MaskP {
			var u float32
			if s == Sample {
				u = dr.Mask[i]
			}
			if near(p, u) {
				return true
			}
		}
	}
	return false
}

// logitMargin is the smallest gap between a node's best and second logit.
func logitMargin(logits []float32, d int) float64 {
	m := math.Inf(1)
	for i := 0; i < len(logits); i += d {
		row := logits[i : i+d]
		b1, b2 := math.Inf(-1), math.Inf(-1)
		for _, v := range row {
			v := float64(v)
			if v > b1 {
				b1, b2 = v, b1
			} else if v > b2 {
				b2 = v
			}
		}
		if d > 1 {
			m = math.Min(m, (b1-b2)/math.Max(1, math.Abs(b1)))
		}
	}
	return m
}

func TestForwardMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	checked, skipped := 0, 0
	for trial := 0; trial < 60; trial++ {
		c := smallConfig(rng)
		params := testParams(c, uint64(trial))
		l, err := New(c, params)
		if err != nil {
			t.Fatal(err)
		}
		codes := randomCodes(rng, c.Nodes, c.NodeDim)
		dr := NewDraws(c)
		act := make([]float32, l.c0)
		// Several calls on the same codes exercise the caches.
		for call := 0; call < 4; call++ {
			action := rng.IntN(c.ActionDim+1) - 1
			s := Sampling(rng.IntN(2))
			dr.Fill(rng)
			if call == 3 {
				codes = randomCodes(rng, c.Nodes, c.NodeDim)
			}
			want, err := ForwardNaive(c, params, codes, action, s, dr)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Forward(codes, action, s, dr); err != nil {
				t.Fatal(err)
			}
			if nearTie(want, s, dr, action) {
				skipped++
				continue
			}
			checked++
			name := func(f string) string {
				return c.Noise + " " + s.String() + " action " + string(rune('0'+action+1)) + ": " + f
			}
			o := l.Out()
			compare(t, name("MaskP"), o.MaskP, want.MaskP)
			compare(t, name("Mask"), o.Mask, want.Mask)
			compare(t, name("AdjP"), o.AdjP, want.AdjP)
			compare(t, name("Adj"), o.Adj, want.Adj)
			compare(t, name("GAT0"), o.GAT0, want.GAT0[:c.Nodes*l.c0])
			compare(t, name("Logits"), o.Logits, want.Logits)
			compare(t, name("Probs"), o.Probs, want.Probs)
			if logitMargin(want.Logits, c.NodeDim) > 1e-4 {
				for i := range o.Codes {
					if o.Codes[i] != want.Codes[i] {
						t.Fatalf("%s: codes %v, want %v", name("Codes"), o.Codes, want.Codes)
					}
				}
			}
			if err := l.ActionNodeGAT0(act); err != nil {
				t.Fatal(err)
			}
			compare(t, name("action node GAT0"), act, want.GAT0[c.Nodes*l.c0:(c.Nodes+1)*l.c0])
		}
	}
	if checked < 150 {
		t.Fatalf("only %d comparisons (%d near ties skipped)", checked, skipped)
	}
}

// TestCachesAreExact: a layer that has cached work for other actions and
// codes gives bit-identical outputs to a fresh one.
func TestCachesAreExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	c := Config{Nodes: 9, NodeDim: 6, ActionDim: 3, HiddenDims: []int{7, 4}}
	params := testParams(c, 9)
	warm, _ := New(c, params)
	x := randomCodes(rng, c.Nodes, c.NodeDim)
	dr := NewDraws(c)
	reused := 0
	for call := 0; call < 20; call++ {
		if call%5 == 0 {
			x = randomCodes(rng, c.Nodes, c.NodeDim)
		}
		action := rng.IntN(c.ActionDim+1) - 1
		s := Sampling(rng.IntN(2))
		dr.Fill(rng)
		fresh, _ := New(c, params)
		if err := warm.Forward(x, action, s, dr); err != nil {
			t.Fatal(err)
		}
		if err := fresh.Forward(x, action, s, dr); err != nil {
			t.Fatal(err)
		}
		if warm.MACs() < fresh.MACs() {
			reused++
		}

		a, b := warm.Out(), fresh.Out()
		for i := range a.Logits {
			if math.Float32bits(a.Logits[i]) != math.Float32bits(b.Logits[i]) {
				t.Fatalf("call %d: cached logits[%d] = %g, fresh %g", call, i, a.Logits[i], b.Logits[i])
			}
		}
		for i := range a.Adj {
			if a.Adj[i] != b.Adj[i] {
				t.Fatalf("call %d: cached adj[%d] = %g, fresh %g", call, i, a.Adj[i], b.Adj[i])
			}
		}
	}
	if reused < 5 {
		t.Fatalf("only %d of 20 calls reused cached work: the test has no power", reused)
	}
}

// TestRowReuseIsExact: with few masked nodes (as in trained models) most
// targets keep their incoming edges from one action to the next, and the
// reused module_0 rows and module_2 projections give bit-identical outputs
// to a fresh layer, which also match the naive twin.
func TestRowReuseIsExact(t *testing.T) {
	c := Config{Nodes: 12, NodeDim: 6, ActionDim: 4, HiddenDims: []int{7, 4}}
	p := testParams(c, 13)
	// Only nodes with code 0 are masked.
	bias := p[Prefix+"mask.0.bias"].Data
	for k := range bias {
		bias[k] = -30
	}
	bias[0] = 30
	codes := []int32{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}
	warm, _ := New(c, p)
	rows, projections := 0, 0
	for call := 0; call < 3*(c.ActionDim+1); call++ {
		action := call%(c.ActionDim+1) - 1
		if err := warm.Forward(codes, action, Mode, nil); err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(c, p)
		fresh.Forward(codes, action, Mode, nil)
		sameOutputs(t, "reused rows", warm.Out(), fresh.Out())
		if call > 0 && len(warm.redo) < c.Nodes {
			rows++
		}
		if warm.MACs() < fresh.MACs() {
			projections++
		}
		want, _ := ForwardNaive(c, p, codes, action, Mode, nil)
		if !nearTie(want, Mode, nil, action) {
			compare(t, "logits", warm.Out().Logits, want.Logits)
		}
	}
	if rows < 5 || projections < 5 {
		t.Fatalf("%d passes reused gat0 rows, %d did less work: the test has no power", rows, projections)
	}
}

// TestAltRowsAreExact: when each action masks different nodes (sparse
// masks, as in trained models), a target that an action rewired gets its
// earlier row back from alt in the next action; the outputs stay
// bit-identical to a fresh layer's and match the naive twin, in Mode and
// Sample, through a retrieval and with new codes in between.
func TestAltRowsAreExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	swaps := 0
	for trial := 0; trial < 8; trial++ {
		c := Config{Nodes: 16, NodeDim: 6, ActionDim: 5, HiddenDims: []int{7, 4}}
		p := testParams(c, uint64(40+trial))
		// Action a masks the nodes whose code is a % d (mask.0.weight is
		// [d, A+d]; its first A columns are the action's).
		w, bias := p[Prefix+"mask.0.weight"].Data, p[Prefix+"mask.0.bias"].Data
		for k := range bias {
			bias[k] = -30
			for a := 0; a < c.ActionDim; a++ {
				if a%c.NodeDim == k {
					w[k*(c.ActionDim+c.NodeDim)+a] = 60
				}
			}
		}
		warm, _ := New(c, p)
		codes := randomCodes(rng, c.Nodes, c.NodeDim)
		dr := NewDraws(c)
		for call := 0; call < 4*(c.ActionDim+1); call++ {
			if call == 2*(c.ActionDim+1) {
				codes = randomCodes(rng, c.Nodes, c.NodeDim)
			}
			action := rng.IntN(c.ActionDim+1) - 1
			s := Mode
			if call%4 == 3 {
				s = Sample
				dr.Fill(rng)
			}
			if err := warm.Forward(codes, action, s, dr); err != nil {
				t.Fatal(err)
			}
			fresh, _ := New(c, p)
			fresh.Forward(codes, action, s, dr)
			sameOutputs(t, "alt rows", warm.Out(), fresh.Out())
			want, _ := ForwardNaive(c, p, codes, action, s, dr)
			if !nearTie(want, s, dr, action) {
				compare(t, "logits", warm.Out().Logits, want.Logits)
			}
		}
		y := randomCodes(rng, c.Nodes, c.NodeDim)
		dist, probs := make([]float32, c.ActionDim), make([]float32, c.ActionDim)
		if err := warm.Retrieve(codes, y, Mode, 1, nil, dist, probs); err != nil {
			t.Fatal(err)
		}
		fresh, _ := New(c, p)
		fd, fp := make([]float32, c.ActionDim), make([]float32, c.ActionDim)
		fresh.Retrieve(codes, y, Mode, 1, nil, fd, fp)
		for a := range dist {
			if math.Float32bits(dist[a]) != math.Float32bits(fd[a]) || math.Float32bits(probs[a]) != math.Float32bits(fp[a]) {
				t.Fatalf("trial %d: retrieval after other calls: dist %v probs %v, fresh layer %v %v", trial, dist, probs, fd, fp)
			}
		}
		swaps += warm.altSwaps
	}
	t.Logf("%d rows swapped back", swaps)
	if swaps < 20 {
		t.Fatalf("only %d rows came back from alt: the test has no power", swaps)
	}
}

func TestRetrieveMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	c := Config{Nodes: 6, NodeDim: 4, ActionDim: 4, HiddenDims: []int{6, 3}}
	for trial := 0; trial < 5; trial++ {
		params := testParams(c, uint64(100+trial))
		l, _ := New(c, params)
		x, y := randomCodes(rng, c.Nodes, c.NodeDim), randomCodes(rng, c.Nodes, c.NodeDim)
		tie := false
		for a := 0; a < c.ActionDim; a++ {
			o, _ := ForwardNaive(c, params, x, a, Mode, nil)
			tie = tie || nearTie(o, Mode, nil, a)
		}
		if tie {
			continue
		}
		wantD, wantP, err := RetrieveNaive(c, params, x, y)
		if err != nil {
			t.Fatal(err)
		}
		dist, probs := make([]float32, c.ActionDim), make([]float32, c.ActionDim)
		if err := l.Retrieve(x, y, Mode, 1, nil, dist, probs); err != nil {
			t.Fatal(err)
		}
		compare(t, "dist", dist, wantD)
		compare(t, "probs", probs, wantP)
	}
}

// TestRetrieveSampleAverages: a Sample retrieval with S samples equals the
// mean distance of S independent Forwards per action on the same draws.
func TestRetrieveSampleAverages(t *testing.T) {
	c := Config{Nodes: 5, NodeDim: 4, ActionDim: 3, HiddenDims: []int{5, 2}, Noise: NoiseExo}
	params := testParams(c, 77)
	l, _ := New(c, params)
	ref, _ := New(c, params)
	rng := rand.New(rand.NewPCG(8, 8))
	x, y := randomCodes(rng, c.Nodes, c.NodeDim), randomCodes(rng, c.Nodes, c.NodeDim)
	const S = 3
	dist, probs := make([]float32, c.ActionDim), make([]float32, c.ActionDim)
	if err := l.Retrieve(x, y, Sample, S, rand.New(rand.NewPCG(42, 0)), dist, probs); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(42, 0))
	dr := NewDraws(c)
	var z float64
	want := make([]float64, c.ActionDim)
	for a := range want {
		for s := 0; s < S; s++ {
			dr.Fill(r)
			if err := ref.Forward(x, a, Sample, dr); err != nil {
				t.Fatal(err)
			}
			want[a] += nodeDistance(ref.Out().Probs, y, c.NodeDim) / S
		}
	}
	for a := range want {
		if !close32(dist[a], float32(want[a])) {
			t.Fatalf("dist[%d] = %g, want %g", a, dist[a], want[a])
		}
		z += float64(probs[a])
	}
	if math.Abs(z-1) > 1e-6 {
		t.Fatalf("probs sum to %g", z)
	}
}

func TestRetrieveSteps(t *testing.T) {
	c := Config{Nodes: 4, NodeDim: 4, ActionDim: 3, HiddenDims: []int{3, 2}}
	l, _ := New(c, testParams(c, 1))
	x := []int32{0, 1, 2, 3}
	if _, err := l.RetrieveStep(); err == nil {
		t.Fatal("RetrieveStep before BeginRetrieve: no error")
	}
	if err := l.BeginRetrieve(x, x, Sample, 2, rand.New(rand.NewPCG(1, 1))); err != nil {
		t.Fatal(err)
	}
	if l.RetrieveSteps() != 6 {
		t.Fatalf("RetrieveSteps = %d, want 6", l.RetrieveSteps())
	}
	if err := l.RetrieveResult(nil, nil); err == nil {
		t.Fatal("RetrieveResult before the last step: no error")
	}
	for k := 1; k <= 6; k++ {
		done, err := l.RetrieveStep()
		if err != nil || done != (k == 6) {
			t.Fatalf("step %d: done %v, err %v", k, done, err)
		}
	}
	if err := l.RetrieveResult(make([]float32, 3), nil); err != nil {
		t.Fatal(err)
	}
}

// perNode is the identity-graph network of MODEL.md: every node's only
// edge is its own loop with attribute 0, so attention is 1 and the output
// is lin_l2(LeakyReLU(lin_l1(x) + bias1)) + bias2 at head 0.
func perNode(p nn.Params, c Config, code int32, pos int) []float32 {
	d, H, h1 := c.NodeDim, c.ActionDim+1, c.HiddenDims[1]
	g0 := gatParams(p, Prefix+"graph_transitioner.module_0.")
	g1 := gatParams(p, Prefix+"graph_transitioner.module_2.")
	pe := p[Prefix+"pos_encoding.pe"].Data[pos*d : (pos+1)*d]
	hid := make([]float32, H*h1)
	for o := range hid {
		var s float32
		for k := 0; k < d; k++ {
			x := pe[k]
			if k == int(code) {
				x++
			}
			s += g0.wl[o*d+k] * x
		}
		v := s + g0.bl[o] + g0.bias[o]
		hid[o] = max(v, 0.01*v)
	}
	out := make([]float32, d)
	for o := range out {
		var s float32
		for k, v := range hid {
			s += g1.wl[o*len(hid)+k] * v
		}
		out[o] = s + g1.bl[o] + g1.bias[o]
	}
	return out
}

func TestBaseModeIdentityGraph(t *testing.T) {
	c := Config{Nodes: 7, NodeDim: 6, ActionDim: 2, HiddenDims: []int{5, 3}}
	p := testParams(c, 11)
	p[Prefix+"graph_discovers.0.2.bias"].Data[0] = -100 // no edges
	l, _ := New(c, p)
	codes := []int32{0, 5, 3, 3, 1, 2, 4}
	if err := l.Forward(codes, -1, Mode, nil); err != nil {
		t.Fatal(err)
	}
	o := l.Out()
	for i := range codes {
		if o.Mask[i] != 0 || o.MaskP[i] != 0 {
			t.Fatalf("base mode mask[%d] = %g (p %g), want 0", i, o.Mask[i], o.MaskP[i])
		}
		compare(t, "identity-graph logits", o.Logits[i*c.NodeDim:(i+1)*c.NodeDim], perNode(p, c, codes[i], i))
	}
	for i, w := range o.Adj {
		if w != 0 {
			t.Fatalf("adj[%d] = %g, want no edges", i, w)
		}
	}
}

func sameOutputs(t *testing.T, what string, a, b *Outputs) {
	t.Helper()
	for i := range a.Logits {
		if math.Float32bits(a.Logits[i]) != math.Float32bits(b.Logits[i]) {
			t.Fatalf("%s: logits[%d] %g vs %g", what, i, a.Logits[i], b.Logits[i])
		}
	}
	for i := range a.GAT0 {
		if math.Float32bits(a.GAT0[i]) != math.Float32bits(b.GAT0[i]) {
			t.Fatalf("%s: gat0[%d] %g vs %g", what, i, a.GAT0[i], b.GAT0[i])
		}
	}
}

func TestActionNodeHasNoEffect(t *testing.T) {
	c := Config{Nodes: 8, NodeDim: 4, ActionDim: 3, HiddenDims: []int{6, 3}, Noise: NoiseEndo}
	p := testParams(c, 21)
	q := nn.Params{}
	for k, v := range p {
		q[k] = v
	}
	q[Prefix+"a_dense.weight"] = tensor.New(c.NodeDim, c.ActionDim)
	q[Prefix+"a_dense.bias"] = tensor.New(c.NodeDim)
	for i := range q[Prefix+"a_dense.bias"].Data {
		q[Prefix+"a_dense.bias"].Data[i] = 3
	}
	la, _ := New(c, p)
	lb, _ := New(c, q)
	codes := randomCodes(rand.New(rand.NewPCG(1, 1)), c.Nodes, c.NodeDim)
	actA, actB := make([]float32, la.c0), make([]float32, la.c0)
	for a := -1; a < c.ActionDim; a++ {
		la.Forward(codes, a, Mode, nil)
		lb.Forward(codes, a, Mode, nil)
		sameOutputs(t, "a_dense changed", la.Out(), lb.Out())
		la.ActionNodeGAT0(actA)
		lb.ActionNodeGAT0(actB)
		differ := false
		for i := range actA {
			differ = differ || actA[i] != actB[i]
		}
		if !differ {
			t.Fatal("the action node's own output ignores a_dense: the test has no power")
		}
	}
}

// TestUnmaskedIgnoresActionDiscoverer: rows of unmasked nodes come from
// discoverer 0, and with no node masked the action's discoverer and head
// cannot change anything.
func TestUnmaskedIgnoresActionDiscoverer(t *testing.T) {
	c := Config{Nodes: 8, NodeDim: 4, ActionDim: 3, HiddenDims: []int{6, 3}}
	p := testParams(c, 31)
	const a = 1
	q := nn.Params{}
	for k, v := range p {
		q[k] = v
	}
	name := Prefix + "graph_discovers.2.0.weight"
	q[name] = p[name].Clone()
	for i := range q[name].Data {
		q[name].Data[i] = -q[name].Data[i]
	}
	la, _ := New(c, p)
	lb, _ := New(c, q)
	codes := randomCodes(rand.New(rand.NewPCG(2, 2)), c.Nodes, c.NodeDim)
	la.Forward(codes, a, Mode, nil)
	lb.Forward(codes, a, Mode, nil)
	oa, ob := la.Out(), lb.Out()
	masked, unmasked := 0, 0
	n := c.Nodes
	for i := 0; i < n; i++ {
		if oa.Mask[i] == 1 {
			masked++
			continue
		}
		unmasked++
		for j := 0; j < n; j++ {
			if oa.AdjP[i*n+j] != ob.AdjP[i*n+j] {
				t.Fatalf("unmasked row %d changed with discoverer %d", i, 1+a)
			}
		}
	}
	if masked == 0 || unmasked == 0 {
		t.Fatalf("%d masked, %d unmasked nodes: the test has no power", masked, unmasked)
	}
	// No node masked: the action only reaches the outputs through the mask.
	p[Prefix+"mask.0.bias"] = tensor.New(c.NodeDim)
	q[Prefix+"mask.0.bias"] = p[Prefix+"mask.0.bias"]
	for i := range p[Prefix+"mask.0.bias"].Data {
		p[Prefix+"mask.0.bias"].Data[i] = -100
	}
	la, _ = New(c, p)
	lb, _ = New(c, q)
	la.Forward(codes, a, Mode, nil)
	lb.Forward(codes, a, Mode, nil)
	sameOutputs(t, "discoverer of an action with no masked node changed", la.Out(), lb.Out())
	lb.Forward(codes, -1, Mode, nil)
	sameOutputs(t, "unmasked action vs base mode", la.Out(), lb.Out())
}

func TestForwardAllocatesNothing(t *testing.T) {
	for _, noise := range []string{NoiseOff, NoiseExo} {
		c := Config{Nodes: 16, NodeDim: 8, ActionDim: 4, HiddenDims: []int{10, 4}, Noise: noise}
		l, _ := New(c, testParams(c, 5))
		rng := rand.New(rand.NewPCG(1, 2))
		x, y := randomCodes(rng, c.Nodes, c.NodeDim), randomCodes(rng, c.Nodes, c.NodeDim)
		dr := NewDraws(c)
		act := make([]float32, l.c0)
		a := 0
		if n := testing.AllocsPerRun(20, func() {
			dr.Fill(rng)
			a = (a + 1) % c.ActionDim
			x[a] = int32((int(x[a]) + 1) % c.NodeDim)
			l.Forward(x, a, Sample, dr)
			l.Forward(x, a-1, Mode, nil)
			l.ActionNodeGAT0(act)
		}); n != 0 {
			t.Fatalf("%s: Forward allocates %v times per run", noise, n)
		}
		l.BeginRetrieve(x, y, Sample, 2, rng)
		if n := testing.AllocsPerRun(5, func() { l.RetrieveStep() }); n != 0 {
			t.Fatalf("%s: RetrieveStep allocates %v times per run", noise, n)
		}
		dist, probs := make([]float32, c.ActionDim), make([]float32, c.ActionDim)
		if n := testing.AllocsPerRun(3, func() { l.Retrieve(x, y, Mode, 1, nil, dist, probs) }); n != 0 {
			t.Fatalf("%s: Retrieve allocates %v times per run", noise, n)
		}
	}
}

func TestErrors(t *testing.T) {
	c := Config{Nodes: 4, NodeDim: 4, ActionDim: 2, HiddenDims: []int{3, 2}}
	p := testParams(c, 1)
	l, err := New(c, p)
	if err != nil {
		t.Fatal(err)
	}
	good := []int32{0, 1, 2, 3}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"short codes", l.Forward(good[:3], 0, Mode, nil), "codes has 3 nodes, want 4"},
		{"code out of range", l.Forward([]int32{0, 4, 0, 0}, 0, Mode, nil), "codes[1] = 4"},
		{"action", l.Forward(good, 2, Mode, nil), "action 2"},
		{"no draws", l.Forward(good, 0, Sample, nil), "needs draws"},
		{"short draws", l.Forward(good, 0, Sample, &Draws{Mask: make([]float32, 4), Adj: make([]float32, 3)}), "draws.Adj has 3"},
		{"sampling", l.Forward(good, 0, Sampling(7), nil), "sampling 7"},
		{"retrieve y", l.BeginRetrieve(good, good[:1], Mode, 1, nil), "retrieval y"},
		{"retrieve samples", l.BeginRetrieve(good, good, Mode, 2, nil), "samples = 2"},
		{"retrieve rng", l.BeginRetrieve(good, good, Sample, 2, nil), "random generator"},
		{"validate", Config{Nodes: 4, NodeDim: 3, ActionDim: 2, HiddenDims: []int{3, 2}}.Validate(), "NodeDim = 3"},
		{"noise", Config{Nodes: 4, NodeDim: 4, ActionDim: 2, HiddenDims: []int{3, 2}, Noise: "pink"}.Validate(), "Noise = \"pink\""},
		{"hidden", Config{Nodes: 4, NodeDim: 4, ActionDim: 2, HiddenDims: []int{3}}.Validate(), "HiddenDims"},
	}
	delete(p, Prefix+"mask.0.bias")
	_, err = New(c, p)
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"missing tensor", err, "ct_layer.mask.0.bias"})
	for _, tc := range cases {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) || !strings.HasPrefix(tc.err.Error(), "causal: ") {
			t.Errorf("%s: error %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}

func TestSpecsDefault(t *testing.T) {
	c := DefaultConfig()
	var total int
	shapes := map[string][]int{}
	for _, s := range Specs(c) {
		shapes[s.Name] = s.Shape
		if s.Init != nn.InitPositional {
			total += tensor.Numel(s.Shape)
		}
	}
	// docs/MODEL.md: CT 3.70 M parameters (pe is a buffer).
	if total != 3698033 {
		t.Fatalf("%d parameters, want 3698033", total)
	}
	for name, want := range map[string][]int{
		"ct_layer.a_dense.weight":                              {64, 12},
		"ct_layer.pos_encoding.pe":                             {4096, 1, 64},
		"ct_layer.graph_discovers.12.0.weight":                 {800, 128},
		"ct_layer.graph_discovers.12.2.weight":                 {1, 800},
		"ct_layer.mask.0.weight":                               {64, 76},
		"ct_layer.graph_transitioner.module_0.att":             {1, 13, 100},
		"ct_layer.graph_transitioner.module_0.lin_edge.weight": {1300, 1},
		"ct_layer.graph_transitioner.module_2.lin_l.weight":    {832, 1300},
		"ct_layer.graph_transitioner.module_2.bias":            {832},
	} {
		if got := shapes[name]; tensor.ShapeString(got) != tensor.ShapeString(want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
}

func TestPositionalEncoding(t *testing.T) {
	const rows, d = 50, 8
	pe := make([]float32, rows*d)
	PositionalEncoding(pe, rows, d)
	for p := 0; p < rows; p++ {
		for k := 0; k < d; k += 2 {
			a := float64(p) * math.Exp(float64(k)*(-math.Log(10000)/d))
			if math.Abs(float64(pe[p*d+k])-math.Sin(a)) > 1e-5 || math.Abs(float64(pe[p*d+k+1])-math.Cos(a)) > 1e-5 {
				t.Fatalf("pe[%d,%d:%d] = %v, want sin/cos of %g", p, k, k+2, pe[p*d+k:p*d+k+2], a)
			}
		}
	}
}

func TestMACs(t *testing.T) {
	k := MACs(DefaultConfig())
	// docs/MODEL.md: ~1.0 GMAC per naive intervention, 423 M per discoverer.
	if k.NaiveForward < 1.0e9 || k.NaiveForward > 1.03e9 {
		t.Fatalf("naive forward %d MACs, want about 1.0 G", k.NaiveForward)
	}
	if k.Forward*25 > k.NaiveForward {
		t.Fatalf("forward %d MACs is not far below naive %d", k.Forward, k.NaiveForward)
	}
	c := DefaultConfig()
	c.Nodes, c.HiddenDims = 16, []int{40, 10}
	l, _ := New(c, testParams(c, 3))
	x := randomCodes(rand.New(rand.NewPCG(1, 1)), c.Nodes, c.NodeDim)
	l.Forward(x, 2, Mode, nil)
	if got, bound := l.MACs(), MACs(c).Forward; got <= 0 || got > bound {
		t.Fatalf("Forward did %d MACs, worst case %d", got, bound)
	}
}

// TestSplitLeakyMatchesDirect: the split sums of leaky.go against leakyDot
// on random vectors of every small length and sign mix (all positive, all
// negative weights included), with and without the edge term, for both
// slopes used.
func TestSplitLeakyMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	vec := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * scale)
		}
		return v
	}
	for trial := 0; trial < 400; trial++ {
		c, heads := rng.IntN(40), 1+rng.IntN(3)
		w := vec(heads*c, 1)
		switch trial % 4 {
		case 1:
			for i := range w {
				w[i] = float32(math.Abs(float64(w[i])))
			}
		case 2:
			for i := range w {
				w[i] = -float32(math.Abs(float64(w[i])))
			}
		}
		s := newSignSplit(w, heads, c)
		e, te := vec(heads*c, 1), float32(rng.Float64())
		es := make([]float32, heads*c)
		x, y := make([][]float32, 4), make([][]float32, 4)
		xs, ys := make([][]float32, 4), make([][]float32, 4)
		for h := 0; h < heads; h++ {
			o := h * c
			eLin := s.scale(es[o:o+c], e[o:o+c], h)
			xLin, yLin := make([]float64, 4), make([]float64, 4)
			for k := range x {
				x[k], y[k] = vec(c, 2), vec(c, 2)
				xs[k], ys[k] = make([]float32, c), make([]float32, c)
				xLin[k], yLin[k] = s.scale(xs[k], x[k], h), s.scale(ys[k], y[k], h)
			}
			q, neg := s.q[h], s.tailNeg[h]
			var got [4]float32
			got[0], got[1], got[2], got[3] = absSum4(xs[0], ys[0], ys[1], ys[2], ys[3], q, neg)
			for k := 0; k < 4; k++ {
				// Scale of the rounding: Σ |w| |z|.
				var mag float64
				for ch := 0; ch < c; ch++ {
					mag += math.Abs(float64(w[o+ch]) * float64(x[0][ch]+y[k][ch]+e[o+ch]*te))
				}
				tol := 1e-5 * (1 + mag)
				want := float64(leakyDot(w[o:o+c], x[0], y[k], nil, 0, 0.01))
				if v := float64(splitScore(0, xLin[0]+yLin[k], got[k], 0.01)); math.Abs(v-want) > tol {
					t.Fatalf("trial %d head %d pair %d: absSum4 split %g, direct %g", trial, h, k, v, want)
				}
				if v := float64(splitScore(0, xLin[0]+yLin[k], absSum(xs[0], ys[k], q, neg), 0.01)); math.Abs(v-want) > tol {
					t.Fatalf("trial %d head %d pair %d: absSum split %g, direct %g", trial, h, k, v, want)
				}
				want = float64(leakyDot(w[o:o+c], x[k], y[k], e[o:o+c], te, 0.2))
				lin := xLin[k] + yLin[k] + float64(te)*eLin
				if v := float64(splitScore(0, lin, absSumEdge(xs[k], ys[k], es[o:o+c], te, q, neg), 0.2)); math.Abs(v-want) > tol {
					t.Fatalf("trial %d head %d pair %d: absSumEdge split %g, direct %g", trial, h, k, v, want)
				}
			}
		}
	}
}

// TestGatherRowsMatchAxpy: gatherRows and gatherRows4 against their twins,
// axpy and axpy4 over a cleared row, bit for bit, for every small row
// length and edge count (repeated sources included) and a row stride wider
// than the row.
func TestGatherRowsMatchAxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for trial := 0; trial < 300; trial++ {
		d, n, cnt := rng.IntN(20), 1+rng.IntN(9), rng.IntN(14)
		stride, off := d+rng.IntN(5), 0
		if stride > d {
			off = rng.IntN(stride - d + 1)
		}
		x := make([]float32, n*stride)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		w, src := make([]float32, cnt), make([]int32, cnt)
		for e := range w {
			w[e], src[e] = float32(rng.NormFloat64()), int32(rng.IntN(n))
		}
		row := func(i int32) []float32 { return x[int(i)*stride+off : int(i)*stride+off+d] }
		want, want4, got := make([]float32, d), make([]float32, d), make([]float32, d)
		for e := range src {
			axpy(want, w[e], row(src[e]))
		}
		e := 0
		for ; e+4 <= cnt; e += 4 {
			axpy4(want4, w[e], w[e+1], w[e+2], w[e+3], row(src[e]), row(src[e+1]), row(src[e+2]), row(src[e+3]))
		}
		for ; e < cnt; e++ {
			axpy(want4, w[e], row(src[e]))
		}
		for k, f := range []func([]float32, []float32, []int32, []float32, int){gatherRows, gatherRows4} {
			ref := [][]float32{want, want4}[k]
			for i := range got {
				got[i] = float32(math.NaN()) // every value must be written
			}
			f(got, w, src, x[off:], stride)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
					t.Fatalf("trial %d (d %d, %d edges) gather %d: [%d] = %g, axpy twin %g", trial, d, cnt, k, i, got[i], ref[i])
				}
			}
		}
	}
}

// TestBatchedAbsSumsMatch: absSum8 against two absSum4 calls and
// absSumEdge4 against four absSumEdge calls, bit for bit, for every small
// length and split point q (the callers' results must not depend on how
// the pairs are grouped).
func TestBatchedAbsSumsMatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	same := func(what string, got, want float32) {
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("%s = %g, single %g", what, got, want)
		}
	}
	for trial := 0; trial < 500; trial++ {
		c := rng.IntN(30)
		q, neg := rng.IntN(c/2+1), rng.IntN(2) == 1
		x, y, e := [4][]float32{vec(c), vec(c), vec(c), vec(c)}, [4][]float32{vec(c), vec(c), vec(c), vec(c)}, vec(c)
		a := absSum8(x[0], x[1], y[0], y[1], y[2], y[3], q, neg)
		for r := 0; r < 2; r++ {
			s0, s1, s2, s3 := absSum4(x[r], y[0], y[1], y[2], y[3], q, neg)
			for k, s := range []float32{s0, s1, s2, s3} {
				same(fmt.Sprintf("trial %d: absSum8 row %d pair %d", trial, r, k), a[4*r+k], s)
			}
		}
		ts := [4]float32{rng.Float32(), rng.Float32(), rng.Float32(), rng.Float32()}
		s0, s1, s2, s3 := absSumEdge4(x[0], x[1], x[2], x[3], y[0], e, ts[0], ts[1], ts[2], ts[3], q, neg)
		for k, s := range []float32{s0, s1, s2, s3} {
			same(fmt.Sprintf("trial %d: absSumEdge4 edge %d", trial, k), s, absSumEdge(x[k], y[0], e, ts[k], q, neg))
		}
	}
}

// TestKernelDispatch installs Go kernels behind counters (a softmax that
// does a varying prefix of the heads, as a SIMD kernel stopping early
// would) and requires interventions and a retrieval to give the same bits
// as the built-in code.
func TestKernelDispatch(t *testing.T) {
	c := Config{Nodes: 16, NodeDim: 8, ActionDim: 12, HiddenDims: []int{7, 4}}
	p := testParams(c, 31)
	rng := rand.New(rand.NewPCG(31, 32))
	x, y := randomCodes(rng, c.Nodes, c.NodeDim), randomCodes(rng, c.Nodes, c.NodeDim)
	run := func() (out []float32) {
		l, err := New(c, p)
		if err != nil {
			t.Fatal(err)
		}
		for a := -1; a < c.ActionDim; a++ {
			if err := l.Forward(x, a, Mode, nil); err != nil {
				t.Fatal(err)
			}
			out = append(out, l.Out().Logits...)
		}
		dist, probs := make([]float32, c.ActionDim), make([]float32, c.ActionDim)
		if err := l.Retrieve(x, y, Mode, 1, nil, dist, probs); err != nil {
			t.Fatal(err)
		}
		return append(append(out, dist...), probs...)
	}
	want := run()
	var calls [4]int
	H := c.ActionDim + 1
	tmp, mx, sum, buf := make([]float32, (c.Nodes+1)*H), make([]float32, H), make([]float32, H), make([]float64, (c.Nodes+1)*H)
	SetKernels(Kernels{
		EdgeSums: func(x []float32, rows []int32, y, e, t []float32, n int, q []int, neg []bool, s []float32) {
			calls[0]++
			EdgeSumsGo(x, rows, y, e, t, n, q, neg, s)
		},
		PairSums: func(x0, x1, y []float32, n, count, q int, neg bool, s0, s1 []float32) {
			calls[1]++
			PairSumsGo(x0, x1, y, n, count, q, neg, s0, s1)
		},
		Softmax: func(sc []float32, edges, heads int) int {
			calls[2]++
			k := calls[2] % (heads/4 + 1) * 4 // 0, 4, 8, ...: every prefix in turn
			// Heads [0, k) on their own, as the [edges, k] block they form.
			for e := 0; e < edges; e++ {
				copy(tmp[e*k:(e+1)*k], sc[e*heads:e*heads+k])
			}
			SoftmaxEdgesGo(tmp, edges, k, 0, mx, sum, buf)
			for e := 0; e < edges; e++ {
				copy(sc[e*heads:e*heads+k], tmp[e*k:(e+1)*k])
			}
			return k
		},
		Gather: func(out, w []float32, src []int32, x []float32, stride int, fours bool) {
			calls[3]++
			GatherGo(out, w, src, x, stride, fours)
		},
	})
	defer SetKernels(Kernels{})
	got := run()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("output %d = %g with the kernels, %g without", i, got[i], want[i])
		}
	}
	for k, n := range calls {
		if n == 0 {
			t.Fatalf("kernel %d was never called", k)
		}
	}
}
