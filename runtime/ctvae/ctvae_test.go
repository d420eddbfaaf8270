package ctvae

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"ctvae/runtime/causal"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

func tinyConfig() Config {
	return Config{Config: vqvae.Config{InChannels: 1, ImgSize: 16, HiddenDims: []int{4, 8}, EmbeddingDim: 4,
		NumEmbeddings: 6, Codebooks: 1, ResidualLayers: 1}, ActionDim: 4, CausalHiddenDims: []int{7, 5}}
}

func newTiny(t testing.TB, opts Options) *Model {
	t.Helper()
	cfg := tinyConfig()
	m, err := New(cfg, nn.InitParams(Specs(cfg), 4), Meta{Factors: []string{"shape", "scale"},
		Actions: []string{"shape+", "scale+", "shape-", "scale-"}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func image(m *Model, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, m.ImageLen())
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

func TestParseConfigStrict(t *testing.T) {
	good := `{"in_channels":1,"img_size":16,"hidden_dims":[4,8],"embedding_dim":4,"num_embeddings":6,"codebooks":1,"residual_layers":1,"action_dim":4,"causal_hidden_dims":[7,5]}`
	c, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.ActionDim != 4 || c.Nodes() != 16 {
		t.Errorf("parsed %+v", c)
	}
	if back, err := ParseConfig(c.JSON()); err != nil || back.ActionDim != 4 {
		t.Errorf("round trip: %v %+v", err, back)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"in_channels":1,"foo":2}`, `unknown field "foo"`},
		{good + `{}`, "trailing data"},
		{`[1,2]`, "config JSON"},
		{strings.Replace(good, `"action_dim":4`, `"action_dim":3`, 1), "even"},
		{strings.Replace(good, `[7,5]`, `[7]`, 1), "HiddenDims"},
		{strings.Replace(good, `"img_size":16`, `"img_size":"16"`, 1), "img_size"},
	} {
		if _, err := ParseConfig([]byte(bad.json)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseConfig(%s): %v, want %q", bad.json, err, bad.want)
		}
	}
}

func TestActionsByIndexAndName(t *testing.T) {
	m := newTiny(t, Options{})
	for s, want := range map[string]int{"0": 0, "3": 3, "scale+": 1, "shape-": 2} {
		if a, err := m.ParseAction(s); err != nil || a != want {
			t.Errorf("ParseAction(%q) = %d, %v; want %d", s, a, err, want)
		}
	}
	for _, s := range []string{"4", "-1", "hue+", ""} {
		if _, err := m.ParseAction(s); err == nil {
			t.Errorf("ParseAction(%q) accepted", s)
		}
	}
}

func TestMetaValidation(t *testing.T) {
	cfg := tinyConfig()
	p := nn.InitParams(Specs(cfg), 1)
	for _, c := range []struct {
		meta Meta
		want string
	}{
		{Meta{Actions: []string{"a", "b"}}, "2 action names for action_dim 4"},
		{Meta{Factors: []string{"a"}}, "1 factor names"},
		{Meta{Actions: []string{"a", "a", "b", "c"}}, "distinct"},
		{Meta{Preprocess: "blur"}, `preprocess "blur"`},
	} {
		if _, err := New(cfg, p, c.meta, Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("meta %+v: %v, want %q", c.meta, err, c.want)
		}
	}
}

// Intervene must equal the causal layer on the encoded codes, decoded.
func TestInterveneComposesTheParts(t *testing.T) {
	m := newTiny(t, Options{})
	x := image(m, 2)
	codes, _ := m.Encode(x)
	codes = append([]int32(nil), codes...)
	r, err := m.Intervene(x, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range codes {
		if r.Input[i] != codes[i] {
			t.Fatal("Intervene's input codes differ from Encode's")
		}
	}
	got := append([]float32(nil), r.Image...)
	predicted := append([]int32(nil), r.Codes...)
	img, err := m.Decode(predicted)
	if err != nil {
		t.Fatal(err)
	}
	for i := range img {
		if img[i] != got[i] {
			t.Fatal("Intervene's image is not the decoded predicted codes")
		}
	}
}

func TestTraverseChainsSteps(t *testing.T) {
	m := newTiny(t, Options{})
	x := image(m, 3)
	var calls []int
	steps, err := m.Traverse(context.Background(), x, 2, 4, func(done, total int) { calls = append(calls, done*10+total) })
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 || len(calls) != 4 || calls[3] != 44 {
		t.Fatalf("%d steps, progress %v", len(steps), calls)
	}
	for k := 1; k < 4; k++ {
		r, err := m.InterveneCodes(steps[k-1].Codes, 2)
		if err != nil {
			t.Fatal(err)
		}
		for i := range r.Codes {
			if r.Codes[i] != steps[k].Codes[i] {
				t.Fatalf("step %d does not start from step %d's codes", k+1, k)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err = m.Traverse(ctx, x, 2, 5, func(done, total int) {
		if done == 2 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled traversal returned %v", err)
	}
}

func TestRetrieveProbabilitiesAndFolding(t *testing.T) {
	m := newTiny(t, Options{})
	x, y := image(m, 5), image(m, 6)
	var last, total int
	r, err := m.Retrieve(context.Background(), x, y, 1, func(done, tot int) { last, total = done, tot })
	if err != nil {
		t.Fatal(err)
	}
	if last != total || total != 2+4 {
		t.Errorf("progress ended at %d of %d, want 6 of 6", last, total)
	}
	var sum float32
	for a, p := range r.Probs {
		sum += p
		if p > r.Probs[r.Best] {
			t.Errorf("action %d has p %g > best's %g", a, p, r.Probs[r.Best])
		}
	}
	if sum < 0.9999 || sum > 1.0001 {
		t.Errorf("probabilities sum to %g", sum)
	}
	if r.BestFactor != r.Best%2 {
		t.Errorf("best factor %d, best action %d: want the action's factor", r.BestFactor, r.Best)
	}
	for f := 0; f < 2; f++ {
		if r.FactorProbs[f] > r.FactorProbs[r.BestFactor] {
			t.Errorf("factor %d has p %g > best factor's %g", f, r.FactorProbs[f], r.FactorProbs[r.BestFactor])
		}
	}
	// Each distance must be the MODEL.md formula on Intervene's distributions:
	// d = mean_i log Σ_k c(q[i,k]) - log c(q[i,y_i]), c = clamp(., 1e-4).
	codesY := append([]int32(nil), r.CodesY...)
	dist := append([]float32(nil), r.Dist...)
	for a := 0; a < 4; a++ {
		q, _ := m.Intervene(x, a)
		var want float64
		for i, yi := range codesY {
			var s float64
			for k := 0; k < 6; k++ {
				s += float64(max(q.Probs[i*6+k], 1e-4))
			}
			want += math.Log(s) - math.Log(float64(max(q.Probs[i*6+int(yi)], 1e-4)))
		}
		want /= float64(len(codesY))
		if d := float64(dist[a]) - want; d > 1e-5 || d < -1e-5 {
			t.Errorf("action %d: distance %g, want %g", a, dist[a], want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m.Retrieve(ctx, x, y, 1, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled retrieval returned %v", err)
	}
}

// A factor whose two directions both fit moderately must not outrank the
// best action's factor (the page's bars and the API's bestFactor used to
// sum the directions, and picked orientation for most dSprites position
// pairs).
func TestFoldFactorsFollowsTheBestAction(t *testing.T) {
	// Actions: pos+ (0), orient+ (1), pos- (2), orient- (3).
	probs := []float32{0.34, 0.27, 0.12, 0.27}
	factor := make([]float32, 2)
	if got := foldFactors(factor, probs, 0); got != 0 {
		t.Fatalf("best factor %d, want 0 (the best action's); summed directions give 0.46 vs 0.54", got)
	}
	want := []float32{0.34 / 0.61, 0.27 / 0.61}
	for f := range factor {
		if d := factor[f] - want[f]; d > 1e-6 || d < -1e-6 {
			t.Errorf("factor %d: p %g, want %g", f, factor[f], want[f])
		}
	}
	if got := foldFactors(factor, probs, 3); got != 1 {
		t.Errorf("best action 3 (orient-): best factor %d, want 1", got)
	}
}

func TestSampleModeIsSeeded(t *testing.T) {
	a := newTiny(t, Options{Sampling: causal.Sample, Seed: 9})
	b := newTiny(t, Options{Sampling: causal.Sample, Seed: 9})
	x, y := image(a, 7), image(a, 8)
	ra, err := a.Retrieve(context.Background(), x, y, 5, nil)
	if err != nil {
		t.Fatal(err)
	}
	pa := append([]float32(nil), ra.Probs...)
	rb, _ := b.Retrieve(context.Background(), x, y, 5, nil)
	for i := range pa {
		if pa[i] != rb.Probs[i] {
			t.Fatal("same seed gave different sample-mode retrievals")
		}
	}
}

func TestBadInputsChangeNothing(t *testing.T) {
	m := newTiny(t, Options{})
	x := image(m, 1)
	before, _ := m.Intervene(x, 0)
	want := append([]int32(nil), before.Codes...)
	if _, err := m.Intervene(x[:10], 0); err == nil || !strings.Contains(err.Error(), "want 256") {
		t.Errorf("short image: %v", err)
	}
	if _, err := m.Intervene(x, 9); err == nil {
		t.Error("action 9 accepted")
	}
	if _, err := m.Retrieve(context.Background(), x, x[:5], 1, nil); err == nil || !strings.Contains(err.Error(), "y has 5 values") {
		t.Errorf("mismatched retrieval: %v", err)
	}
	if _, err := m.Decode([]int32{99}); err == nil {
		t.Error("Decode accepted 1 code")
	}
	bad := make([]int32, m.Nodes())
	bad[3] = 6
	if _, err := m.Decode(bad); err == nil || !strings.Contains(err.Error(), "code 6 at node 3") {
		t.Errorf("out-of-range code: %v", err)
	}
	after, _ := m.Intervene(x, 0)
	for i := range want {
		if after.Codes[i] != want[i] {
			t.Fatal("a rejected request changed the model's results")
		}
	}
}

func TestVQOnlyModel(t *testing.T) {
	cfg := tinyConfig()
	cfg.ActionDim, cfg.CausalHiddenDims = 0, nil
	m, err := New(cfg, nn.InitParams(Specs(cfg), 2), Meta{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := image(m, 1)
	r, err := m.Reconstruct(x)
	if err != nil || len(r.Image) != m.ImageLen() {
		t.Fatalf("Reconstruct: %v", err)
	}
	if _, err := m.Intervene(x, 0); err == nil || !strings.Contains(err.Error(), "no causal layer") {
		t.Errorf("Intervene on a VQ-VAE: %v", err)
	}
}

func TestPassesAllocateNothing(t *testing.T) {
	m := newTiny(t, Options{})
	x, y := image(m, 1), image(m, 2)
	ctx := context.Background()
	m.Retrieve(ctx, x, y, 1, nil)
	if a := testing.AllocsPerRun(5, func() { m.Intervene(x, 1) }); a != 0 {
		t.Errorf("Intervene allocated %v times", a)
	}
	if a := testing.AllocsPerRun(5, func() { m.Retrieve(ctx, x, y, 1, nil) }); a != 0 {
		t.Errorf("Retrieve allocated %v times", a)
	}
}

func TestPreprocessPadsAndShrinks(t *testing.T) {
	src := make([]float32, 64*64)
	for i := range src {
		src[i] = 1
	}
	dst := make([]float32, len(src))
	PreprocessOfficial(dst, src, 1, 64)
	// The scene shrinks into the centre ~28x28: corners black, centre white.
	if dst[0] != 0 || dst[64*64-1] != 0 {
		t.Errorf("corners %g %g, want 0", dst[0], dst[64*64-1])
	}
	if c := dst[32*64+32]; c != 1 {
		t.Errorf("centre %g, want 1", c)
	}
	var mass float32
	for _, v := range dst {
		mass += v
	}
	want := float32(64 * 64 * 64 * 64 / (148 * 148))
	if mass < want*0.95 || mass > want*1.05 {
		t.Errorf("mass %g, want about %g", mass, want)
	}
}
