package train

import (
	"math"
	"strconv"

	"ctvae/runtime/causal"
	"ctvae/runtime/nn"
)

// ---------------------------------------------------------------------------
// The causal transition layer for training, one sample at a time, in
// float64 (so finite-difference checks are tight; the layer is small next
// to the VQ-VAE). Forward follows docs/MODEL.md and causal.ForwardNaive,
// with training's stochastic parts:
//
//	features   x_i = Dropout(onehot(code_i) + pe_i), mask input Dropout(pe_i)
//	mask       p_i = σ(mask(onehot(a); pe_i))[code_i], m_i = hard Gumbel of p_i
//	graph      Adj_ij = m_i·D_{1+a}(x_i, x_j) + (1-m_i)·D_0(x_i, x_j)
//	           G_ij = hard Gumbel of Adj_ij, W_ij = Adj_ij·G_ij
//	GATv2 ×2   edges i→j where W_ij ≠ 0 (i ≠ j), attribute W_ij, plus a self
//	           loop with the mean incoming attribute; LeakyReLU between
//	heads      logits_i = m_i·head_{1+a}(i) + (1-m_i)·head_0(i), q = softmax
//
// A hard Gumbel sample y = onehot(argmax(l + g)) - sg(s) + s, s =
// softmax(l + g) with l = log(clamp([1-p, p], 1e-4)), passes the gradient
// of s (torch's gumbel_softmax(hard=True), tau 1). The action node of the
// official padded graph sends no messages, so it is left out: it changes no
// latent output and gets no gradient.
// ---------------------------------------------------------------------------

// ctShape is the causal layer's dimensions.
type ctShape struct {
	n, d, A, h0, h1, H int
}

func newCTShape(c causal.Config) ctShape {
	return ctShape{n: c.Nodes, d: c.NodeDim, A: c.ActionDim, h0: c.HiddenDims[0], h1: c.HiddenDims[1], H: c.ActionDim + 1}
}

// gatP is one GATv2Conv's tensors (float64): heads H, c channels per head,
// fin inputs.
type gatP struct {
	att, bias, wl, bl, wr, br, le []float64
}

// ctParams are float64 views of the causal layer's trainable tensors, or
// of their gradients, in one flat slice per tensor keyed by state_dict name.
type ctParams struct {
	s      ctShape
	t      map[string][]float64
	pe     []float64 // [n, d] (a buffer: never trained)
	maskW  []float64 // [d, A+d]
	maskB  []float64 // [d]
	discW1 [][]float64
	discB1 [][]float64
	discW2 [][]float64
	discB2 [][]float64
	g0, g2 gatP
}

// ctTrainable lists the causal tensors the trainer updates: all but the
// positional buffer and a_dense, which never reaches a latent output.
func ctTrainable(c causal.Config) []nn.Spec {
	var out []nn.Spec
	for _, s := range causal.Specs(c) {
		switch s.Name {
		case causal.Prefix + "pos_encoding.pe", causal.Prefix + "a_dense.weight", causal.Prefix + "a_dense.bias":
			continue
		}
		out = append(out, s)
	}
	return out
}

func newCTParams(c causal.Config) *ctParams {
	s := newCTShape(c)
	p := &ctParams{s: s, t: map[string][]float64{}, pe: make([]float64, s.n*s.d)}
	for _, sp := range ctTrainable(c) {
		n := 1
		for _, d := range sp.Shape {
			n *= d
		}
		p.t[sp.Name] = make([]float64, n)
	}
	g := func(name string) []float64 { return p.t[causal.Prefix+name] }
	p.maskW, p.maskB = g("mask.0.weight"), g("mask.0.bias")
	for k := 0; k <= s.A; k++ {
		pre := "graph_discovers." + strconv.Itoa(k) + "."
		p.discW1 = append(p.discW1, g(pre+"0.weight"))
		p.discB1 = append(p.discB1, g(pre+"0.bias"))
		p.discW2 = append(p.discW2, g(pre+"2.weight"))
		p.discB2 = append(p.discB2, g(pre+"2.bias"))
	}
	gat := func(m string) gatP {
		pre := "graph_transitioner." + m + "."
		return gatP{att: g(pre + "att"), bias: g(pre + "bias"), wl: g(pre + "lin_l.weight"), bl: g(pre + "lin_l.bias"),
			wr: g(pre + "lin_r.weight"), br: g(pre + "lin_r.bias"), le: g(pre + "lin_edge.weight")}
	}
	p.g0, p.g2 = gat("module_0"), gat("module_2")
	return p
}

// load copies float32 parameters into p (pe included).
func (p *ctParams) load(src nn.Params) {
	for name, dst := range p.t {
		for i, v := range src[name].Data {
			dst[i] = float64(v)
		}
	}
	pe := src[causal.Prefix+"pos_encoding.pe"].Data
	for i := range p.pe {
		p.pe[i] = float64(pe[i])
	}
}

func (p *ctParams) zero() {
	for _, v := range p.t {
		clear(v)
	}
}

// ---------------------------------------------------------------------------
// Draws: every random number of one forward pass, so a pass can be re-run
// identically (the causal batch runs forward twice) and tests can perturb
// parameters under fixed noise.
// ---------------------------------------------------------------------------

type ctDraws struct {
	keepX    []bool    // [n·d] dropout of the node features
	keepM    []bool    // [n·d] dropout of the mask's positional input
	gMask    []float64 // [n·2] Gumbel noise (g0, g1) of the mask
	gAdj     []float64 // [n·n·2] Gumbel noise of the graph
	dropout  float64   // drop probability (0: off)
	uniformT []float64 // [n·n] U of the KL target t = softmax(U)
}

func newCTDraws(s ctShape) *ctDraws {
	return &ctDraws{keepX: make([]bool, s.n*s.d), keepM: make([]bool, s.n*s.d),
		gMask: make([]float64, 2*s.n), gAdj: make([]float64, 2*s.n*s.n), uniformT: make([]float64, s.n*s.n)}
}

// gumbel turns u in [0,1) into -log(-log u), with u clamped into (0, 1)
// as MODEL.md requires to avoid NaN.
func gumbel(u float64) float64 {
	u = min(max(u, 1e-10), 1-1e-10)
	return -math.Log(-math.Log(u))
}

// fill draws everything from r (uniform [0,1) source).
func (dr *ctDraws) fill(next func() float64, dropout float64) {
	dr.dropout = dropout
	for i := range dr.keepX {
		dr.keepX[i] = next() >= dropout
	}
	for i := range dr.keepM {
		dr.keepM[i] = next() >= dropout
	}
	for i := range dr.gMask {
		dr.gMask[i] = gumbel(next())
	}
	for i := range dr.gAdj {
		dr.gAdj[i] = gumbel(next())
	}
	for i := range dr.uniformT {
		dr.uniformT[i] = next()
	}
}

// hardGumbel returns the hard sample (0 or 1) of Bernoulli(p), its soft
// sample s1 = σ((l1+g1) - (l0+g0)), l = log(clamp([1-p, p], 1e-4)), and
// the derivative of s1 with respect to p.
func hardGumbel(p, g0, g1 float64) (hard, soft, ds float64) {
	const lo = 1e-4
	l1, l0 := math.Log(max(p, lo)), math.Log(max(1-p, lo))
	z := (l1 + g1) - (l0 + g0)
	s := 1 / (1 + math.Exp(-z))
	var dz float64
	if p > lo {
		dz += 1 / p
	}
	if 1-p > lo {
		dz += 1 / (1 - p)
	}
	if l1+g1 > l0+g0 {
		hard = 1
	}
	return hard, s, s * (1 - s) * dz
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// leakyF and leakyD are LeakyReLU and its derivative without a branch: the
// sign of z is random in the attention loops, and mispredicted branches
// cost more than the arithmetic (the result can differ from z·slope or z
// in the last bit).
func leakyF(z, slope float64) float64 {
	return 0.5*(1+slope)*z + 0.5*(1-slope)*math.Abs(z)
}

func leakyD(z, slope float64) float64 {
	return 0.5*(1+slope) + 0.5*(1-slope)*math.Copysign(1, z)
}
