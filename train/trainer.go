package train

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"

	"ctvae/data"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

// ---------------------------------------------------------------------------
// The trainer; its VQ-VAE phase: batches of train-split images in a per-epoch
// seeded shuffle, split into shards that run in parallel, gradients summed
// in shard order, one Adam step per batch, ExponentialLR per epoch. The
// causal phase lives in causal_trainer.go.
// ---------------------------------------------------------------------------

// Options are a run's training settings (the model's are in ctvae.Config).
type Options struct {
	Phase string // PhaseVQVAE, PhaseCausal or PhaseDecoder
	Batch int
	LR    float64
	Decay float64 // learning-rate factor per epoch
	// EpochImages is the number of images per epoch (the reshuffle and
	// learning-rate decay period); 0 means the whole train split.
	EpochImages int
	// Shards is the number of parallel parts of a batch; the result
	// depends on it (the order of the gradient sum), not on the threads.
	Shards int
	Seed   uint64
	// CodebookInit "data" sets the codebook, before the first step, to z_e
	// vectors of the first batch drawn at random positions, so every code
	// starts where the encoder puts its outputs, and every restartEvery
	// steps moves each code unused since the last restart onto a random z_e
	// of the batch (dead-code restart); "" (official) keeps U(-1/K, 1/K) and
	// no restarts, which can leave most codes unused for a long time.
	CodebookInit string `json:",omitempty"`
	// Recipe selects the causal phase's batch mix (RecipePaper or
	// RecipeBalanced); unused by the VQ-VAE phase.
	Recipe string `json:",omitempty"`
	// AuxMask weighs the auxiliary mask loss of action batches (causal
	// phase; 0, the paper, turns it off): BCE between the mask probability
	// and "this node's code differs between x and y".
	AuxMask float64 `json:",omitempty"`
	// ChangedWeight is the extra weight, in action batches' cross-entropy,
	// of the nodes whose code differs between x and y (causal phase; 0, the
	// paper, weighs every node alike). Copying x is a strong local optimum
	// when few nodes change; this makes the changed ones count.
	ChangedWeight float64 `json:",omitempty"`
	// ModeWeights, when set, replace the recipe's base:action:causal batch
	// mix (causal phase), e.g. {1, 1, 2} for more retrieval batches.
	ModeWeights []float64 `json:",omitempty"`
	// FactorWeights, when set, replace the balanced recipe's uniform choice
	// of actions (causal phase): factor f's pairs, both directions alike, are
	// drawn with probability FactorWeights[f]/sum, so a factor the layer
	// confuses gets more of the action and retrieval batches.
	FactorWeights []float64 `json:",omitempty"`
	// Dropout, when set, replaces the official feature dropout of the
	// causal layer (0.1, applied to one-hot + positional encoding and to the
	// mask's positional input). Nil keeps 0.1, so older checkpoints resume
	// unchanged. Elementwise dropout on a one-hot removes a node's own code
	// from about that fraction of the nodes: with 0.1 that alone costs the
	// training CE about 0.1·ln(codes).
	Dropout *float64 `json:",omitempty"`
	// LRSteps > 0 anneals the learning rate along a half cosine, from the
	// epoch's rate (LR times Decay per epoch) at step LRStart down to
	// LRFinal at step LRStart+LRSteps, and keeps LRFinal after that. Zero
	// (omitted) keeps the per-epoch exponential decay alone, so older
	// checkpoints resume unchanged. SetLearningRate sets these on resume.
	LRFinal float64 `json:",omitempty"`
	LRStart int64   `json:",omitempty"`
	LRSteps int64   `json:",omitempty"`
}

// dropout is the causal layer's feature dropout of a run.
func (o Options) dropout() float64 {
	if o.Dropout == nil {
		return ctDropout
	}
	return *o.Dropout
}

// DefaultOptions are the official VQ-VAE pretraining settings (Adam 5e-4,
// decay 0.98 per epoch, batch 64), with two shards for two cores.
func DefaultOptions() Options {
	return Options{Phase: PhaseVQVAE, Batch: 64, LR: 5e-4, Decay: 0.98, Shards: 2, Seed: 1}
}

// CodebookInitData names the data-dependent codebook initialisation.
const CodebookInitData = "data"

// PhaseVQVAE trains the encoder, codebook and decoder on images.
const PhaseVQVAE = "vqvae"

// PhaseDecoder trains the decoder alone on the reconstruction loss, from a
// whole model: the encoder, codebook and causal layer stay as they are, so
// the codes, and every action retrieval, stay bit for bit the same while
// the decoded images (reconstructions and interventions) improve.
const PhaseDecoder = "decoder"

func (o Options) validate() error {
	switch {
	case o.Phase != PhaseVQVAE && o.Phase != PhaseCausal && o.Phase != PhaseDecoder:
		return fmt.Errorf("train: phase %q, want %q, %q or %q", o.Phase, PhaseVQVAE, PhaseCausal, PhaseDecoder)
	case o.Phase == PhaseDecoder && o.CodebookInit != "":
		return fmt.Errorf("train: codebook init %q in phase %q, which keeps the codebook frozen: want \"\"", o.CodebookInit, PhaseDecoder)
	case o.Shards < 1 || o.Shards > 64:
		return fmt.Errorf("train: shards %d, want 1..64", o.Shards)
	case o.Batch < o.Shards || o.Batch%o.Shards != 0:
		return fmt.Errorf("train: batch %d, want a positive multiple of the shard count %d", o.Batch, o.Shards)
	case !(o.LR > 0 && o.LR < 1):
		return fmt.Errorf("train: learning rate %v, want in (0, 1)", o.LR)
	case !(o.Decay > 0 && o.Decay <= 1):
		return fmt.Errorf("train: decay %v, want in (0, 1]", o.Decay)
	case o.CodebookInit != "" && o.CodebookInit != CodebookInitData:
		return fmt.Errorf("train: codebook init %q, want \"\" (official) or %q", o.CodebookInit, CodebookInitData)
	case !(o.AuxMask >= 0 && o.AuxMask < 1e3):
		return fmt.Errorf("train: aux mask weight %v, want in [0, 1000)", o.AuxMask)
	case !(o.ChangedWeight >= 0 && o.ChangedWeight < 1e3):
		return fmt.Errorf("train: changed-node weight %v, want in [0, 1000)", o.ChangedWeight)
	case o.ModeWeights != nil && !validWeights(o.ModeWeights, 3):
		return fmt.Errorf("train: mode weights %v, want 3 non-negative numbers (base, action, causal) with a positive sum", o.ModeWeights)
	case o.FactorWeights != nil && !validWeights(o.FactorWeights, len(o.FactorWeights)):
		return fmt.Errorf("train: factor weights %v, want non-negative numbers with a positive sum", o.FactorWeights)
	case o.Dropout != nil && !(*o.Dropout >= 0 && *o.Dropout < 1):
		return fmt.Errorf("train: dropout %v, want in [0, 1)", *o.Dropout)
	case o.LRSteps < 0 || o.LRStart < 0:
		return fmt.Errorf("train: learning-rate anneal from step %d over %d steps, want both >= 0", o.LRStart, o.LRSteps)
	case o.LRSteps > 0 && !(o.LRFinal > 0 && o.LRFinal < 1):
		return fmt.Errorf("train: final learning rate %v, want in (0, 1) with an anneal", o.LRFinal)
	case o.LRSteps == 0 && (o.LRFinal != 0 || o.LRStart != 0):
		return fmt.Errorf("train: final learning rate %v from step %d without an anneal length (LRSteps)", o.LRFinal, o.LRStart)
	case o.EpochImages < 0:
		return fmt.Errorf("train: epoch images %d, want >= 0", o.EpochImages)
	}
	return nil
}

// validWeights reports whether w is n finite non-negative numbers with a
// positive sum.
func validWeights(w []float64, n int) bool {
	if len(w) != n || n == 0 {
		return false
	}
	var sum float64
	for _, v := range w {
		if !(v >= 0 && v < 1e6) {
			return false
		}
		sum += v
	}
	return sum > 0
}

// Trainer is one training run. It is not safe for concurrent use.
type Trainer struct {
	Config  ctvae.Config
	Opts    Options
	Dataset data.Dataset
	Params  nn.Params // the VQ-VAE's tensors, trained in place
	Adam    *Adam

	// Position: the next batch is images perm[Offset:Offset+Batch] of
	// epoch Epoch; Step batches have been done.
	Step   int64
	Epoch  int
	Offset int

	specs  []nn.Spec
	splits *data.Splits
	perm   []int32 // positions in the train split, shuffled for Epoch
	epochN int     // images per epoch
	nets   []*vqNet
	grads  []nn.Params // per shard
	sum    nn.Params
	x      []float32
	idx    []int
	// Usage counts each code's uses since the last dead-code restart.
	Usage []int64

	causal *causalRun // the causal phase's state, nil in the VQ-VAE phase
}

// restartEvery is the dead-code restart period of CodebookInitData, in steps.
const restartEvery = 25

// StepResult reports one batch.
type StepResult struct {
	Step      int64
	Epoch     int
	LR        float64
	Recon     float64 // MSE(x̂, x)
	VQ        float64 // beta·commitment + embedding (both equal MSE(z_q, z_e) in value)
	Total     float64
	CodesUsed int // distinct codes in the batch

	// Causal phase: the batch's mode, its mean CE term (retrieval loss for
	// causal batches) and the retrieval accuracy of causal batches.
	Mode     string
	CE       float64
	Accuracy float64
}

// New starts a run from params (a VQ-VAE parameter set; nil draws
// PyTorch's default initialisation from opts.Seed; PhaseDecoder needs the
// whole model of cfg, causal layer included when cfg has one).
func New(ds data.Dataset, cfg ctvae.Config, opts Options, params nn.Params) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkTrainable(cfg.Config); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.Phase == PhaseCausal {
		if ds.Channels() != cfg.InChannels || ds.Size() != cfg.ImgSize {
			return nil, fmt.Errorf("train: dataset %s does not fit the config's in_channels %d, img_size %d", ds.Name(), cfg.InChannels, cfg.ImgSize)
		}
		splits, err := data.NewSplits(ds.Len(), data.DefaultSplitSeed)
		if err != nil {
			return nil, err
		}
		kernels.SetThreads(1)
		return newCausal(ds, cfg, opts, params, splits)
	}
	if ds.Channels() != cfg.InChannels || ds.Size() != cfg.ImgSize {
		return nil, fmt.Errorf("train: dataset %s has %d channels of %dx%d, config wants in_channels %d, img_size %d",
			ds.Name(), ds.Channels(), ds.Size(), ds.Size(), cfg.InChannels, cfg.ImgSize)
	}
	vqSpecs := vqvae.Specs(cfg.Config)
	specs := vqSpecs // what the run holds, checkpoints and writes
	frozen := opts.Phase == PhaseDecoder
	if frozen {
		specs = ctvae.Specs(cfg)
		if cfg.HasCausal() && cfg.ActionDim != ds.NumActions() {
			return nil, fmt.Errorf("train: config action_dim %d, dataset %s has %d actions", cfg.ActionDim, ds.Name(), ds.NumActions())
		}
		if params == nil {
			return nil, fmt.Errorf("train: phase %q needs initial weights, the whole model to fine-tune (--init)", PhaseDecoder)
		}
	}
	if params == nil {
		params = nn.InitParams(specs, opts.Seed)
	} else if err := nn.Check(specs, params); err != nil {
		return nil, fmt.Errorf("train: initial weights: %w", err)
	}
	splits, err := data.NewSplits(ds.Len(), data.DefaultSplitSeed)
	if err != nil {
		return nil, err
	}
	var names []string // the trained tensors
	for _, s := range vqSpecs {
		if !frozen || strings.HasPrefix(s.Name, "decoder.") {
			names = append(names, s.Name)
		}
	}
	t := &Trainer{Config: cfg, Opts: opts, Dataset: ds, Params: params, Adam: NewAdam(specs, names),
		specs: specs, splits: splits, sum: newGrads(specs)}
	t.epochN = splits.Len(data.Train)
	if opts.EpochImages > 0 {
		t.epochN = min(t.epochN, opts.EpochImages)
	}
	if t.epochN < opts.Batch {
		return nil, fmt.Errorf("train: an epoch of %d images is shorter than one batch of %d", t.epochN, opts.Batch)
	}
	// Shards run in parallel, so the kernels inside each run on one thread.
	kernels.SetThreads(1)
	per := opts.Batch / opts.Shards
	for range opts.Shards {
		g := newGrads(vqSpecs)
		t.grads = append(t.grads, g)
		t.nets = append(t.nets, newVQNet(cfg.Config, params, g, per, frozen))
	}
	t.Usage = make([]int64, cfg.NumEmbeddings)
	t.x = make([]float32, opts.Batch*data.ImageLen(ds))
	t.idx = make([]int, opts.Batch)
	t.shuffle()
	return t, nil
}

// shuffle draws the order of Epoch's images from (Seed, Epoch) alone, so a
// resumed run rebuilds it exactly.
func (t *Trainer) shuffle() {
	n := t.splits.Len(data.Train)
	if len(t.perm) != n {
		t.perm = make([]int32, n)
	}
	for i := range t.perm {
		t.perm[i] = int32(i)
	}
	r := rand.New(rand.NewPCG(t.Opts.Seed, 0x5eed0000+uint64(t.Epoch)))
	r.Shuffle(n, func(i, j int) { t.perm[i], t.perm[j] = t.perm[j], t.perm[i] })
}

// LR is the learning rate of the next step: the epoch's (ExponentialLR),
// annealed toward Opts.LRFinal when the run has an anneal.
func (t *Trainer) LR() float64 {
	lr := DecayedLR(t.Opts.LR, t.Opts.Decay, t.Epoch)
	if t.Opts.LRSteps > 0 {
		lr = AnnealedLR(lr, t.Opts.LRFinal, t.Step-t.Opts.LRStart, t.Opts.LRSteps)
	}
	return lr
}

// SetLearningRate changes the learning rate of a run from its current step
// on (resume overrides): lr > 0 replaces Opts.LR, the rate before the
// per-epoch decay; steps > 0 starts a half-cosine anneal at the current step
// that reaches final after steps steps (final 0 with steps 0 leaves the
// anneal as it is). Adam's moments and step count are kept. The settings
// are validated, and stored in Opts, so checkpoints carry them.
func (t *Trainer) SetLearningRate(lr, final float64, steps int64) error {
	o := t.Opts
	if lr != 0 {
		o.LR = lr
	}
	if steps != 0 || final != 0 {
		o.LRFinal, o.LRStart, o.LRSteps = final, t.Step, steps
	}
	if err := o.validate(); err != nil {
		return err
	}
	t.Opts = o
	return nil
}

// StepsPerEpoch is the number of full batches per epoch (the rest is dropped).
func (t *Trainer) StepsPerEpoch() int { return t.epochN / t.Opts.Batch }

// TrainStep trains on the next batch.
func (t *Trainer) TrainStep() (StepResult, error) {
	if t.causal != nil {
		return t.causalStep()
	}
	if t.Offset+t.Opts.Batch > t.epochN {
		t.Epoch++
		t.Offset = 0
		t.shuffle()
	}
	for i := range t.idx {
		k, err := t.splits.At(data.Train, int(t.perm[t.Offset+i]))
		if err != nil {
			return StepResult{}, err
		}
		t.idx[i] = k
	}
	if err := data.RenderBatch(t.Dataset, t.x, t.idx); err != nil {
		return StepResult{}, err
	}
	if t.Opts.CodebookInit == CodebookInitData && t.Step%restartEvery == 0 {
		t.initCodebook(t.Step == 0)
	}
	c := t.Config
	beta := c.Losses().Beta
	nImg := len(t.x)
	nLat := t.Opts.Batch * c.EmbeddingDim * c.LatentSize() * c.LatentSize()
	per := len(t.x) / t.Opts.Shards
	sums := make([]vqSums, t.Opts.Shards)
	var wg sync.WaitGroup
	for s, net := range t.nets {
		for _, g := range t.grads[s] {
			clear(g.Data)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := t.x[s*per : (s+1)*per]
			sums[s] = net.step(x, x, beta, nImg, nLat)
		}()
	}
	wg.Wait()
	var total vqSums
	used := map[int32]bool{}
	for s, net := range t.nets {
		total.SqErr += sums[s].SqErr
		total.VQDist += sums[s].VQDist
		for _, k := range net.codes {
			used[k] = true
			t.Usage[k]++
		}
	}
	for _, name := range t.Adam.Names {
		dst := t.sum[name].Data
		copy(dst, t.grads[0][name].Data)
		for s := 1; s < len(t.grads); s++ {
			for i, v := range t.grads[s][name].Data {
				dst[i] += v
			}
		}
	}
	lr := t.LR()
	t.Adam.Update(t.Params, t.sum, lr)
	reloadNets(t.nets)
	t.Offset += t.Opts.Batch
	t.Step++
	r := StepResult{Step: t.Step, Epoch: t.Epoch, LR: lr, Recon: total.SqErr / float64(nImg),
		VQ: (1 + beta) * total.VQDist / float64(nLat), CodesUsed: len(used)}
	r.Total = r.Recon + r.VQ
	return r, nil
}

// initCodebook copies z_e vectors of the current batch, at positions drawn
// from (seed, step), into every codebook row (all, or those unused since the
// last restart), then restarts the usage count (CodebookInitData).
func (t *Trainer) initCodebook(all bool) {
	c := t.Config
	D, hw := c.EmbeddingDim, c.LatentSize()*c.LatentSize()
	net := t.nets[0]
	per := len(t.x) / t.Opts.Shards
	ze := net.encode(t.x[:per])
	r := rand.New(rand.NewPCG(t.Opts.Seed, 0xc0deb00c+uint64(t.Step)))
	code := t.Params["vq_layer.quantizers.0.embedding.weight"].Data
	for k := 0; k < c.NumEmbeddings; k++ {
		n, p := r.IntN(net.n), r.IntN(hw)
		if !all && t.Usage[k] > 0 {
			continue
		}
		for j := 0; j < D; j++ {
			code[k*D+j] = ze[(n*D+j)*hw+p]
		}
	}
	clear(t.Usage)
}
