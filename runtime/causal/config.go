// Package causal is the causal transition layer of CT-VAE (the official
// ct_layer): positional encoding, intervention mask, per-action graph
// discoverers, adjacency sampling, the two-layer GATv2 transitioner with
// head selection, and action retrieval. docs/MODEL.md is its specification;
// ForwardNaive in naive.go states it as straightforward code, and Layer is
// the fast, allocation-free implementation tied to it by tests.
//
// Node i of an image has feature x_i = onehot(code_i) + pe_i. Everything the
// official model computes from x_i through a linear map is split into a
// column of the weight picked by the code plus a per-position vector computed
// once in New; this is exact up to float32 rounding and removes almost all of
// the pairwise work of the discoverers and the node linears of GATv2 layer 0.
package causal

import (
	"fmt"
	"strconv"

	"ctvae/runtime/nn"
)

// MaxNodes is the length of the official positional-encoding buffer.
const MaxNodes = 4096

// Noise names the official noise option of the transition process.
const (
	// NoiseOff adds no noise (the official default).
	NoiseOff = "off"
	// NoiseExo adds standard normal noise to every latent node feature
	// before the GATv2 stack (not to the mask or discoverer inputs).
	NoiseExo = "exo"
	// NoiseEndo adds a node with standard normal features that receives an
	// edge of weight 1 from every latent node and sends none, exactly like
	// the action node; it therefore cannot change the latent outputs.
	NoiseEndo = "endo"
)

// Config is the shape of the causal layer.
type Config struct {
	// Nodes is n = K*h*w, the number of latent nodes (codebooks times grid).
	Nodes int
	// NodeDim is d = num_embeddings: one-hot width and output classes.
	NodeDim int
	// ActionDim is A = 2F, the number of actions.
	ActionDim int
	// HiddenDims is the official causal_hidden_dims [h0, h1]: discoverer
	// hidden width and GATv2 layer-0 channels per head.
	HiddenDims []int
	// Noise is "off" (also ""), "exo" or "endo".
	Noise string
}

// DefaultConfig is the Shapes3D configuration of docs/MODEL.md.
func DefaultConfig() Config {
	return Config{Nodes: 64, NodeDim: 64, ActionDim: 12, HiddenDims: []int{800, 100}, Noise: NoiseOff}
}

// Validate reports the first field that cannot describe a causal layer.
func (c Config) Validate() error {
	switch {
	case c.Nodes < 1 || c.Nodes > MaxNodes:
		return fmt.Errorf("causal: config Nodes = %d, want 1..%d", c.Nodes, MaxNodes)
	case c.NodeDim < 2 || c.NodeDim%2 != 0:
		// The sinusoidal table interleaves sin and cos, so d must be even.
		return fmt.Errorf("causal: config NodeDim = %d, want an even number >= 2", c.NodeDim)
	case c.ActionDim < 1:
		return fmt.Errorf("causal: config ActionDim = %d, want >= 1", c.ActionDim)
	case len(c.HiddenDims) != 2:
		return fmt.Errorf("causal: config HiddenDims = %v, want two sizes [h0 h1]", c.HiddenDims)
	case c.HiddenDims[0] < 1 || c.HiddenDims[1] < 1:
		return fmt.Errorf("causal: config HiddenDims = %v, want positive sizes", c.HiddenDims)
	}
	switch c.Noise {
	case "", NoiseOff, NoiseExo, NoiseEndo:
	default:
		return fmt.Errorf("causal: config Noise = %q, want %q, %q or %q", c.Noise, NoiseOff, NoiseExo, NoiseEndo)
	}
	return nil
}

// Sampling selects how the Bernoulli decisions (mask, graph) are taken.
type Sampling int

const (
	// Mode keeps a mask entry or an edge iff p > 0.5: deterministic.
	Mode Sampling = iota
	// Sample keeps it iff u < P1 = c(p)/(c(p)+c(1-p)), c = clamp(., 1e-4),
	// with u uniform in [0,1): the distribution of the official hard
	// Gumbel-softmax sample.
	Sample
)

func (s Sampling) String() string {
	switch s {
	case Mode:
		return "mode"
	case Sample:
		return "sample"
	}
	return "Sampling(" + strconv.Itoa(int(s)) + ")"
}

// ParseSampling maps "mode" and "sample" to a Sampling.
func ParseSampling(s string) (Sampling, error) {
	switch s {
	case "mode":
		return Mode, nil
	case "sample":
		return Sample, nil
	}
	return 0, fmt.Errorf("causal: sampling %q, want \"mode\" or \"sample\"", s)
}

// keepProb is P1 of Sample mode.
func keepProb(p float32) float32 {
	c1 := max(p, 1e-4)
	c0 := max(1-p, 1e-4)
	return c1 / (c1 + c0)
}

// keep is the Bernoulli decision for probability p (u is unused in Mode).
func keep(p float32, s Sampling, u float32) bool {
	if s == Mode {
		return p > 0.5
	}
	return u < keepProb(p)
}

// ---------------------------------------------------------------- parameters

// Prefix is the state_dict prefix of the causal layer inside the model.
const Prefix = "ct_layer."

// Specs is the parameter table of the causal layer, in state_dict order,
// with the official names (prefix "ct_layer.").
func Specs(c Config) []nn.Spec {
	d, A, h0, h1 := c.NodeDim, c.ActionDim, c.HiddenDims[0], c.HiddenDims[1]
	H := A + 1
	p := Prefix
	s := []nn.Spec{
		{Name: p + "a_dense.weight", Shape: []int{d, A}, Init: nn.InitUniformFanIn, FanIn: A},
		{Name: p + "a_dense.bias", Shape: []int{d}, Init: nn.InitUniformFanIn, FanIn: A},
		{Name: p + "pos_encoding.pe", Shape: []int{MaxNodes, 1, d}, Init: nn.InitPositional},
	}
	for k := 0; k <= A; k++ {
		g := p + "graph_discovers." + strconv.Itoa(k) + "."
		s = append(s,
			nn.Spec{Name: g + "0.weight", Shape: []int{h0, 2 * d}, Init: nn.InitUniformFanIn, FanIn: 2 * d},
			nn.Spec{Name: g + "0.bias", Shape: []int{h0}, Init: nn.InitUniformFanIn, FanIn: 2 * d},
			nn.Spec{Name: g + "2.weight", Shape: []int{1, h0}, Init: nn.InitUniformFanIn, FanIn: h0},
			nn.Spec{Name: g + "2.bias", Shape: []int{1}, Init: nn.InitUniformFanIn, FanIn: h0},
		)
	}
	s = append(s,
		nn.Spec{Name: p + "mask.0.weight", Shape: []int{d, A + d}, Init: nn.InitUniformFanIn, FanIn: A + d},
		nn.Spec{Name: p + "mask.0.bias", Shape: []int{d}, Init: nn.InitUniformFanIn, FanIn: A + d},
	)
	s = append(s, gatSpecs(p+"graph_transitioner.module_0.", d, h1, H)...)
	s = append(s, gatSpecs(p+"graph_transitioner.module_2.", h1*H, d, H)...)
	return s
}

// gatSpecs is one PyG GATv2Conv(fin -> c, heads, edge_dim 1). PyG's Linear
// with weight_initializer "glorot" and no bias initializer draws its bias
// U(-1/sqrt(fin), 1/sqrt(fin)); the conv's own bias starts at zero.
func gatSpecs(p string, fin, c, heads int) []nn.Spec {
	hc := heads * c
	return []nn.Spec{
		{Name: p + "att", Shape: []int{1, heads, c}, Init: nn.InitGlorot},
		{Name: p + "bias", Shape: []int{hc}, Init: nn.InitZeros},
		{Name: p + "lin_l.weight", Shape: []int{hc, fin}, Init: nn.InitGlorot},
		{Name: p + "lin_l.bias", Shape: []int{hc}, Init: nn.InitUniformFanIn, FanIn: fin},
		{Name: p + "lin_r.weight", Shape: []int{hc, fin}, Init: nn.InitGlorot},
		{Name: p + "lin_r.bias", Shape: []int{hc}, Init: nn.InitUniformFanIn, FanIn: fin},
		{Name: p + "lin_edge.weight", Shape: []int{hc, 1}, Init: nn.InitGlorot},
	}
}

// PositionalEncoding writes the official sinusoidal table, rows x d
// (row-major: the pe buffer without its middle axis), in float32 as PyTorch
// computes it: div[k] = exp(2k * (-ln(10000)/d)), angle = p*div[k],
// dst[p,2k] = sin(angle), dst[p,2k+1] = cos(angle) (nn.PositionalEncoding,
// which also fills InitPositional). Each float32 operation is correctly
// rounded here; PyTorch's vectorised exp/sin/cos may differ by an ulp, which
// is why New uses a checkpoint's stored buffer.
func PositionalEncoding(dst []float32, rows, d int) {
	if rows < 0 || d < 2 || d%2 != 0 || len(dst) != rows*d {
		panic("causal: PositionalEncoding: bad size")
	}
	nn.PositionalEncoding(dst, rows, d)
}

// ---------------------------------------------------------------- cost

// Cost counts multiply-accumulates for one image at a config.
type Cost struct {
	// NaiveForward is one intervention as the official dense model runs
	// it: the mask linear, two discoverers over all n^2 pairs, a_dense,
	// both GATv2 layers over n+1 nodes with every head and every edge.
	NaiveForward int64
	// Forward is this package's worst case for one intervention (every
	// edge present, no cache hits): one discoverer per row on per-node
	// projections, module_0 edge scores and its aggregation (a dense
	// GEMM per head; node linears are gathers), module_2 projections at
	// the heads read, module_2 edges.
	Forward int64
	// NaiveRetrieve is A naive interventions.
	NaiveRetrieve int64
	// Retrieve is this package's worst case for a Mode retrieval: A
	// Forwards where every node is masked by every action, so nothing but
	// the node projections is shared. Layer.MACs reports what a real
	// retrieval did.
	Retrieve int64
}

// MACs returns the cost model of c (which must be valid).
func MACs(c Config) Cost {
	n, d, A, h0, h1 := int64(c.Nodes), int64(c.NodeDim), int64(c.ActionDim), int64(c.HiddenDims[0]), int64(c.HiddenDims[1])
	H := A + 1
	c0, c1 := h1*H, d*H
	M := n + 1
	if c.Noise == NoiseEndo {
		M++
	}
	// Latent pairs (self loops replaced), latent -> extra nodes, extra loops.
	edges := n*n + n*(M-n) + (M - n)
	var k Cost
	k.NaiveForward = n*(A+d)*d + 2*n*n*(2*d*h0+h0) + A*d +
		2*M*d*c0 + edges*2*c0 + // module_0: lin_l, lin_r, score + aggregate
		2*M*c0*c1 + edges*2*c1 // module_2
	k.Forward = n*n*h0 + n*n*2*c0 + 3*n*c0*d + n*n*2*d
	if c.Noise == NoiseExo {
		k.Forward += 2 * n * d * c0
	}
	k.NaiveRetrieve = A * k.NaiveForward
	k.Retrieve = A * k.Forward
	return k
}
