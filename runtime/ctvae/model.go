package ctvae

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"ctvae/runtime/causal"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

// Meta is what a weights file says about the model beyond its shapes.
type Meta struct {
	Dataset string
	// Factors are the factor names, F = ActionDim/2 of them when known.
	Factors []string
	// Actions are the action names ("scale+", "scale-", ...): index f is
	// factor f increased, index F+f factor f decreased.
	Actions []string
	// Preprocess is PreprocessNone (or "") or PreprocessOfficialPad42.
	Preprocess string
}

// Options control the stochastic steps of the causal layer.
type Options struct {
	// Sampling is causal.Mode (deterministic, the default) or causal.Sample
	// (the official Bernoulli draws).
	Sampling causal.Sampling
	// Seed seeds the generator of Sample mode.
	Seed uint64
}

// Model is the whole CT-VAE for one image at a time. It owns every buffer;
// after New, Encode, Reconstruct, Intervene and the retrieval steps allocate
// nothing. Results are views into its buffers, valid until the next call.
// A Model is not safe for concurrent use.
type Model struct {
	Config Config
	Meta   Meta

	vq    *vqvae.Model
	ct    *causal.Layer // nil for a VQ-VAE-only model
	opts  Options
	pcg   *rand.PCG
	rng   *rand.Rand
	draws *causal.Draws

	pre    []float32 // preprocessed input [C, S, S]
	codes  []int32   // [n] codes of the last encoded input
	codesY []int32   // [n] codes of a retrieval target
	out    Intervention
	ret    Retrieval
}

// seedStream is the PCG stream of the model's generator (any fixed value).
const seedStream = 0x5851f42d4c957f2d

// Intervention is the result of Intervene, Reconstruct or one traversal step.
type Intervention struct {
	Image  []float32 // [C, S, S] decoded image (Tanh output)
	Codes  []int32   // [n] predicted codes
	Input  []int32   // [n] codes the causal layer started from
	MaskP  []float32 // [n] intervention mask probabilities (zero in base mode)
	Mask   []float32 // [n] intervention mask, 0/1
	Adj    []float32 // [n, n] weighted graph W, row i = edges i -> j
	Probs  []float32 // [n, d] code distributions
	Action int       // the action, -1 for base mode
}

// New builds the model from checked parameters. A config without action_dim
// builds a VQ-VAE-only model: Intervene and Retrieve then return errors.
func New(cfg Config, params nn.Params, meta Meta, opts Options) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := nn.Check(Specs(cfg), params); err != nil {
		return nil, fmt.Errorf("ctvae: %w", err)
	}
	if err := meta.validate(cfg); err != nil {
		return nil, err
	}
	vp := nn.Params{}
	for _, s := range vqvae.Specs(cfg.Config) {
		vp[s.Name] = params[s.Name]
	}
	vq, err := vqvae.New(cfg.Config, vp, 1)
	if err != nil {
		return nil, fmt.Errorf("ctvae: %w", err)
	}
	pcg := rand.NewPCG(opts.Seed, seedStream)
	m := &Model{Config: cfg, Meta: meta, vq: vq, opts: opts, pcg: pcg, rng: rand.New(pcg),
		pre:   make([]float32, vq.ImageLen()),
		codes: make([]int32, cfg.Nodes()), codesY: make([]int32, cfg.Nodes())}
	m.out.Image = make([]float32, vq.ImageLen())
	m.out.Input = make([]int32, cfg.Nodes())
	if cfg.HasCausal() {
		cp := nn.Params{}
		for _, s := range causalSpecs(cfg) {
			cp[s.Name] = params[s.Name]
		}
		if m.ct, err = causal.New(cfg.causalConfig(), cp); err != nil {
			return nil, fmt.Errorf("ctvae: %w", err)
		}
		m.draws = causal.NewDraws(cfg.causalConfig())
	}
	return m, nil
}

func (meta Meta) validate(cfg Config) error {
	switch meta.Preprocess {
	case "", PreprocessNone:
	case PreprocessOfficialPad42:
		if cfg.ImgSize > officialCrop {
			return fmt.Errorf("ctvae: preprocess %q needs img_size <= %d, config has %d", meta.Preprocess, officialCrop, cfg.ImgSize)
		}
	default:
		return fmt.Errorf("ctvae: preprocess %q, want %q or %q", meta.Preprocess, PreprocessNone, PreprocessOfficialPad42)
	}
	if len(meta.Actions) != 0 && len(meta.Actions) != cfg.ActionDim {
		return fmt.Errorf("ctvae: %d action names for action_dim %d", len(meta.Actions), cfg.ActionDim)
	}
	if len(meta.Factors) != 0 && 2*len(meta.Factors) != cfg.ActionDim {
		return fmt.Errorf("ctvae: %d factor names for action_dim %d (want action_dim/2)", len(meta.Factors), cfg.ActionDim)
	}
	seen := map[string]bool{}
	for _, a := range meta.Actions {
		if a == "" || seen[a] {
			return fmt.Errorf("ctvae: action names %q must be distinct and non-empty", meta.Actions)
		}
		seen[a] = true
	}
	return nil
}

// HasCausal reports whether the model has the causal-transition layer.
func (m *Model) HasCausal() bool { return m.ct != nil }

// ImageLen is the number of floats of one input image, C·S·S.
func (m *Model) ImageLen() int { return m.vq.ImageLen() }

// Nodes is the number of codes per image.
func (m *Model) Nodes() int { return m.Config.Nodes() }

// NumActions is A (0 without the causal layer).
func (m *Model) NumActions() int { return m.Config.ActionDim }

// NumFactors is F = A/2.
func (m *Model) NumFactors() int { return m.Config.ActionDim / 2 }

// SetOptions changes the sampling mode and reseeds the generator.
func (m *Model) SetOptions(o Options) {
	m.opts = o
	m.pcg.Seed(o.Seed, seedStream)
}

// ActionName is the name of action a: the metadata's, or "f<k>+"/"f<k>-".
func (m *Model) ActionName(a int) string {
	if a < 0 {
		return "base"
	}
	if len(m.Meta.Actions) == m.NumActions() {
		return m.Meta.Actions[a]
	}
	F := m.NumFactors()
	if a < F {
		return "f" + strconv.Itoa(a) + "+"
	}
	return "f" + strconv.Itoa(a-F) + "-"
}

// FactorName is the name of factor f.
func (m *Model) FactorName(f int) string {
	if len(m.Meta.Factors) == m.NumFactors() {
		return m.Meta.Factors[f]
	}
	return "f" + strconv.Itoa(f)
}

// ParseAction resolves an action given by index ("3") or by name
// ("floor_hue+", or "f2-" when the weights carry no names).
func (m *Model) ParseAction(s string) (int, error) {
	if m.ct == nil {
		return 0, fmt.Errorf("ctvae: the model has no causal layer (a VQ-VAE-only file), so it has no actions")
	}
	A := m.NumActions()
	if i, err := strconv.Atoi(s); err == nil {
		if i < 0 || i >= A {
			return 0, fmt.Errorf("ctvae: action %d out of range, want 0..%d", i, A-1)
		}
		return i, nil
	}
	names := make([]string, A)
	for a := 0; a < A; a++ {
		names[a] = m.ActionName(a)
		if names[a] == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("ctvae: unknown action %q, want an index 0..%d or one of %s", s, A-1, strings.Join(names, ", "))
}

// ---------------------------------------------------------------- passes

func (m *Model) checkImage(what string, x []float32) error {
	if len(x) != m.ImageLen() {
		c := m.Config
		return fmt.Errorf("ctvae: %s has %d values, want %d (%dx%dx%d)", what, len(x), m.ImageLen(), c.InChannels, c.ImgSize, c.ImgSize)
	}
	return nil
}

// encode preprocesses x as the weights expect and writes its codes.
func (m *Model) encode(x []float32, codes []int32) {
	if m.Meta.Preprocess == PreprocessOfficialPad42 {
		PreprocessOfficial(m.pre, x, m.Config.InChannels, m.Config.ImgSize)
		x = m.pre
	}
	m.vq.Encode(x, codes)
}

// Encode returns the codes of image x [C, S, S] (values in [0, 1]).
func (m *Model) Encode(x []float32) ([]int32, error) {
	if err := m.checkImage("image", x); err != nil {
		return nil, err
	}
	m.encode(x, m.codes)
	return m.codes, nil
}

// Decode decodes codes [n] into an image; codes out of range are an error.
func (m *Model) Decode(codes []int32) ([]float32, error) {
	if len(codes) != m.Nodes() {
		return nil, fmt.Errorf("ctvae: %d codes, want %d", len(codes), m.Nodes())
	}
	for i, c := range codes {
		if c < 0 || int(c) >= m.Config.NumEmbeddings {
			return nil, fmt.Errorf("ctvae: code %d at node %d, want 0..%d", c, i, m.Config.NumEmbeddings-1)
		}
	}
	m.vq.Decode(codes, m.out.Image)
	return m.out.Image, nil
}

// ReconstructVQ is the plain VQ-VAE path: encode, quantize, decode.
func (m *Model) ReconstructVQ(x []float32) (*Intervention, error) {
	if err := m.checkImage("image", x); err != nil {
		return nil, err
	}
	m.encode(x, m.out.Input)
	m.vq.Decode(m.out.Input, m.out.Image)
	m.out = Intervention{Image: m.out.Image, Input: m.out.Input, Codes: m.out.Input, Action: -1}
	return &m.out, nil
}

// Reconstruct is the official base mode: the codes go through the causal
// layer with no action before decoding. Without the causal layer it is
// ReconstructVQ.
func (m *Model) Reconstruct(x []float32) (*Intervention, error) {
	if m.ct == nil {
		return m.ReconstructVQ(x)
	}
	return m.Intervene(x, -1)
}

// Intervene encodes x, applies action a (-1 for base mode) and decodes.
func (m *Model) Intervene(x []float32, a int) (*Intervention, error) {
	if err := m.checkImage("image", x); err != nil {
		return nil, err
	}
	if m.ct == nil {
		return nil, fmt.Errorf("ctvae: the model has no causal layer (a VQ-VAE-only file): it can reconstruct but not intervene")
	}
	m.encode(x, m.out.Input)
	return m.step(m.out.Input, a)
}

// InterveneCodes applies action a to codes [n] (already encoded) and decodes.
func (m *Model) InterveneCodes(codes []int32, a int) (*Intervention, error) {
	if m.ct == nil {
		return nil, fmt.Errorf("ctvae: the model has no causal layer (a VQ-VAE-only file): it can reconstruct but not intervene")
	}
	if len(codes) != m.Nodes() {
		return nil, fmt.Errorf("ctvae: %d codes, want %d", len(codes), m.Nodes())
	}
	copy(m.out.Input, codes)
	return m.step(m.out.Input, a)
}

func (m *Model) step(codes []int32, a int) (*Intervention, error) {
	if m.opts.Sampling == causal.Sample {
		m.draws.Fill(m.rng)
	}
	if err := m.ct.Forward(codes, a, m.opts.Sampling, m.draws); err != nil {
		return nil, fmt.Errorf("ctvae: %w", err)
	}
	o := m.ct.Out()
	m.vq.Decode(o.Codes, m.out.Image)
	m.out = Intervention{Image: m.out.Image, Input: m.out.Input, Codes: o.Codes, MaskP: o.MaskP,
		Mask: o.Mask, Adj: o.Adj, Probs: o.Probs, Action: a}
	return &m.out, nil
}

// Progress is told after each bounded step of a long operation; done counts
// finished steps out of total.
type Progress func(done, total int)

// Traverse applies action a repeatedly, like the paper's qualitative figures:
// step k starts from the codes step k-1 predicted. It returns copies of the
// steps' images and codes. It checks ctx between steps and stops with
// ctx.Err() when cancelled.
func (m *Model) Traverse(ctx context.Context, x []float32, a, steps int, progress Progress) ([]Intervention, error) {
	if steps < 1 || steps > 64 {
		return nil, fmt.Errorf("ctvae: traversal of %d steps, want 1..64", steps)
	}
	if a < 0 || a >= m.NumActions() {
		if m.ct == nil {
			return nil, fmt.Errorf("ctvae: the model has no causal layer (a VQ-VAE-only file): it can reconstruct but not traverse")
		}
		return nil, fmt.Errorf("ctvae: action %d out of range, want 0..%d", a, m.NumActions()-1)
	}
	res, err := m.Intervene(x, a)
	out := make([]Intervention, 0, steps)
	for k := 0; ; k++ {
		if err != nil {
			return nil, err
		}
		out = append(out, res.clone())
		if progress != nil {
			progress(k+1, steps)
		}
		if k+1 == steps {
			return out, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res, err = m.InterveneCodes(res.Codes, a)
	}
}

func (r *Intervention) clone() Intervention {
	c := *r
	c.Image = append([]float32(nil), r.Image...)
	c.Codes = append([]int32(nil), r.Codes...)
	c.Input = append([]int32(nil), r.Input...)
	c.MaskP = append([]float32(nil), r.MaskP...)
	c.Mask = append([]float32(nil), r.Mask...)
	c.Adj = append([]float32(nil), r.Adj...)
	c.Probs = append([]float32(nil), r.Probs...)
	return c
}
