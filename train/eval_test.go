package train

import (
	"context"
	"math"
	"testing"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
)

// TestEvaluateMatchesTrainerForward trains the smoke model briefly, loads
// its model file into the runtime, and checks Evaluate's reconstruction MSE
// against the trainer's own forward pass on the same images: two
// independent implementations of the VQ-VAE (runtime vs train) must agree.
func TestEvaluateMatchesTrainerForward(t *testing.T) {
	tr := newSmoke(t)
	for range 3 {
		if _, err := tr.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	mf, err := tr.ModelFile("F32")
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := modelfile.Load(mf, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds := tr.Dataset
	const n = 4
	rep, err := Evaluate(context.Background(), m, ds, EvalOptions{Split: data.Test, Images: n, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	splits, _ := data.NewSplits(ds.Len(), data.DefaultSplitSeed)
	idx, _ := splits.Sample(data.Test, n, 3)
	x := make([]float32, n*data.ImageLen(ds))
	if err := data.RenderBatch(ds, x, idx); err != nil {
		t.Fatal(err)
	}
	net := newVQNet(tr.Config.Config, tr.Params, newGrads(tr.specs), n, false)
	net.encode(x)
	net.lookup(net.codes)
	out := net.decode()
	want := sqDist(out, x) / float64(len(x))
	// Winograd vs im2col paths and summation order: 1e-4 relative.
	if math.Abs(rep.ReconMSE-want) > 1e-4*want {
		t.Errorf("Evaluate recon MSE %.8g, trainer forward %.8g", rep.ReconMSE, want)
	}
	if rep.CodesUsed < 1 || rep.CodesUsed > rep.NumCodes || rep.CodePerplexity < 1 || rep.CodePerplexity > float64(rep.CodesUsed)+1e-9 {
		t.Errorf("codebook usage %d/%d, perplexity %v", rep.CodesUsed, rep.NumCodes, rep.CodePerplexity)
	}
}

// TestEvaluatePairsAccounting runs the retrieval metrics on a random causal
// model: per-factor counts add up and every rate is a fraction.
func TestEvaluatePairsAccounting(t *testing.T) {
	cfg := smokeConfig()
	cfg.ActionDim, cfg.CausalHiddenDims = 10, []int{6, 4}
	p := nn.InitParams(ctvae.Specs(cfg), 2)
	ds := data.NewDSprites()
	meta := ctvae.Meta{Dataset: "dsprites", Actions: ds.ActionNames()}
	for _, f := range ds.Factors() {
		meta.Factors = append(meta.Factors, f.Name)
	}
	m, err := ctvae.New(cfg, p, meta, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Evaluate(context.Background(), m, ds, EvalOptions{Split: data.Test, Images: 2, Pairs: 15, Balanced: true, Seed: 4, TableBaseline: 20})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, f := range rep.PerFactor {
		sum += f.Pairs
		if f.ActionAccuracy < 0 || f.ActionAccuracy > 1 || f.FactorAccuracy < 0 || f.FactorAccuracy > 1 {
			t.Errorf("factor %s: action %v, factor %v", f.Name, f.ActionAccuracy, f.FactorAccuracy)
		}
	}
	if rep.FactorAccuracy < rep.ActionAccuracy {
		t.Errorf("factor accuracy %v below action accuracy %v: the best action's factor must count", rep.FactorAccuracy, rep.ActionAccuracy)
	}
	if sum != 15 || len(rep.PerFactor) != 5 {
		t.Errorf("per-factor pairs sum to %d over %d factors, want 15 over 5", sum, len(rep.PerFactor))
	}
	b := rep.TableBaseline
	if b == nil || b.TrainPairs != 20 || len(b.PerFactor) != 5 || b.ActionAccuracy < 0 || b.ActionAccuracy > 1 {
		t.Fatalf("table baseline %+v, want 20 training pairs, 5 factors, a rate", b)
	}
	for f := range b.PerFactor {
		if b.PerFactor[f].Pairs != rep.PerFactor[f].Pairs {
			t.Errorf("factor %d: baseline scored %d pairs, model %d", f, b.PerFactor[f].Pairs, rep.PerFactor[f].Pairs)
		}
	}
	if rep.CodeFidelity < 0 || rep.CodeFidelity > 1 || rep.InterveneMSE <= 0 || rep.TargetMSE <= 0 || rep.UnchangedMSE <= 0 {
		t.Errorf("fidelity %v, intervene MSE %v, target %v, unchanged %v", rep.CodeFidelity, rep.InterveneMSE, rep.TargetMSE, rep.UnchangedMSE)
	}
	for _, r := range []float64{rep.MaskRecall, rep.ChangePrecision, rep.PerFactor[0].MaskRecall, rep.PerFactor[0].ChangePrecision} {
		if r < 0 || r > 1 {
			t.Errorf("mask recall %v, change precision %v (factor 0: %v, %v): want fractions", rep.MaskRecall, rep.ChangePrecision,
				rep.PerFactor[0].MaskRecall, rep.PerFactor[0].ChangePrecision)
		}
	}
	// The per-factor MSEs are means over their pairs: weighted by the
	// pairs, they give the overall ones.
	var ise, unchanged float64
	for _, f := range rep.PerFactor {
		ise += f.InterveneMSE * float64(f.Pairs)
		unchanged += f.UnchangedMSE * float64(f.Pairs)
	}
	if d := ise/15 - rep.InterveneMSE; math.Abs(d) > 1e-9*rep.InterveneMSE {
		t.Errorf("per-factor intervene MSE averages to %v, overall %v", ise/15, rep.InterveneMSE)
	}
	if d := unchanged/15 - rep.UnchangedMSE; math.Abs(d) > 1e-9*rep.UnchangedMSE {
		t.Errorf("per-factor unchanged MSE averages to %v, overall %v", unchanged/15, rep.UnchangedMSE)
	}
	if _, err := Evaluate(context.Background(), m, ds, EvalOptions{Images: 1, TableBaseline: -1}); err == nil {
		t.Error("negative table baseline accepted")
	}
	if _, err := Evaluate(context.Background(), m, data.NewShapes3D(), EvalOptions{Images: 1}); err == nil {
		t.Error("3-channel dataset accepted by a 1-channel model")
	}
}
