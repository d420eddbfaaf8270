package train

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/vqvae"
)

// smokeConfig is a tiny dSprites VQ-VAE (64x64 input, 8x8 codes).
func smokeConfig() ctvae.Config {
	return ctvae.Config{Config: vqvae.Config{InChannels: 1, ImgSize: 64, HiddenDims: []int{4, 8, 8},
		EmbeddingDim: 8, NumEmbeddings: 16, Codebooks: 1, ResidualLayers: 1}, Beta: 0.25}
}

func smokeOptions() Options {
	o := DefaultOptions()
	o.Batch, o.LR, o.EpochImages, o.Seed = 8, 3e-3, 24, 5
	return o
}

func newSmoke(t *testing.T) *Trainer {
	t.Helper()
	tr, err := New(data.NewDSprites(), smokeConfig(), smokeOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// recordedCurve is testdata/vqvae_smoke_curve.json: the total loss of each
// step of the first correct run (recorded with -update-curve).
const recordedCurve = "testdata/vqvae_smoke_curve.json"

// TestVQVAETrainerSmoke trains 12 steps of the tiny config (4 epochs of 3
// batches, so the epoch reshuffle and LR decay run too) and checks that the
// loss decreases and follows the recorded curve. Tolerance 1e-4 relative:
// the run is deterministic, but the curve should survive harmless changes
// of float32 summation order in the kernels.
func TestVQVAETrainerSmoke(t *testing.T) {
	tr := newSmoke(t)
	var curve []float64
	for range 12 {
		r, err := tr.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(r.Total) {
			t.Fatalf("step %d: NaN loss", r.Step)
		}
		curve = append(curve, r.Total)
	}
	t.Logf("curve %v", curve)
	if tr.Epoch != 3 {
		t.Errorf("after 12 steps of 3 per epoch: epoch %d, want 3", tr.Epoch)
	}
	first := (curve[0] + curve[1] + curve[2]) / 3
	last := (curve[9] + curve[10] + curve[11]) / 3
	if !(last < 0.8*first) {
		t.Errorf("mean loss of steps 1-3 %.4g, of steps 10-12 %.4g: want a drop of at least 20%%", first, last)
	}
	if *updateCurve {
		b, _ := json.MarshalIndent(curve, "", " ")
		if err := os.WriteFile(recordedCurve, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(recordedCurve)
	if err != nil {
		t.Fatal(err)
	}
	var want []float64
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(curve) {
		t.Fatalf("recorded curve has %d steps, run has %d", len(want), len(curve))
	}
	for i := range want {
		if math.Abs(curve[i]-want[i]) > 1e-4*want[i] {
			t.Errorf("step %d: loss %.8g, recorded %.8g", i+1, curve[i], want[i])
		}
	}
}

// TestResumeIsExact checks that checkpoint + resume continues bit for bit:
// 30 steps straight equal 20 steps, checkpoint, resume, 10 steps
// (crossing epochs and a dead-code restart at step 25), for both
// codebook initialisations (the data one keeps usage counts across resume).
func TestResumeIsExact(t *testing.T) {
	for _, init := range []string{"", CodebookInitData} {
		t.Run("init="+init, func(t *testing.T) { testResume(t, init) })
	}
}

func testResume(t *testing.T, init string) {
	newSmoke := func(t *testing.T) *Trainer {
		o := smokeOptions()
		o.CodebookInit = init
		tr, err := New(data.NewDSprites(), smokeConfig(), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	a := newSmoke(t)
	for range 30 {
		if _, err := a.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	b := newSmoke(t)
	for range 20 {
		if _, err := b.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := b.Checkpoint(1.5)
	if err != nil {
		t.Fatal(err)
	}
	c, secs, err := Resume(ck)
	if err != nil {
		t.Fatal(err)
	}
	if secs != 1.5 || c.Step != 20 {
		t.Fatalf("resumed at step %d with %v s, want 20 and 1.5", c.Step, secs)
	}
	for range 10 {
		if _, err := c.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	for name, p := range a.Params {
		q := c.Params[name]
		for i := range p.Data {
			if math.Float32bits(p.Data[i]) != math.Float32bits(q.Data[i]) {
				t.Fatalf("%s[%d]: straight %v, resumed %v", name, i, p.Data[i], q.Data[i])
			}
		}
	}
	if _, _, err := Resume(ck[:len(ck)-3]); err == nil {
		t.Error("truncated checkpoint accepted")
	}
	mf, err := c.ModelFile("F32")
	if err != nil {
		t.Fatal(err)
	}
	m, info, err := modelfile.Load(mf, ctvae.Options{})
	if err != nil {
		t.Fatalf("trained VQ-VAE file does not load: %v", err)
	}
	if info.Meta.Dataset != "dsprites" || m == nil || !bytes.Contains(mf, []byte(`"dsprites"`)) {
		t.Errorf("model file metadata: dataset %q", info.Meta.Dataset)
	}
}

// TestOptionsErrors checks that bad settings are refused with a message.
func TestOptionsErrors(t *testing.T) {
	bad := []func(*Options){
		func(o *Options) { o.Batch = 7 },
		func(o *Options) { o.Shards = 0 },
		func(o *Options) { o.LR = 0 },
		func(o *Options) { o.Decay = 1.5 },
		func(o *Options) { o.Phase = "nope" },
		func(o *Options) { o.ChangedWeight = -1 },
		func(o *Options) { o.ModeWeights = []float64{1, 1} },
		func(o *Options) { o.ModeWeights = []float64{0, 0, 0} },
		func(o *Options) { o.ModeWeights = []float64{1, -1, 1} },
		func(o *Options) { o.Dropout = new(-0.1) },
		func(o *Options) { o.Dropout = new(1.0) },
		func(o *Options) { o.LRSteps = -1 },
		func(o *Options) { o.LRSteps = 10 },
		func(o *Options) { o.LRSteps, o.LRFinal = 10, 1 },
		func(o *Options) { o.LRFinal = 1e-4 },
		func(o *Options) { o.LRStart = 5 },
		func(o *Options) { o.FactorWeights = []float64{1, -1, 1, 1, 1} },
		func(o *Options) { o.FactorWeights = []float64{0, 0, 0, 0, 0} },
		func(o *Options) { o.FactorWeights = []float64{} },
	}
	for i, f := range bad {
		o := smokeOptions()
		f(&o)
		if _, err := New(data.NewDSprites(), smokeConfig(), o, nil); err == nil {
			t.Errorf("case %d: bad options %+v accepted", i, o)
		}
	}
	if _, err := New(data.NewShapes3D(), smokeConfig(), smokeOptions(), nil); err == nil {
		t.Error("1-channel config accepted for the 3-channel Shapes3D")
	}
}

// causalSmoke builds a causal-phase run on a random tiny VQ-VAE.
func causalSmoke(t *testing.T, recipe string) *Trainer {
	t.Helper()
	cfg := smokeConfig()
	cfg.ActionDim, cfg.CausalHiddenDims = 10, []int{6, 4}
	vq := newSmoke(t)
	o := smokeOptions()
	o.Phase, o.Recipe, o.Batch, o.LR = PhaseCausal, recipe, 4, 1e-2
	tr, err := New(data.NewDSprites(), cfg, o, vq.Params)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestCausalPhaseTrainsAndResumes runs the balanced recipe (all three
// modes), checks that every mode occurs with a finite loss, that only
// ct_layer tensors change, and that checkpoint + resume continues bit for
// bit.
func TestCausalPhaseTrainsAndResumes(t *testing.T) {
	a := causalSmoke(t, RecipeBalanced)
	before := map[string][]float32{}
	for name, p := range a.Params {
		before[name] = append([]float32(nil), p.Data...)
	}
	modes := map[string]int{}
	for range 8 {
		r, err := a.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if math.IsNaN(r.Total) || math.IsInf(r.Total, 0) {
			t.Fatalf("step %d (%s): loss %v", r.Step, r.Mode, r.Total)
		}
		modes[r.Mode]++
	}
	if len(modes) != 3 {
		t.Errorf("modes drawn in 8 balanced steps: %v, want all three", modes)
	}
	for name, p := range a.Params {
		changed := !slicesEqual(before[name], p.Data)
		isCT := len(name) > 9 && name[:9] == "ct_layer."
		trainable := isCT && name != "ct_layer.pos_encoding.pe" && name != "ct_layer.a_dense.weight" && name != "ct_layer.a_dense.bias"
		if changed && !trainable {
			t.Errorf("%s changed in the causal phase", name)
		}
	}
	b := causalSmoke(t, RecipeBalanced)
	trainSteps(t, b, 5)
	c := resumeAndMatch(t, a, b)
	mf, err := c.ModelFile("F32")
	if err != nil {
		t.Fatal(err)
	}
	m, info, err := modelfile.Load(mf, ctvae.Options{})
	if err != nil {
		t.Fatalf("trained model file does not load: %v", err)
	}
	if !m.HasCausal() || len(info.Meta.Actions) != 10 || len(info.Meta.Factors) != 5 {
		t.Errorf("model file: causal %v, %d actions, %d factors", m.HasCausal(), len(info.Meta.Actions), len(info.Meta.Factors))
	}
}

// TestCausalDropoutOption checks that Options.Dropout replaces the official
// 0.1 (a dropout-free first step differs from the default one) and that a
// checkpoint keeps it.
func TestCausalDropoutOption(t *testing.T) {
	def := causalSmoke(t, RecipeBalanced)
	cfg := smokeConfig()
	cfg.ActionDim, cfg.CausalHiddenDims = 10, []int{6, 4}
	o := def.Opts
	o.Dropout = new(0.0)
	off, err := New(data.NewDSprites(), cfg, o, newSmoke(t).Params)
	if err != nil {
		t.Fatal(err)
	}
	if off.Opts.dropout() != 0 || def.Opts.dropout() != ctDropout {
		t.Fatalf("dropout: option 0 gives %v, default gives %v", off.Opts.dropout(), def.Opts.dropout())
	}
	rd, err := def.TrainStep()
	if err != nil {
		t.Fatal(err)
	}
	ro, err := off.TrainStep()
	if err != nil {
		t.Fatal(err)
	}
	if rd.Mode != ro.Mode || rd.Total == ro.Total {
		t.Errorf("first step: default %s loss %v, dropout 0 %s loss %v: want the same mode and different losses", rd.Mode, rd.Total, ro.Mode, ro.Total)
	}
	ck, err := off.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := Resume(ck)
	if err != nil {
		t.Fatal(err)
	}
	if res.Opts.Dropout == nil || *res.Opts.Dropout != 0 {
		t.Errorf("resumed dropout %v, want 0", res.Opts.Dropout)
	}
}

// TestFactorWeightsOption checks that Options.FactorWeights draws only the
// weighted factors' actions, both directions, in about the given ratio, that
// a checkpoint keeps them, and that a wrong count or recipe is refused.
func TestFactorWeightsOption(t *testing.T) {
	cfg := smokeConfig()
	cfg.ActionDim, cfg.CausalHiddenDims = 10, []int{6, 4}
	vq := newSmoke(t).Params
	o := causalSmoke(t, RecipeBalanced).Opts
	o.FactorWeights = []float64{0, 0, 3, 1, 0}
	tr, err := New(data.NewDSprites(), cfg, o, vq)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	count := make([]int, 10)
	for range 4000 {
		count[tr.causal.balancedAction(r)]++
	}
	orient, posX := count[2]+count[7], count[3]+count[8]
	if orient+posX != 4000 || count[2] == 0 || count[7] == 0 || count[3] == 0 || count[8] == 0 || math.Abs(float64(orient)/4000-0.75) > 0.03 {
		t.Errorf("actions drawn with factor weights 0,0,3,1,0: %v, want actions 2, 7 (75%%) and 3, 8 only", count)
	}
	trainSteps(t, tr, 1)
	res := roundTrip(t, tr)
	if !slices.Equal(res.Opts.FactorWeights, o.FactorWeights) || !slices.Equal(res.causal.factorCum, tr.causal.factorCum) {
		t.Errorf("resumed factor weights %v, want %v", res.Opts.FactorWeights, o.FactorWeights)
	}
	for _, bad := range []struct {
		recipe string
		w      []float64
	}{{RecipeBalanced, []float64{1, 1, 1, 1}}, {RecipePaper, []float64{1, 1, 1, 1, 1}}} {
		o.Recipe, o.FactorWeights = bad.recipe, bad.w
		if _, err := New(data.NewDSprites(), cfg, o, vq); err == nil || !strings.Contains(err.Error(), "want recipe") {
			t.Errorf("factor weights %v with recipe %s: %v", bad.w, bad.recipe, err)
		}
	}
}

// trainSteps trains n steps of tr.
func trainSteps(t *testing.T, tr *Trainer, n int) {
	t.Helper()
	for range n {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
}

// roundTrip checkpoints tr and resumes the checkpoint.
func roundTrip(t *testing.T, tr *Trainer) *Trainer {
	t.Helper()
	ck, err := tr.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Resume(ck)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// resumeAndMatch resumes a checkpoint of b, trains it to a's step and checks
// that every parameter equals a's bit for bit; it returns the resumed run.
func resumeAndMatch(t *testing.T, a, b *Trainer) *Trainer {
	t.Helper()
	c := roundTrip(t, b)
	trainSteps(t, c, int(a.Step-c.Step))
	for name, p := range a.Params {
		if !slicesEqual(p.Data, c.Params[name].Data) {
			t.Fatalf("%s: straight and resumed runs differ", name)
		}
	}
	return c
}

func slicesEqual(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestAnnealedLR checks the half-cosine anneal's ends, middle and clamps.
func TestAnnealedLR(t *testing.T) {
	for _, c := range []struct {
		done int64
		want float64
	}{{-3, 3e-4}, {0, 3e-4}, {50, 1.75e-4}, {100, 5e-5}, {250, 5e-5}} {
		if got := AnnealedLR(3e-4, 5e-5, c.done, 100); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("AnnealedLR(3e-4, 5e-5, %d, 100) = %g, want %g", c.done, got, c.want)
		}
	}
	if a, b := AnnealedLR(1, 0.1, 10, 100), AnnealedLR(1, 0.1, 11, 100); !(a > b && b > 0.1) {
		t.Errorf("anneal not decreasing: %g then %g", a, b)
	}
}

// TestSetLearningRateOnResume resumes a causal run with a new learning rate
// and an anneal: the rate follows them from the resume step on, the
// checkpoint keeps them (a second resume continues bit for bit with a run
// that never stopped), bad values are refused and leave the run as it was,
// and a checkpoint without an anneal stores none of its fields (so the
// checkpoints of older runs, which have none, resume as before).
func TestSetLearningRateOnResume(t *testing.T) {
	a := causalSmoke(t, RecipeBalanced)
	for range 3 {
		if _, err := a.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := a.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ck, []byte("LRFinal")) || bytes.Contains(ck, []byte("LRSteps")) {
		t.Error("a checkpoint without an anneal stores its fields")
	}
	b, _, err := Resume(ck)
	if err != nil {
		t.Fatal(err)
	}
	if b.LR() != 1e-2 {
		t.Fatalf("resumed LR %g, want the run's 1e-2", b.LR())
	}
	for _, bad := range []struct {
		lr, final float64
		steps     int64
	}{{-1, 0, 0}, {2, 0, 0}, {0, 1e-3, 0}, {0, 0, 5}, {0, 1.5, 5}, {0, 1e-3, -5}} {
		if err := b.SetLearningRate(bad.lr, bad.final, bad.steps); err == nil {
			t.Errorf("SetLearningRate(%g, %g, %d) accepted", bad.lr, bad.final, bad.steps)
		}
	}
	if b.Opts.LR != 1e-2 || b.Opts.LRSteps != 0 {
		t.Fatalf("refused settings changed the run: %+v", b.Opts)
	}
	if err := b.SetLearningRate(4e-3, 1e-3, 4); err != nil {
		t.Fatal(err)
	}
	var lrs []float64
	for range 2 {
		r, err := b.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		lrs = append(lrs, r.LR)
	}
	ck2, err := b.Checkpoint(0)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := Resume(ck2)
	if err != nil {
		t.Fatal(err)
	}
	if c.Opts.LR != 4e-3 || c.Opts.LRFinal != 1e-3 || c.Opts.LRStart != 3 || c.Opts.LRSteps != 4 {
		t.Fatalf("checkpoint options %+v, want LR 4e-3 annealed to 1e-3 over steps 3..7", c.Opts)
	}
	for range 4 {
		rb, err := b.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		if rb.LR != rc.LR || rb.Total != rc.Total {
			t.Fatalf("step %d: straight lr %g loss %v, resumed lr %g loss %v", rb.Step, rb.LR, rb.Total, rc.LR, rc.Total)
		}
		lrs = append(lrs, rb.LR)
	}
	want := []float64{4e-3, 1e-3 + 3e-3*(1+math.Cos(math.Pi/4))/2, 2.5e-3, 1e-3 + 3e-3*(1+math.Cos(3*math.Pi/4))/2, 1e-3, 1e-3}
	for i := range want {
		if math.Abs(lrs[i]-want[i]) > 1e-15 {
			t.Errorf("learning rates %g, want %g", lrs, want)
			break
		}
	}
}
