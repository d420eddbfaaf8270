package train

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"ctvae/data"
	"ctvae/runtime/causal"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

// ---------------------------------------------------------------------------
// The causal phase: the VQ-VAE is frozen and only ct_layer trains (MODEL.md
// "Schedule"). Each step is one single-mode batch:
//
//	base    x -> x     gamma·ct, ct = CE(CT(x), x) + c_alpha·(CE(identity GNN, x) + MSE(G, I))
//	action  x, a -> y  gamma·ct, ct = CE(CT(x, a), y) + c_beta·KL + c_delta·‖G‖ + c_epsilon·‖Π(1-Adj)‖
//	causal  x, y -> a  CE(softmin_b CE(CT(x, b), y), a)
//
// With a frozen VQ-VAE the recon and vq terms carry no gradient into
// ct_layer (the CT codes are an argmax), so they are left out of training.
// A step's mode and samples are drawn from (seed, step) alone, so a run
// resumes exactly without sampler state.
//
// Recipes:
//
//	paper     modes in the ratio #train images : #train pairs : #train pairs
//	          (every image and every transition twice per epoch), pairs in
//	          their natural, imbalanced distribution, dropout 0.1
//	balanced  the three modes equally often and pairs balanced over actions
//	          (each action equally likely), dropout 0.1: more retrieval
//	          signal per minute and no factor starved of examples
//
// Options.AuxMask adds, to either recipe, an auxiliary mask target on action
// batches: BCE(p_i, [code x_i != code y_i]); Options.ChangedWeight weighs
// those nodes more in the action batches' CE; Options.ModeWeights replaces
// the recipe's mode mix.
// ---------------------------------------------------------------------------

// PhaseCausal trains the causal layer on a frozen VQ-VAE.
const PhaseCausal = "causal"

// Recipe names.
const (
	RecipePaper    = "paper"
	RecipeBalanced = "balanced"
)

// Causal batch modes.
const (
	modeBase = iota
	modeAction
	modeCausal
)

var modeNames = [...]string{"base", "action", "causal"}

// ctDropout is the official feature dropout of the causal layer.
const ctDropout = 0.1

type causalRun struct {
	ccfg    causal.Config
	shape   ctShape
	lw      ctLossWeights
	pairs   []data.Pair
	byAct   [][]int
	modeCum [3]float64
	vq      []*vqvae.Model // per shard, batch 1
	vq2     []*vqvae.Model // per shard, batch 2 (two images per encoder call: fuller GEMMs)
	workers []*ctWorker
	p64     []*ctParams // per shard: float64 parameters
	g64     []*ctParams // per shard: gradients
	names   []string
	// factorCum is the cumulative distribution of Options.FactorWeights
	// (nil: every action alike).
	factorCum []float64
}

// newCausal builds a causal-phase run on params holding a trained VQ-VAE
// (causal tensors missing from params are initialised from opts.Seed).
func newCausal(ds data.Dataset, cfg ctvae.Config, opts Options, params nn.Params, splits *data.Splits) (*Trainer, error) {
	if !cfg.HasCausal() {
		return nil, fmt.Errorf("train: phase %q needs a config with action_dim > 0", PhaseCausal)
	}
	if cfg.ActionDim != ds.NumActions() {
		return nil, fmt.Errorf("train: config action_dim %d, dataset %s has %d actions", cfg.ActionDim, ds.Name(), ds.NumActions())
	}
	if cfg.Noise != "" && cfg.Noise != causal.NoiseOff {
		return nil, fmt.Errorf("train: config noise %q: the trainer supports %q only", cfg.Noise, causal.NoiseOff)
	}
	if opts.Recipe != RecipePaper && opts.Recipe != RecipeBalanced {
		return nil, fmt.Errorf("train: recipe %q, want %q or %q", opts.Recipe, RecipePaper, RecipeBalanced)
	}
	if params == nil {
		return nil, fmt.Errorf("train: phase %q needs initial weights with a trained VQ-VAE (--init)", PhaseCausal)
	}
	specs := ctvae.Specs(cfg)
	vqSpecs := vqvae.Specs(cfg.Config)
	if err := nn.Check(vqSpecs, pick(params, vqSpecs)); err != nil {
		return nil, fmt.Errorf("train: initial VQ-VAE weights: %w", err)
	}
	all := nn.InitParams(specs, opts.Seed)
	for name, t := range params {
		if _, ok := all[name]; !ok {
			return nil, fmt.Errorf("train: initial weights have tensor %q, which the config does not", name)
		}
		all[name] = t
	}
	if err := nn.Check(specs, all); err != nil {
		return nil, fmt.Errorf("train: initial weights: %w", err)
	}
	cr := &causalRun{ccfg: causal.Config{Nodes: cfg.Nodes(), NodeDim: cfg.NumEmbeddings, ActionDim: cfg.ActionDim,
		HiddenDims: cfg.CausalHiddenDims, Noise: cfg.Noise}}
	cr.shape = newCTShape(cr.ccfg)
	l := cfg.Losses()
	cr.lw = ctLossWeights{gamma: l.Gamma, cAlpha: l.CAlpha, cBeta: l.CBeta, cDelta: l.CDelta, cEpsilon: l.CEpsilon, auxMask: opts.AuxMask, changedWeight: opts.ChangedWeight}
	tr, err := data.NewTransitions(ds, splits, data.DefaultSettings, data.DefaultSplitSeed)
	if err != nil {
		return nil, err
	}
	cr.pairs = tr.Pairs[data.Train]
	cr.byAct = make([][]int, ds.NumActions())
	for i, p := range cr.pairs {
		cr.byAct[p.Action] = append(cr.byAct[p.Action], i)
	}
	w := [3]float64{1, 1, 1}
	if opts.Recipe == RecipePaper {
		ni, np := float64(splits.Len(data.Train)), float64(len(cr.pairs))
		w = [3]float64{ni, np, np}
	}
	if opts.ModeWeights != nil {
		w = [3]float64(opts.ModeWeights)
	}
	cr.modeCum = [3]float64{w[0] / (w[0] + w[1] + w[2]), (w[0] + w[1]) / (w[0] + w[1] + w[2]), 1}
	if fw := opts.FactorWeights; fw != nil {
		if opts.Recipe != RecipeBalanced || len(fw) != ds.NumActions()/2 {
			return nil, fmt.Errorf("train: factor weights %v with recipe %q, want recipe %q and one weight per factor of %s (%d)", fw, opts.Recipe, RecipeBalanced, ds.Name(), ds.NumActions()/2)
		}
		var sum float64
		for _, v := range fw {
			sum += v
			cr.factorCum = append(cr.factorCum, sum)
		}
		for f := range cr.factorCum {
			cr.factorCum[f] /= sum
		}
	}
	for _, s := range ctTrainable(cr.ccfg) {
		cr.names = append(cr.names, s.Name)
	}
	vqp := pick(all, vqSpecs)
	for range opts.Shards {
		m, err := vqvae.New(cfg.Config, vqp, 1)
		if err != nil {
			return nil, err
		}
		m2, err := vqvae.New(cfg.Config, vqp, 2)
		if err != nil {
			return nil, err
		}
		cr.vq, cr.vq2 = append(cr.vq, m), append(cr.vq2, m2)
		cr.workers = append(cr.workers, newCTWorker(cr.shape))
		cr.p64 = append(cr.p64, newCTParams(cr.ccfg))
		cr.g64 = append(cr.g64, newCTParams(cr.ccfg))
	}
	t := &Trainer{Config: cfg, Opts: opts, Dataset: ds, Params: all, Adam: NewAdam(specs, cr.names),
		specs: specs, splits: splits, sum: newGrads(ctTrainable(cr.ccfg)), causal: cr,
		epochN: splits.Len(data.Train), Usage: make([]int64, cfg.NumEmbeddings)}
	return t, nil
}

func pick(p nn.Params, specs []nn.Spec) nn.Params {
	out := nn.Params{}
	for _, s := range specs {
		if t, ok := p[s.Name]; ok {
			out[s.Name] = t
		}
	}
	return out
}

// causalItem is one sample of a causal-phase batch.
type causalItem struct {
	from, to, action int // to = from and action = -1 in base mode
}

// causalStep trains one single-mode batch.
func (t *Trainer) causalStep() (StepResult, error) {
	cr := t.causal
	B := t.Opts.Batch
	r := rand.New(rand.NewPCG(t.Opts.Seed, 0xca05a1+uint64(t.Step)))
	u := r.Float64()
	mode := modeBase
	for mode < modeCausal && u >= cr.modeCum[mode] {
		mode++
	}
	items := make([]causalItem, B)
	for i := range items {
		if mode == modeBase {
			k, err := t.splits.At(data.Train, r.IntN(t.splits.Len(data.Train)))
			if err != nil {
				return StepResult{}, err
			}
			items[i] = causalItem{k, k, -1}
			continue
		}
		var p data.Pair
		if t.Opts.Recipe == RecipeBalanced {
			a := cr.balancedAction(r)
			p = cr.pairs[cr.byAct[a][r.IntN(len(cr.byAct[a]))]]
		} else {
			p = cr.pairs[r.IntN(len(cr.pairs))]
		}
		items[i] = causalItem{p.From, p.To, p.Action}
	}
	lr := t.LR()
	S := t.Opts.Shards
	per := B / S
	type shardSum struct {
		loss, ce, correct float64
		err               error
	}
	sums := make([]shardSum, S)
	var wg sync.WaitGroup
	for s := 0; s < S; s++ {
		cr.p64[s].load(t.Params)
		cr.g64[s].zero()
		wg.Add(1)
		go func() {
			defer wg.Done()
			sums[s].loss, sums[s].ce, sums[s].correct, sums[s].err = t.causalShard(s, mode, items[s*per:(s+1)*per], s*per)
		}()
	}
	wg.Wait()
	var res StepResult
	for _, sm := range sums {
		if sm.err != nil {
			return StepResult{}, sm.err
		}
		res.Total += sm.loss
		res.CE += sm.ce
		res.Accuracy += sm.correct
	}
	res.Total /= float64(B)
	res.CE /= float64(B)
	res.Accuracy /= float64(B)
	for _, name := range cr.names {
		dst := t.sum[name].Data
		src := make([][]float64, S) // looked up once per tensor, not per element
		for s := range src {
			src[s] = cr.g64[s].t[name][:len(dst)]
		}
		for i := range dst {
			var v float64
			for _, g := range src {
				v += g[i]
			}
			dst[i] = float32(v)
		}
	}
	t.Adam.Update(t.Params, t.sum, lr)
	t.Step++
	t.Offset += B
	if t.Offset+B > t.epochN {
		t.Epoch++
		t.Offset = 0
	}
	res.Step, res.Epoch, res.LR, res.Mode = t.Step, t.Epoch, lr, modeNames[mode]
	return res, nil
}

// balancedAction draws the action of a balanced recipe's pair, among those
// with train pairs: uniformly, or factor f with probability factorCum's
// step there and either direction (action f or F+f).
func (cr *causalRun) balancedAction(r *rand.Rand) int {
	for {
		var a int
		if cr.factorCum == nil {
			a = r.IntN(len(cr.byAct))
		} else {
			u, f := r.Float64(), 0
			for f < len(cr.factorCum)-1 && u >= cr.factorCum[f] {
				f++
			}
			a = f + r.IntN(2)*len(cr.factorCum)
		}
		if len(cr.byAct[a]) > 0 {
			return a
		}
	}
}

// causalShard runs the shard's samples; first is the index of its first
// sample in the batch (it seeds each sample's draws).
func (t *Trainer) causalShard(s, mode int, items []causalItem, first int) (loss, ce, correct float64, err error) {
	cr := t.causal
	ds := t.Dataset
	n := cr.shape.n
	B := float64(t.Opts.Batch)
	p, g, w := cr.p64[s], cr.g64[s], cr.workers[s]
	// The frozen encoder's codes of every image of the shard first, two
	// images per call.
	var src []int
	for _, it := range items {
		src = append(src, it.from)
		if it.to != it.from {
			src = append(src, it.to)
		}
	}
	L := data.ImageLen(ds)
	img := make([]float32, 2*L)
	codes := make([]int32, len(src)*n)
	for k := 0; k < len(src); k += 2 {
		m := min(2, len(src)-k)
		for j := 0; j < m; j++ {
			if err := ds.Render(img[j*L:(j+1)*L], src[k+j]); err != nil {
				return 0, 0, 0, err
			}
		}
		if m == 2 {
			cr.vq2[s].Encode(img, codes[k*n:(k+2)*n])
		} else {
			cr.vq[s].Encode(img[:L], codes[k*n:(k+1)*n])
		}
	}
	at := 0
	for i, it := range items {
		x, y := codes[at*n:(at+1)*n], codes[at*n:(at+1)*n]
		at++
		if it.to != it.from {
			y = codes[at*n : (at+1)*n]
			at++
		}
		rs := rand.New(rand.NewPCG(t.Opts.Seed^0xd4a75, uint64(t.Step)*uint64(t.Opts.Batch)+uint64(first+i)))
		switch mode {
		case modeBase:
			w.draws[0].fill(rs.Float64, t.Opts.dropout())
			c, l := w.baseLoss(p, g, x, w.draws[0], cr.lw, cr.lw.gamma/B)
			ce += c
			loss += cr.lw.gamma * l
		case modeAction:
			w.draws[0].fill(rs.Float64, t.Opts.dropout())
			c, l := w.actionLoss(p, g, x, y, it.action, w.draws[0], cr.lw, cr.lw.gamma/B)
			ce += c
			loss += cr.lw.gamma * l
		case modeCausal:
			for b := 0; b < cr.shape.A; b++ {
				w.draws[b].fill(rs.Float64, t.Opts.dropout())
			}
			l, best := w.causalLoss(p, g, x, y, it.action, w.draws[:cr.shape.A], 1/B)
			loss += l
			ce += l
			if best == it.action {
				correct++
			}
		}
	}
	return loss, ce, correct, nil
}
