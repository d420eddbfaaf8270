package causal

import (
	"fmt"
	"math"
	"math/rand/v2"

	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
)

// Outputs are the results of the last Forward, as views into the layer's
// buffers: valid until the next call, never to be written by the caller.
type Outputs struct {
	MaskP  []float32 // [n] mask probability at each node's own code (0 in base mode)
	Mask   []float32 // [n] 0/1 intervention mask m
	AdjP   []float32 // [n, n] discoverer output, row i = edges i -> j (MLP 1+a where m_i = 1, else MLP 0)
	Adj    []float32 // [n, n] weighted graph W = AdjP * G
	GAT0   []float32 // [n, h1*(A+1)] latent rows after module_0 and its LeakyReLU
	Logits []float32 // [n, d] selected head of module_2 (head 0 where m_i = 0, else 1+a)
	Probs  []float32 // [n, d] softmax of Logits
	Codes  []int32   // [n] argmax of Logits (lowest index on ties)
}

// Draws holds the random numbers of one Sample-mode pass, so that a pass is
// reproducible from them alone (golden tests feed PyTorch's uniforms here).
type Draws struct {
	Mask  []float32 // [n] uniforms in [0,1) for the mask (read only when action >= 0)
	Adj   []float32 // [n, n] uniforms in [0,1) for the graph, row-major i -> j
	Noise []float32 // standard normals: [n, d] node noise for "exo", [d] noise-node features for "endo", nil for "off"
}

// NewDraws allocates the draws for one pass of a layer with config c.
func NewDraws(c Config) *Draws {
	dr := &Draws{Mask: make([]float32, c.Nodes), Adj: make([]float32, c.Nodes*c.Nodes)}
	switch c.Noise {
	case NoiseExo:
		dr.Noise = make([]float32, c.Nodes*c.NodeDim)
	case NoiseEndo:
		dr.Noise = make([]float32, c.NodeDim)
	}
	return dr
}

// Fill draws fresh uniforms and normals from r. It allocates nothing.
func (dr *Draws) Fill(r *rand.Rand) {
	for i := range dr.Mask {
		dr.Mask[i] = r.Float32()
	}
	for i := range dr.Adj {
		dr.Adj[i] = r.Float32()
	}
	for i := range dr.Noise {
		dr.Noise[i] = float32(r.NormFloat64())
	}
}

func (dr *Draws) check(c Config) error {
	noise := 0
	switch c.Noise {
	case NoiseExo:
		noise = c.Nodes * c.NodeDim
	case NoiseEndo:
		noise = c.NodeDim
	}
	switch {
	case dr == nil:
		return fmt.Errorf("causal: Sample mode needs draws, got nil")
	case len(dr.Mask) != c.Nodes:
		return fmt.Errorf("causal: draws.Mask has %d values, want %d", len(dr.Mask), c.Nodes)
	case len(dr.Adj) != c.Nodes*c.Nodes:
		return fmt.Errorf("causal: draws.Adj has %d values, want %d", len(dr.Adj), c.Nodes*c.Nodes)
	case len(dr.Noise) != noise:
		return fmt.Errorf("causal: draws.Noise has %d values, want %d for noise %q", len(dr.Noise), noise, c.Noise)
	}
	return nil
}

// discoverer is graph_discovers.k split for per-node evaluation:
// W1 [x_i ; x_j] + b1 = (aT[c_i] + pu_i) + (bT[c_j] + pv_j), and the second
// layer's sum split as in leaky.go, so that its weights w2 scale (and
// reorder) the per-node vectors.
type discoverer struct {
	aT, bT []float32 // [d, h0]: the halves of W1, transposed so a code picks a row
	pu, pv []float32 // [n, h0]: W1_a pe_i + b1 and W1_b pe_j
	w2     signSplit // [h0]; aT, bT, pu, pv are stored as |w2|∘row in its order
	b2     float32
}

// discSlot holds one discoverer's node vectors for the current codes:
// U_i = |w2|∘u_i, V_j = |w2|∘v_j (reordered) and the linear parts w2·u_i,
// w2·v_j. Slot 0 holds MLP 0, slot 1 the last action's MLP; the work is
// O(n h0), small next to the rows (O(n^2 h0)), so the other actions' MLPs
// are not kept.
type discSlot struct {
	k      int       // discoverer held, -1 for none
	u, v   []float32 // [n, h0]
	lu, lv []float64 // [n]
	uok    []bool    // [n] u_i computed: only the rows asked for need it
}

// gat is one GATv2Conv's parameters (raw views into the params).
type gat struct {
	att, bias, wl, bl, wr, br, le []float32
}

func gatParams(p nn.Params, prefix string) gat {
	g := func(s string) []float32 { return p[prefix+s].Data }
	return gat{att: g("att"), bias: g("bias"), wl: g("lin_l.weight"), bl: g("lin_l.bias"),
		wr: g("lin_r.weight"), br: g("lin_r.bias"), le: g("lin_edge.weight")}
}

// Layer is the causal transition layer for one image at a time. It owns
// every buffer; Forward and the retrieval steps allocate nothing. A Layer is
// not safe for concurrent use.
type Layer struct {
	cfg               Config
	n, d, A, h0, h1   int
	H, c0             int // heads A+1; layer-0 width h1*H
	exo               bool
	aW, aB            []float32 // a_dense [d, A], [d]
	maskW, maskPE     []float32 // mask weight [d, A+d]; [n, d] = W_pe pe_i + b
	disc              []discoverer
	slots             [2]discSlot
	g0, g1            gat
	wl1P, wr1P        [][]float32 // per head h: module_2 lin_l/lin_r block h, transposed and packed (kernels.PackB)
	l0T, r0T          []float32   // [d, c0] module_0 lin_l/lin_r weights, transposed
	l0PE, r0PE        []float32   // [n, c0] W pe_i + b for module_0 lin_l/lin_r
	codes             []int32     // codes the caches below belong to
	haveCodes         bool
	cleanNodes        bool         // xl0/xr0 hold noise-free projections of codes
	xl0, xr0          []float32    // [n, c0] module_0 source/target projections
	xl0P              [][]float32  // per head h: xl0's columns h*h1.. packed by kernels.PackB (layer0's aggregation B)
	att0, att1        signSplit    // module_0 / module_2 att, per head (leaky.go)
	le0s, le1s        []float32    // [c0], [H*d] |att|∘lin_edge in att order
	le0Lin, le1Lin    []float64    // [H] att·lin_edge per head
	xl0s, xr0s        []float32    // [n, c0] |att|∘xl0, |att|∘xr0 in att order
	xl0Lin, xr0Lin    []float64    // [n, H] att·xl0, att·xr0 per node and head
	xl1s              [2][]float32 // [n, d] |att|∘xl1 at the slot's head
	xl1Lin            [2][]float64 // [n]
	xr1s              []float32    // [n, d] |att|∘xr1 at each node's head
	xr1Lin            []float64    // [n]
	row0, rowA        []float32    // [n, n] cached discoverer rows: MLP 0, MLP 1+rowAct
	row0OK, rowAOK    []bool
	rowAct            int
	eScore            []float32 // [n, n, H] module_0 scores of edge i -> j (self loop at j -> j)
	eAttr             []float32 // [n, n] attribute the cached score was computed with
	eOK               []bool
	m                 []bool
	src               []int32   // [n, n] per target j: its sources, self loop last
	attr              []float32 // [n, n] their edge attributes
	cnt               []int     // [n] sources per target, self loop included
	score             []float32 // [(n+1), H] scores of one target's edges
	batRows           []int32   // [n+1 rounded up to 4] an EdgeSums batch: source rows,
	batT, batS        []float32 // their edge attributes, the sums (per head)
	pairS0, pairS1    []float32 // a PairSums batch's sums (rows 0 and 1)
	att               []float32 // [n, n+1, H] module_0 attention of each target's incoming edges (src order)
	apack             []float32 // [n, n] attention rows of the dense recomputed targets, one head, over all sources
	g0src             []int32   // [n, n] per target: the sources gat0's row was computed with
	g0attr            []float32 // [n, n] and their attributes
	g0cnt             []int     // [n]
	g0ok              []bool    // [n] gat0 row j is valid for the current codes
	g0base            []bool    // [n] gat0 row j was computed with no masked source: worth keeping in alt
	alt               altRows
	altSwaps          int       // rows swapped back in from alt (for tests)
	redo              []int32   // targets whose gat0 row this pass recomputes
	pend              []int32   // one target's incoming edges whose module_0 score is not cached
	wbuf              []float32 // [n] one target's attention weights at one head
	smx, ssum         []float32 // [H] softmaxEdges' maxima and sums per head
	sbuf              []float64 // [(n+1)*H] softmaxEdges' exponentials
	dense             []int32   // those aggregated by the dense GEMM
	xl1ok, xr1ok      [2][]bool // [n] module_2 projections valid for gat0's row at slotHead
	slotHead          [2]int    // head the module_2 projections of each slot were computed at
	gat0, pack        []float32 // [n, c0]
	ptmp              []float32 // [n, d]
	xl1               [2][]float32
	xr1               [2][]float32 // [n, d] module_2 target projections at the slot's head
	need              [2][]bool
	rows              []int32
	actL, actR, actIn []float32 // action-node scratch for ActionNodeGAT0
	lastAction        int
	out               Outputs
	macs              int64
	ret               retrieval
}

// New checks params against Specs(c) and builds a layer with every buffer
// and per-position projection precomputed.
func New(c Config, params nn.Params) (*Layer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := nn.Check(Specs(c), params); err != nil {
		return nil, fmt.Errorf("causal: %w", err)
	}
	n, d, A, h0, h1 := c.Nodes, c.NodeDim, c.ActionDim, c.HiddenDims[0], c.HiddenDims[1]
	H := A + 1
	c0 := h1 * H
	l := &Layer{cfg: c, n: n, d: d, A: A, h0: h0, h1: h1, H: H, c0: c0, exo: c.Noise == NoiseExo}
	l.cfg.HiddenDims = append([]int(nil), c.HiddenDims...)
	p := func(s string) []float32 { return params[Prefix+s].Data }
	pe := p("pos_encoding.pe")[:n*d] // [n, d]: rows 0..n-1 of [4096, 1, d]

	l.aW, l.aB = p("a_dense.weight"), p("a_dense.bias")

	l.maskW = p("mask.0.weight")
	l.maskPE = make([]float32, n*d)
	kernels.GEMM(false, true, n, d, d, pe, d, l.maskW[A:], A+d, 0, l.maskPE, d)
	addBias(l.maskPE, p("mask.0.bias"))

	l.disc = make([]discoverer, H)
	for k := range l.disc {
		g := "graph_discovers." + fmt.Sprint(k) + "."
		w1, b1 := p(g+"0.weight"), p(g+"0.bias") // [h0, 2d]
		ds := &l.disc[k]
		ds.aT, ds.bT = make([]float32, d*h0), make([]float32, d*h0)
		for h := 0; h < h0; h++ {
			for c := 0; c < d; c++ {
				ds.aT[c*h0+h] = w1[h*2*d+c]
				ds.bT[c*h0+h] = w1[h*2*d+d+c]
			}
		}
		ds.pu, ds.pv = make([]float32, n*h0), make([]float32, n*h0)
		kernels.GEMM(false, true, n, h0, d, pe, d, w1, 2*d, 0, ds.pu, h0)
		addBias(ds.pu, b1)
		kernels.GEMM(false, true, n, h0, d, pe, d, w1[d:], 2*d, 0, ds.pv, h0)
		ds.w2, ds.b2 = newSignSplit(p(g+"2.weight"), 1, h0), p(g + "2.bias")[0]
		// Scale and reorder the halves once, so that a slot's node vectors
		// are sums of two rows: |w2|∘(a + p) = |w2|∘a + |w2|∘p up to rounding.
		tmp := make([]float32, h0)
		for _, m := range [][]float32{ds.aT, ds.bT, ds.pu, ds.pv} {
			for r := 0; r < len(m); r += h0 {
				ds.w2.scale(tmp, m[r:r+h0], 0)
				copy(m[r:r+h0], tmp)
			}
		}
	}
	for k := range l.slots {
		l.slots[k] = discSlot{k: -1, u: make([]float32, n*h0), v: make([]float32, n*h0), lu: make([]float64, n), lv: make([]float64, n), uok: make([]bool, n)}
	}

	l.g0 = gatParams(params, Prefix+"graph_transitioner.module_0.")
	l.g1 = gatParams(params, Prefix+"graph_transitioner.module_2.")
	l.l0T, l.r0T = transpose(l.g0.wl, c0, d), transpose(l.g0.wr, c0, d)
	l.l0PE, l.r0PE = make([]float32, n*c0), make([]float32, n*c0)
	kernels.GEMM(false, true, n, c0, d, pe, d, l.g0.wl, d, 0, l.l0PE, c0)
	addBias(l.l0PE, l.g0.bl)
	kernels.GEMM(false, true, n, c0, d, pe, d, l.g0.wr, d, 0, l.r0PE, c0)
	addBias(l.r0PE, l.g0.br)

	// module_2's projections multiply by one head's [d, c0] block at a
	// time, every call: pack each block once as the GEMM's B.
	for h := 0; h < H; h++ {
		for _, wp := range []struct {
			dst *[][]float32
			w   []float32
		}{{&l.wl1P, l.g1.wl}, {&l.wr1P, l.g1.wr}} {
			bp := make([]float32, kernels.PackedBSize(c0, d))
			kernels.PackB(bp, true, c0, d, wp.w[h*d*c0:(h+1)*d*c0], c0)
			*wp.dst = append(*wp.dst, bp)
		}
	}

	l.att0, l.att1 = newSignSplit(l.g0.att, H, h1), newSignSplit(l.g1.att, H, d)
	l.le0s, l.le1s = make([]float32, c0), make([]float32, H*d)
	l.le0Lin, l.le1Lin = make([]float64, H), make([]float64, H)
	for h := 0; h < H; h++ {
		l.le0Lin[h] = l.att0.scale(l.le0s[h*h1:(h+1)*h1], l.g0.le[h*h1:(h+1)*h1], h)
		l.le1Lin[h] = l.att1.scale(l.le1s[h*d:(h+1)*d], l.g1.le[h*d:(h+1)*d], h)
	}
	l.xl0s, l.xr0s = make([]float32, n*c0), make([]float32, n*c0)
	l.xl0Lin, l.xr0Lin = make([]float64, n*H), make([]float64, n*H)
	l.xl1s = [2][]float32{make([]float32, n*d), make([]float32, n*d)}
	l.xl1Lin = [2][]float64{make([]float64, n), make([]float64, n)}
	l.xr1s, l.xr1Lin = make([]float32, n*d), make([]float64, n)

	l.codes = make([]int32, n)
	l.xl0, l.xr0 = make([]float32, n*c0), make([]float32, n*c0)
	l.xl0P = make([][]float32, H)
	for h := range l.xl0P {
		l.xl0P[h] = make([]float32, kernels.PackedBSize(n, h1))
	}
	l.row0, l.rowA = make([]float32, n*n), make([]float32, n*n)
	l.row0OK, l.rowAOK = make([]bool, n), make([]bool, n)
	l.eScore, l.eAttr, l.eOK = make([]float32, n*n*H), make([]float32, n*n), make([]bool, n*n)
	l.m = make([]bool, n)
	l.src, l.attr, l.cnt = make([]int32, n*n), make([]float32, n*n), make([]int, n)
	l.score = make([]float32, (n+1)*H)
	bat := (n + 1 + 3) / 4 * 4
	l.batRows, l.batT, l.batS = make([]int32, bat), make([]float32, bat), make([]float32, H*bat)
	l.pairS0, l.pairS1 = make([]float32, bat), make([]float32, bat)
	l.att, l.apack = make([]float32, n*(n+1)*H), make([]float32, n*n)
	l.g0src, l.g0attr, l.g0cnt, l.g0ok = make([]int32, n*n), make([]float32, n*n), make([]int, n), make([]bool, n)
	l.redo, l.dense, l.pend = make([]int32, 0, n), make([]int32, 0, n), make([]int32, 0, n)
	l.wbuf = make([]float32, n)
	l.smx, l.ssum, l.sbuf = make([]float32, H), make([]float32, H), make([]float64, (n+1)*H)
	l.g0base = make([]bool, n)
	l.alt = altRows{ok: make([]bool, n), base: make([]bool, n), src: make([]int32, n*n), attr: make([]float32, n*n), cnt: make([]int, n),
		gat0: make([]float32, n*c0), xl1: make([]float32, n*d), xl1s: make([]float32, n*d), xl1Lin: make([]float64, n),
		xl1ok: make([]bool, n), xr1: make([]float32, n*d), xr1ok: make([]bool, n)}
	l.xl1ok = [2][]bool{make([]bool, n), make([]bool, n)}
	l.xr1ok = [2][]bool{make([]bool, n), make([]bool, n)}
	l.slotHead = [2]int{-1, -1}
	l.gat0, l.pack = make([]float32, n*c0), make([]float32, n*c0)
	l.ptmp = make([]float32, n*d)
	l.xl1 = [2][]float32{make([]float32, n*d), make([]float32, n*d)}
	l.xr1 = [2][]float32{make([]float32, n*d), make([]float32, n*d)}
	l.need = [2][]bool{make([]bool, n), make([]bool, n)}
	l.rows = make([]int32, 0, n)
	l.actL, l.actR, l.actIn = make([]float32, c0), make([]float32, c0), make([]float32, d)
	l.out = Outputs{
		MaskP: make([]float32, n), Mask: make([]float32, n),
		AdjP: make([]float32, n*n), Adj: make([]float32, n*n),
		GAT0: l.gat0, Logits: make([]float32, n*d), Probs: make([]float32, n*d),
		Codes: make([]int32, n),
	}
	l.ret.init(l)
	return l, nil
}

// Config returns the layer's configuration.
func (l *Layer) Config() Config { return l.cfg }

// Out returns the outputs of the last Forward (views, see Outputs).
func (l *Layer) Out() *Outputs { return &l.out }

// MACs returns the multiply-accumulates performed by the last Forward, or
// by the retrieval since its Begin.
func (l *Layer) MACs() int64 { return l.macs }

// addBias adds b to each row of x (rows of len(b)).
func addBias(x, b []float32) {
	for r := 0; r < len(x); r += len(b) {
		row := x[r : r+len(b)]
		for i, v := range b {
			row[i] += v
		}
	}
}

func transpose(w []float32, rows, cols int) []float32 {
	t := make([]float32, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			t[c*rows+r] = w[r*cols+c]
		}
	}
	return t
}

func (l *Layer) checkInput(codes []int32, action int) error {
	if len(codes) != l.n {
		return fmt.Errorf("causal: codes has %d nodes, want %d", len(codes), l.n)
	}
	for i, c := range codes {
		if c < 0 || int(c) >= l.d {
			return fmt.Errorf("causal: codes[%d] = %d, want a code in [0, %d)", i, c, l.d)
		}
	}
	if action < -1 || action >= l.A {
		return fmt.Errorf("causal: action %d, want -1 (base mode) or an action in [0, %d)", action, l.A)
	}
	return nil
}

// Forward runs the layer on one image's node codes [n] (raster order over
// (K*h, w)) with action a in [0, A) or -1 for base mode. In Sample mode dr
// holds the random numbers (see Draws.Fill); in Mode it is ignored and may
// be nil, and "exo" noise is replaced by its mean, zero. Results are in Out.
//
// Work that depends only on the codes (node projections, discoverer rows,
// module_0 edge scores) is cached across calls with the same codes, so a
// sequence of actions on one image pays for it once. So is, per target,
// module_0's output row while the target's incoming edges stay the same,
// and module_2's projections of that row at head 0 (and at head 1+a while
// the action stays): with a sparse mask most targets keep their edges from
// one action to the next. Reused values are those a recomputation would
// give, bit for bit as long as kernels.GEMM rounds a row the same wherever
// it sits in A (natively it does; the wasm micro-kernel sums the first row
// of its 3-row tile in float32 and the others in float64, so there a reused
// row may differ from a recomputed one in the last bits).
func (l *Layer) Forward(codes []int32, action int, s Sampling, dr *Draws) error {
	if err := l.checkInput(codes, action); err != nil {
		return err
	}
	switch s {
	case Mode:
	case Sample:
		if err := dr.check(l.cfg); err != nil {
			return err
		}
	default:
		return fmt.Errorf("causal: sampling %d, want Mode or Sample", int(s))
	}
	l.macs = 0
	l.forward(codes, action, s, dr)
	return nil
}

// ---------------------------------------------------------------- forward

func (l *Layer) forward(codes []int32, action int, s Sampling, dr *Draws) {
	var noise []float32
	if l.exo && s == Sample {
		noise = dr.Noise
	}
	l.setCodes(codes, noise)
	l.lastAction = action
	l.maskStep(codes, action, s, dr)
	l.graphStep(action, s, dr)
	l.layer0()
	l.layer1(action)
	o := &l.out
	copy(o.Probs, o.Logits)
	kernels.Softmax(o.Probs, l.n, l.d)
	for i := 0; i < l.n; i++ {
		row := o.Logits[i*l.d : (i+1)*l.d]
		best := 0
		for k, v := range row {
			if v > row[best] {
				best = k
			}
		}
		o.Codes[i] = int32(best)
	}
}

// setCodes refreshes the node projections and invalidates the caches that
// belong to other codes. noise ([n, d], exo only) makes the module_0
// projections one-off: W(onehot + pe + eps) = W[:,code] + W pe + W eps.
func (l *Layer) setCodes(codes []int32, noise []float32) {
	same := l.haveCodes
	for i := 0; same && i < l.n; i++ {
		same = codes[i] == l.codes[i]
	}
	if !same {
		copy(l.codes, codes)
		l.haveCodes = true
		l.slots[0].k, l.slots[1].k = -1, -1
		clear(l.row0OK)
		clear(l.rowAOK)
	}
	if same && l.cleanNodes && noise == nil {
		return
	}
	c0 := l.c0
	for i, c := range codes {
		xl, xr := l.xl0[i*c0:(i+1)*c0], l.xr0[i*c0:(i+1)*c0]
		lc, rc := l.l0T[int(c)*c0:(int(c)+1)*c0], l.r0T[int(c)*c0:(int(c)+1)*c0]
		lp, rp := l.l0PE[i*c0:(i+1)*c0], l.r0PE[i*c0:(i+1)*c0]
		for k := range xl {
			xl[k] = lc[k] + lp[k]
			xr[k] = rc[k] + rp[k]
		}
	}
	// Cached edge scores and rows belong to the old projections.
	clear(l.eOK)
	clear(l.g0ok)
	clear(l.alt.ok)
	l.cleanNodes = noise == nil
	if noise != nil {
		kernels.GEMM(false, true, l.n, c0, l.d, noise, l.d, l.g0.wl, l.d, 1, l.xl0, c0)
		kernels.GEMM(false, true, l.n, c0, l.d, noise, l.d, l.g0.wr, l.d, 1, l.xr0, c0)
		l.macs += 2 * int64(l.n*l.d*c0)
	}
	for h, bp := range l.xl0P {
		kernels.PackB(bp, false, l.n, l.h1, l.xl0[h*l.h1:], c0)
	}
	for i := 0; i < l.n; i++ {
		for h := 0; h < l.H; h++ {
			o := i*c0 + h*l.h1
			l.xl0Lin[i*l.H+h] = l.att0.scale(l.xl0s[o:o+l.h1], l.xl0[o:o+l.h1], h)
			l.xr0Lin[i*l.H+h] = l.att0.scale(l.xr0s[o:o+l.h1], l.xr0[o:o+l.h1], h)
		}
	}
}

// maskStep: p_i = sigmoid(W[c_i, :] [onehot(a); pe_i] + b[c_i])
// = sigmoid(W[c_i, a] + maskPE[i, c_i]).
func (l *Layer) maskStep(codes []int32, action int, s Sampling, dr *Draws) {
	o := &l.out
	if action < 0 {
		clear(o.MaskP)
		clear(o.Mask)
		clear(l.m)
		return
	}
	w := l.A + l.d
	for i, c := range codes {
		z := l.maskW[int(c)*w+action] + l.maskPE[i*l.d+int(c)]
		p := float32(1 / (1 + kernels.Exp(-float64(z))))
		var u float32
		if s == Sample {
			u = dr.Mask[i]
		}
		o.MaskP[i] = p
		l.m[i] = keep(p, s, u)
		o.Mask[i] = b2f(l.m[i])
	}
}

func b2f(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// graphStep fills AdjP (one discoverer per row) and the sampled graph W,
// then lists each target's incoming edges for the GATv2 layers.
func (l *Layer) graphStep(action int, s Sampling, dr *Draws) {
	n := l.n
	o := &l.out
	if action != l.rowAct {
		clear(l.rowAOK)
		l.rowAct = action
	}
	p0, pA := l.rows[:0], l.pend[:0] // rows to compute (scratch, see layer0 and layer1)
	for i := 0; i < n; i++ {
		if l.m[i] && !l.rowAOK[i] {
			pA = append(pA, int32(i))
		} else if !l.m[i] && !l.row0OK[i] {
			p0 = append(p0, int32(i))
		}
	}
	l.discoverRows(l.row0, l.row0OK, 0, p0)
	l.discoverRows(l.rowA, l.rowAOK, 1+action, pA)
	l.rows, l.pend = p0, pA
	for i := 0; i < n; i++ {
		row := l.row0
		if l.m[i] {
			row = l.rowA
		}
		copy(o.AdjP[i*n:(i+1)*n], row[i*n:(i+1)*n])
	}
	for i, p := range o.AdjP {
		var u float32
		if s == Sample {
			u = dr.Adj[i]
		}
		if keep(p, s, u) {
			o.Adj[i] = p
		} else {
			o.Adj[i] = 0
		}
	}
	// Edge i -> j iff W[i,j] != 0; self loops are replaced by one whose
	// attribute is the mean of the target's other incoming attributes.
	for j := 0; j < n; j++ {
		src, attr := l.src[j*n:(j+1)*n], l.attr[j*n:(j+1)*n]
		c := 0
		var sum float32
		for i := 0; i < n; i++ {
			if w := o.Adj[i*n+j]; w != 0 && i != j {
				src[c], attr[c] = int32(i), w
				sum += w
				c++
			}
		}
		var mean float32
		if c > 0 {
			mean = sum / float32(c)
		}
		src[c], attr[c] = int32(j), mean
		l.cnt[j] = c + 1
	}
}

// fillSlot computes discoverer k's target vectors V_j for the current codes;
// the source vectors U_i follow per row in discoverRow.
func (l *Layer) fillSlot(sl *discSlot, k int) {
	ds := &l.disc[k]
	h0 := l.h0
	for node, c := range l.codes {
		v := sl.v[node*h0 : (node+1)*h0]
		kernels.Add(v, ds.bT[int(c)*h0:(int(c)+1)*h0], ds.pv[node*h0:(node+1)*h0])
		sl.lv[node] = ds.w2.signedSum(v, 0)
	}
	clear(sl.uok)
	sl.k = k
}

// discoverRow evaluates discoverer k on the pairs (i, j), j = 0..n-1:
// dst[j] = sigmoid(b2 + Σ_h w2[h] LeakyReLU(u_i[h] + v_j[h])), split as in
// leaky.go: b2 + 0.505 (w2·u_i + w2·v_j) + 0.495 Σ_h sgn(w2[h]) |U_ih + V_jh|.
func (l *Layer) discoverRow(dst []float32, k, i int) {
	sl := l.slot(k)
	ds := &l.disc[k]
	h0, q, neg := l.h0, ds.w2.q[0], ds.w2.tailNeg[0]
	l.sourceVector(sl, k, i)
	u, v := sl.u[i*h0:(i+1)*h0], sl.v
	lu, b2 := sl.lu[i], float64(ds.b2)
	j := 0
	for ; j+4 <= len(dst); j += 4 {
		a0, a1, a2, a3 := absSum4(u, v[j*h0:(j+1)*h0], v[(j+1)*h0:(j+2)*h0], v[(j+2)*h0:(j+3)*h0], v[(j+3)*h0:(j+4)*h0], q, neg)
		dst[j] = splitScore(b2, lu+sl.lv[j], a0, 0.01)
		dst[j+1] = splitScore(b2, lu+sl.lv[j+1], a1, 0.01)
		dst[j+2] = splitScore(b2, lu+sl.lv[j+2], a2, 0.01)
		dst[j+3] = splitScore(b2, lu+sl.lv[j+3], a3, 0.01)
	}
	for ; j < len(dst); j++ {
		dst[j] = splitScore(b2, lu+sl.lv[j], absSum(u, v[j*h0:(j+1)*h0], q, neg), 0.01)
	}
	kernels.Sigmoid(dst)
	l.macs += int64(len(dst) * h0)
}

// discoverRows computes discoverer k's rows i in list into rows [n, n]
// and marks them in ok: two rows at a time (discoverRowPair), the last
// alone.
func (l *Layer) discoverRows(rows []float32, ok []bool, k int, list []int32) {
	n := l.n
	r := 0
	for ; r+2 <= len(list); r += 2 {
		i0, i1 := int(list[r]), int(list[r+1])
		l.discoverRowPair(rows[i0*n:(i0+1)*n], rows[i1*n:(i1+1)*n], k, i0, i1)
	}
	if r < len(list) {
		i := int(list[r])
		l.discoverRow(rows[i*n:(i+1)*n], k, i)
	}
	for _, i := range list {
		ok[i] = true
	}
}

// slot returns the slot holding discoverer k's target vectors, filling it
// when it holds another one.
func (l *Layer) slot(k int) *discSlot {
	sl := &l.slots[0]
	if k != 0 {
		sl = &l.slots[1]
	}
	if sl.k != k {
		l.fillSlot(sl, k)
	}
	return sl
}

// sourceVector computes discoverer k's source vector U_i (and its linear
// part) in slot sl unless it is there.
func (l *Layer) sourceVector(sl *discSlot, k, i int) {
	if sl.uok[i] {
		return
	}
	ds, h0 := &l.disc[k], l.h0
	u := sl.u[i*h0 : (i+1)*h0]
	c := int(l.codes[i])
	kernels.Add(u, ds.aT[c*h0:(c+1)*h0], ds.pu[i*h0:(i+1)*h0])
	sl.lu[i] = ds.w2.signedSum(u, 0)
	sl.uok[i] = true
}

// discoverRowPair is discoverRow for two rows i0, i1 of discoverer k at
// once (absSum8: each target vector is loaded once for both), bit for bit.
func (l *Layer) discoverRowPair(dst0, dst1 []float32, k, i0, i1 int) {
	sl := l.slot(k)
	ds := &l.disc[k]
	h0, q, neg := l.h0, ds.w2.q[0], ds.w2.tailNeg[0]
	l.sourceVector(sl, k, i0)
	l.sourceVector(sl, k, i1)
	u0, u1, v := sl.u[i0*h0:(i0+1)*h0], sl.u[i1*h0:(i1+1)*h0], sl.v
	lu0, lu1, b2 := sl.lu[i0], sl.lu[i1], float64(ds.b2)
	dst1 = dst1[:len(dst0)]
	count := len(dst0) / 4 * 4
	s0, s1 := l.pairS0[:count], l.pairS1[:count]
	pairSums(u0, u1, v, h0, count, q, neg, s0, s1)
	for j := 0; j < count; j++ {
		dst0[j] = splitScore(b2, lu0+sl.lv[j], s0[j], 0.01)
		dst1[j] = splitScore(b2, lu1+sl.lv[j], s1[j], 0.01)
	}
	for j := count; j < len(dst0); j++ {
		vj := v[j*h0 : (j+1)*h0]
		dst0[j] = splitScore(b2, lu0+sl.lv[j], absSum(u0, vj, q, neg), 0.01)
		dst1[j] = splitScore(b2, lu1+sl.lv[j], absSum(u1, vj, q, neg), 0.01)
	}
	kernels.Sigmoid(dst0)
	kernels.Sigmoid(dst1)
	l.macs += int64(2 * len(dst0) * h0)
}

// attScore is Σ_c att[c] LeakyReLU_0.2(xl[c] + xr[c] + le[c]·w): the GATv2
// score of one edge at one head.
func attScore(xl, xr, le, att []float32, w float32) float32 {
	xr = xr[:len(att)]
	xl = xl[:len(att)]
	le = le[:len(att)]
	var s0, s1, s2, s3 float32
	c := 0
	for ; c+4 <= len(att); c += 4 {
		z0 := xl[c] + xr[c] + le[c]*w
		z1 := xl[c+1] + xr[c+1] + le[c+1]*w
		z2 := xl[c+2] + xr[c+2] + le[c+2]*w
		z3 := xl[c+3] + xr[c+3] + le[c+3]*w
		if z0 < 0 {
			z0 *= 0.2
		}
		if z1 < 0 {
			z1 *= 0.2
		}
		if z2 < 0 {
			z2 *= 0.2
		}
		if z3 < 0 {
			z3 *= 0.2
		}
		s0 += att[c] * z0
		s1 += att[c+1] * z1
		s2 += att[c+2] * z2
		s3 += att[c+3] * z3
	}
	for ; c < len(att); c++ {
		z := xl[c] + xr[c] + le[c]*w
		if z < 0 {
			z *= 0.2
		}
		s0 += att[c] * z
	}
	return (s0 + s1) + (s2 + s3)
}

// softmaxEdges turns scores [edges, heads] into attention weights over the
// edges, per head (PyG's softmax; its +1e-16 cannot change a sum >= 1).
// The installed EdgeSoftmax does a prefix of the heads, SoftmaxEdgesGo the
// rest.
func (l *Layer) softmaxEdges(sc []float32, edges, heads int) {
	from := edgeSoftmax(sc, edges, heads)
	SoftmaxEdgesGo(sc, edges, heads, from, l.smx, l.ssum, l.sbuf)
}

// SoftmaxEdgesGo is softmaxEdges in Go for the heads [from, heads) of the
// scores sc [edges, heads]: w = e^(s - max) / Σ e^(s - max), the
// exponentials in float64 (kernels.ExpInPlace) and the rest in float32,
// each head's sum in edge order. mx and sum hold at least heads floats,
// buf at least edges·(heads-from); their contents are scratch.
func SoftmaxEdgesGo(sc []float32, edges, heads, from int, mx, sum []float32, buf []float64) {
	w := heads - from
	if w <= 0 {
		return
	}
	sc = sc[:edges*heads]
	mx, sum, buf = mx[:w], sum[:w], buf[:edges*w]
	for h := range mx {
		mx[h], sum[h] = float32(math.Inf(-1)), 0
	}
	for e := 0; e < edges; e++ {
		for h, v := range sc[e*heads+from : (e+1)*heads] {
			if v > mx[h] { // not max(): a runtime call under wasm; same result (a NaN score gives NaN weights either way)
				mx[h] = v
			}
		}
	}
	for e := 0; e < edges; e++ {
		b := buf[e*w : (e+1)*w]
		for h, v := range sc[e*heads+from : (e+1)*heads] {
			b[h] = float64(v - mx[h])
		}
	}
	kernels.ExpInPlace(buf)
	for e := 0; e < edges; e++ {
		row, b := sc[e*heads+from:(e+1)*heads], buf[e*w:(e+1)*w]
		for h := range row {
			v := float32(b[h])
			row[h] = v
			sum[h] += v
		}
	}
	for e := 0; e < edges; e++ {
		row := sc[e*heads+from : (e+1)*heads]
		for h := range row {
			row[h] /= sum[h]
		}
	}
}

// axpy4: y += (a0·x0 + a1·x1) + (a2·x2 + a3·x3), one load and store of y
// for four products (with axpy, the twin of gatherRows4).
func axpy4(y []float32, a0, a1, a2, a3 float32, x0, x1, x2, x3 []float32) {
	x0, x1, x2, x3 = x0[:len(y)], x1[:len(y)], x2[:len(y)], x3[:len(y)]
	for k := range y {
		y[k] += (a0*x0[k] + a1*x1[k]) + (a2*x2[k] + a3*x3[k])
	}
}

// gatherRows sets out[c] = Σ_e w[e]·x[src[e]·stride + c], summed in e
// order from zero: the axpys y += w[e]·x_src[e] over a cleared y, bit for
// bit, with eight sums in registers instead of a load and a store of y per
// product (under wasm several times faster).
func gatherRows(out, w []float32, src []int32, x []float32, stride int) {
	d := len(out)
	src = src[:len(w)]
	c := 0
	for ; c+8 <= d; c += 8 {
		var s0, s1, s2, s3, s4, s5, s6, s7 float32
		for e, i := range src {
			a, r := w[e], x[int(i)*stride+c:int(i)*stride+c+8:int(i)*stride+c+8]
			s0 += a * r[0]
			s1 += a * r[1]
			s2 += a * r[2]
			s3 += a * r[3]
			s4 += a * r[4]
			s5 += a * r[5]
			s6 += a * r[6]
			s7 += a * r[7]
		}
		o := out[c : c+8 : c+8]
		o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7] = s0, s1, s2, s3, s4, s5, s6, s7
	}
	for ; c < d; c++ {
		var s0 float32
		for e, i := range src {
			s0 += w[e] * x[int(i)*stride+c]
		}
		out[c] = s0
	}
}

// gatherRows4 is gatherRows with the edges summed as axpy4 sums them:
// y += (w0·x0 + w1·x1) + (w2·x2 + w3·x3) for each whole group of four,
// then y += w·x for the rest, bit for bit.
func gatherRows4(out, w []float32, src []int32, x []float32, stride int) {
	d := len(out)
	src = src[:len(w)]
	g := len(src) / 4 * 4
	c := 0
	for ; c+4 <= d; c += 4 {
		var s0, s1, s2, s3 float32
		for e := 0; e < g; e += 4 {
			a0, a1, a2, a3 := w[e], w[e+1], w[e+2], w[e+3]
			i0, i1, i2, i3 := int(src[e])*stride+c, int(src[e+1])*stride+c, int(src[e+2])*stride+c, int(src[e+3])*stride+c
			r0, r1, r2, r3 := x[i0:i0+4:i0+4], x[i1:i1+4:i1+4], x[i2:i2+4:i2+4], x[i3:i3+4:i3+4]
			s0 += (a0*r0[0] + a1*r1[0]) + (a2*r2[0] + a3*r3[0])
			s1 += (a0*r0[1] + a1*r1[1]) + (a2*r2[1] + a3*r3[1])
			s2 += (a0*r0[2] + a1*r1[2]) + (a2*r2[2] + a3*r3[2])
			s3 += (a0*r0[3] + a1*r1[3]) + (a2*r2[3] + a3*r3[3])
		}
		for e := g; e < len(src); e++ {
			a, i := w[e], int(src[e])*stride+c
			r := x[i : i+4 : i+4]
			s0 += a * r[0]
			s1 += a * r[1]
			s2 += a * r[2]
			s3 += a * r[3]
		}
		o := out[c : c+4 : c+4]
		o[0], o[1], o[2], o[3] = s0, s1, s2, s3
	}
	for ; c < d; c++ {
		var s0 float32
		for e := 0; e < g; e += 4 {
			s0 += (w[e]*x[int(src[e])*stride+c] + w[e+1]*x[int(src[e+1])*stride+c]) + (w[e+2]*x[int(src[e+2])*stride+c] + w[e+3]*x[int(src[e+3])*stride+c])
		}
		for e := g; e < len(src); e++ {
			s0 += w[e] * x[int(src[e])*stride+c]
		}
		out[c] = s0
	}
}

// axpy: y += a·x.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for k := range y {
		y[k] += a * x[k]
	}
}

// layer0 is module_0 + LeakyReLU for the latent targets. The action node
// never sends, so latent outputs need neither its projections nor a_dense.
func (l *Layer) layer0() {
	n, H, h1, c0 := l.n, l.H, l.h1, l.c0
	g := &l.g0
	var computed int64
	l.redo = l.redo[:0]
	for j := 0; j < n; j++ {
		cnt := l.cnt[j]
		src, attr := l.src[j*n:j*n+cnt], l.attr[j*n:j*n+cnt]
		if l.g0ok[j] && sameEdges(src, attr, l.g0src[j*n:], l.g0attr[j*n:], l.g0cnt[j]) {
			// Same node projections, same incoming edges: gat0's row j
			// from an earlier pass is this pass's row, bit for bit.
			continue
		}
		if l.g0ok[j] && l.alt.ok[j] && sameEdges(src, attr, l.alt.src[j*n:], l.alt.attr[j*n:], l.alt.cnt[j]) {
			// The row kept aside matches: swap it in with its head-0
			// projections (those at head 1+a belong to the other row).
			l.swapAlt(j)
			l.xl1ok[1][j], l.xr1ok[1][j] = false, false
			continue
		}
		if l.g0ok[j] && l.g0base[j] {
			l.keepAlt(j)
		}
		l.redo = append(l.redo, int32(j))
		copy(l.g0src[j*n:], src)
		copy(l.g0attr[j*n:], attr)
		l.g0cnt[j], l.g0ok[j] = cnt, true
		l.xl1ok[0][j], l.xl1ok[1][j], l.xr1ok[0][j], l.xr1ok[1][j] = false, false, false, false
		l.g0base[j] = true
		for _, i := range src[:cnt-1] { // the self loop (last) is no message of another node
			if l.m[i] {
				l.g0base[j] = false
				break
			}
		}
		pend := l.pend[:0]
		for e, i32 := range src {
			slot := int(i32)*n + j
			if l.eOK[slot] && math.Float32bits(l.eAttr[slot]) == math.Float32bits(attr[e]) {
				copyFloats(l.score[e*H:(e+1)*H], l.eScore[slot*H:(slot+1)*H])
				continue
			}
			pend = append(pend, int32(e))
		}
		l.scoreEdges0(j, pend)
		for _, e := range pend {
			slot := int(src[e])*n + j
			copyFloats(l.eScore[slot*H:(slot+1)*H], l.score[int(e)*H:(int(e)+1)*H])
			l.eAttr[slot], l.eOK[slot] = attr[e], true
		}
		computed += int64(len(pend))
		l.pend = pend
		l.softmaxEdges(l.score, cnt, H)
		copy(l.att[j*(n+1)*H:], l.score[:cnt*H])
	}
	l.macs += computed * int64(c0)
	// out_j = Σ_i alpha_ij xl_i per head. Targets with many sources go
	// through one dense GEMM per head: the zeros of absent edges cost n h1
	// MACs per head against cnt h1 for the edges alone, but a GEMM runs
	// them several times faster than per-edge sums (and adding exact
	// zeros changes nothing); targets with few sources take gatherRows4.
	// Dense targets' attention rows are spread out over all n sources per
	// head; their outputs go straight into gat0 when they are all n, else
	// through a scratch block.
	l.dense = l.dense[:0]
	for _, j32 := range l.redo {
		j := int(j32)
		cnt := l.cnt[j]
		if sparseAggregate*cnt >= n {
			l.dense = append(l.dense, j32)
			continue
		}
		out := l.gat0[j*c0 : (j+1)*c0]
		src := l.src[j*n : j*n+cnt]
		w, att := l.wbuf[:cnt], l.att[j*(n+1)*H:]
		for h := 0; h < H; h++ {
			o := h * h1
			for e := range w {
				w[e] = att[e*H+h]
			}
			gather(out[o:o+h1], w, src, l.xl0[o:], c0, true)
		}
		l.macs += int64(cnt * c0)
	}
	m := len(l.dense)
	l.macs += int64(m * n * c0)
	if m > 0 {
		dst := l.pack
		if m == n { // the targets 0..n-1 in order
			dst = l.gat0
		}
		for h := 0; h < H; h++ {
			for r, j32 := range l.dense {
				j := int(j32)
				row, att := l.apack[r*n:(r+1)*n], l.att[j*(n+1)*H:]
				clear(row)
				for e, i := range l.src[j*n : j*n+l.cnt[j]] {
					row[i] = att[e*H+h]
				}
			}
			kernels.GEMMPackedB(false, m, h1, n, l.apack, n, l.xl0P[h], 0, dst[h*h1:], c0)
		}
		if m < n {
			for r, j := range l.dense {
				copy(l.gat0[int(j)*c0:(int(j)+1)*c0], l.pack[r*c0:(r+1)*c0])
			}
		}
	}
	for _, j := range l.redo {
		out := l.gat0[int(j)*c0 : (int(j)+1)*c0]
		kernels.AddLeakyReLU(out, out, g.bias, 0.01)
	}
}

// scoreEdges0 writes into score[e*H : (e+1)*H] module_0's scores of target
// j's incoming edges e in pend (indices into its src and attr), attScore
// split as in leaky.go, four edges at a time (a group short of four repeats
// its last edge; one left over goes alone).
func (l *Layer) scoreEdges0(j int, pend []int32) {
	if len(pend) == 0 {
		return
	}
	n, H, h1, c0 := l.n, l.H, l.h1, l.c0
	src, attr := l.src[j*n:j*n+l.cnt[j]], l.attr[j*n:j*n+l.cnt[j]]
	xrs, xrLin := l.xr0s[j*c0:(j+1)*c0], l.xr0Lin[j*H:(j+1)*H]
	// Four edges at a time (EdgeSums), the last group padded with
	// copies of the last edge.
	g := (len(pend) + 3) / 4 * 4
	rows, ts, sums := l.batRows[:g], l.batT[:g], l.batS[:g]
	for k := range rows {
		e := pend[min(k, len(pend)-1)]
		rows[k], ts[k] = src[e]*int32(c0), attr[e]
	}
	sums = l.batS[:H*g]
	edgeSums(l.xl0s, rows, xrs, l.le0s, ts, h1, l.att0.q, l.att0.tailNeg, sums)
	for h := 0; h < H; h++ {
		sh := sums[h*g : (h+1)*g]
		for k, e := range pend {
			i := int(src[e])
			l.score[int(e)*H+h] = splitScore(0, l.xl0Lin[i*H+h]+xrLin[h]+float64(ts[k])*l.le0Lin[h], sh[k], 0.2)
		}
	}
}

// sparseAggregate: a target with fewer than n/sparseAggregate sources is
// aggregated edge by edge (gatherRows4) instead of by its dense GEMM row, which does
// n/cnt times the MACs at a few times the speed per MAC.
const sparseAggregate = 4

// sameEdges reports whether a target's incoming edges src, attr (sources
// and attribute bits, self loop included) are the ocnt edges osrc, oattr
// a row was computed with.
func sameEdges(src []int32, attr []float32, osrc []int32, oattr []float32, ocnt int) bool {
	if len(src) != ocnt {
		return false
	}
	osrc, oattr = osrc[:ocnt], oattr[:ocnt]
	for e := range src {
		if src[e] != osrc[e] || math.Float32bits(attr[e]) != math.Float32bits(oattr[e]) {
			return false
		}
	}
	return true
}

// altRows keeps a second version of each target's module_0 row, with the
// incoming edges it was computed with and the head-0 module_2 projections
// of that row (source xl1 with its scaled copy and linear part, target
// xr1), for the same codes. A retrieval's actions each mask a few nodes
// and change the incoming edges of the targets those nodes send to; the
// next action restores them. Keeping the row computed with no masked
// source (the base graph's row) aside when an action replaces it lets the
// next actions swap it back instead of recomputing it and its
// projections.
type altRows struct {
	ok           []bool    // [n] row j holds a version for the current codes
	base         []bool    // [n] computed with no masked source
	src          []int32   // [n, n] its incoming edges
	attr         []float32 // [n, n]
	cnt          []int     // [n]
	gat0         []float32 // [n, c0]
	xl1, xl1s    []float32 // [n, d] head 0: W gat0 + b, and |att|∘ of it (leaky.go)
	xl1Lin       []float64 // [n]
	xl1ok, xr1ok []bool    // [n]
	xr1          []float32 // [n, d] head 0
}

// keepAlt copies target j's current row (gat0, edges, head-0 projections)
// into alt.
func (l *Layer) keepAlt(j int) {
	n, c0, d, a := l.n, l.c0, l.d, &l.alt
	cnt := l.g0cnt[j]
	copy(a.src[j*n:j*n+cnt], l.g0src[j*n:j*n+cnt])
	copy(a.attr[j*n:j*n+cnt], l.g0attr[j*n:j*n+cnt])
	a.cnt[j], a.ok[j], a.base[j] = cnt, true, l.g0base[j]
	copy(a.gat0[j*c0:(j+1)*c0], l.gat0[j*c0:(j+1)*c0])
	a.xl1ok[j], a.xr1ok[j] = l.xl1ok[0][j], l.xr1ok[0][j]
	if a.xl1ok[j] {
		copy(a.xl1[j*d:(j+1)*d], l.xl1[0][j*d:(j+1)*d])
		copy(a.xl1s[j*d:(j+1)*d], l.xl1s[0][j*d:(j+1)*d])
		a.xl1Lin[j] = l.xl1Lin[0][j]
	}
	if a.xr1ok[j] {
		copy(a.xr1[j*d:(j+1)*d], l.xr1[0][j*d:(j+1)*d])
	}
}

// swapAlt exchanges target j's current row and the one in alt.
func (l *Layer) swapAlt(j int) {
	n, c0, d, a := l.n, l.c0, l.d, &l.alt
	m := max(l.g0cnt[j], a.cnt[j])
	swap32(l.g0attr[j*n:j*n+m], a.attr[j*n:j*n+m])
	for e, v := range a.src[j*n : j*n+m] {
		a.src[j*n+e], l.g0src[j*n+e] = l.g0src[j*n+e], v
	}
	l.g0cnt[j], a.cnt[j] = a.cnt[j], l.g0cnt[j]
	l.g0base[j], a.base[j] = a.base[j], l.g0base[j]
	l.altSwaps++
	swap32(l.gat0[j*c0:(j+1)*c0], a.gat0[j*c0:(j+1)*c0])
	swap32(l.xl1[0][j*d:(j+1)*d], a.xl1[j*d:(j+1)*d])
	swap32(l.xl1s[0][j*d:(j+1)*d], a.xl1s[j*d:(j+1)*d])
	l.xl1Lin[0][j], a.xl1Lin[j] = a.xl1Lin[j], l.xl1Lin[0][j]
	swap32(l.xr1[0][j*d:(j+1)*d], a.xr1[j*d:(j+1)*d])
	l.xl1ok[0][j], a.xl1ok[j] = a.xl1ok[j], l.xl1ok[0][j]
	l.xr1ok[0][j], a.xr1ok[j] = a.xr1ok[j], l.xr1ok[0][j]
}

func swap32(x, y []float32) {
	y = y[:len(x)]
	for k, v := range x {
		x[k], y[k] = y[k], v
	}
}

// copyFloats is copy(dst, src) for a few floats (one edge's scores over
// the heads) as a loop: copy is a call into the runtime's memmove, under
// wasm into the host's memory.copy.
func copyFloats(dst, src []float32) {
	src = src[:len(dst)]
	for k, v := range src {
		dst[k] = v
	}
}

// layer1 is module_2 for the latent targets at the one head each reads:
// head 0 where m_j = 0, head 1+a where m_j = 1 (slot 0 and 1 of xl1).
func (l *Layer) layer1(action int) {
	n, d := l.n, l.d
	g := &l.g1
	hd := func(slot int) int {
		if slot == 0 {
			return 0
		}
		return 1 + action
	}
	// Projections are cached per slot while its head stays (slot 0 is
	// always head 0) and gat0's row stays (layer0 clears the flags of the
	// rows it recomputes).
	for slot := 0; slot < 2; slot++ {
		if h := hd(slot); l.slotHead[slot] != h {
			clear(l.xl1ok[slot])
			clear(l.xr1ok[slot])
			l.slotHead[slot] = h
		}
	}
	clear(l.need[0])
	clear(l.need[1])
	for j := 0; j < n; j++ {
		slot := 0
		if l.m[j] {
			slot = 1
		}
		for _, i := range l.src[j*n : j*n+l.cnt[j]] {
			l.need[slot][i] = true
		}
	}
	for slot := 0; slot < 2; slot++ {
		h := hd(slot)
		l.rows = l.rows[:0]
		for i, ok := range l.need[slot] {
			if ok && !l.xl1ok[slot][i] {
				l.rows = append(l.rows, int32(i))
			}
		}
		l.project(l.xl1[slot], l.rows, l.wl1P[h], g.bl, h)
		for _, i32 := range l.rows {
			i := int(i32)
			// Scaled copies for the split scores (leaky.go).
			l.xl1Lin[slot][i] = l.att1.scale(l.xl1s[slot][i*d:(i+1)*d], l.xl1[slot][i*d:(i+1)*d], h)
			l.xl1ok[slot][i] = true
		}
		l.rows = l.rows[:0]
		for j := 0; j < n; j++ {
			if l.m[j] == (slot == 1) && !l.xr1ok[slot][j] {
				l.rows = append(l.rows, int32(j))
			}
		}
		l.project(l.xr1[slot], l.rows, l.wr1P[h], g.br, h)
		for _, j := range l.rows {
			l.xr1ok[slot][j] = true
		}
	}
	for j := 0; j < n; j++ {
		slot := 0
		if l.m[j] {
			slot = 1
		}
		l.xr1Lin[j] = l.att1.scale(l.xr1s[j*d:(j+1)*d], l.xr1[slot][j*d:(j+1)*d], hd(slot))
	}
	for j := 0; j < n; j++ {
		slot := 0
		if l.m[j] {
			slot = 1
		}
		h := hd(slot)
		o := h * d
		les := l.le1s[o : o+d]
		cnt := l.cnt[j]
		src, attr := l.src[j*n:j*n+cnt], l.attr[j*n:j*n+cnt]
		xrs, xls := l.xr1s[j*d:(j+1)*d], l.xl1s[slot]
		xl := l.xl1[slot]
		// Four edges at a time as in scoreEdges0.
		xlLin, xrLin, leLin := l.xl1Lin[slot], l.xr1Lin[j], l.le1Lin[h]
		nb := (cnt + 3) / 4 * 4
		rows, ts, sums := l.batRows[:nb], l.batT[:nb], l.batS[:nb]
		for k := range rows {
			e := min(k, cnt-1)
			rows[k], ts[k] = src[e]*int32(d), attr[e]
		}
		edgeSums(xls, rows, xrs, les, ts, d, l.att1.q[h:h+1], l.att1.tailNeg[h:h+1], sums)
		for e := 0; e < cnt; e++ {
			l.score[e] = splitScore(0, xlLin[src[e]]+xrLin+float64(ts[e])*leLin, sums[e], 0.2)
		}
		l.softmaxEdges(l.score, cnt, 1)
		out := l.out.Logits[j*d : (j+1)*d]
		gather(out, l.score[:cnt], src, xl, d, false)
		for k, b := range g.bias[o : o+d] {
			out[k] += b
		}
		l.macs += int64(2 * cnt * d)
	}
}

// project sets dst[i] = W_h gat0[i] + b_h for each node i in rows, where
// W_h is head h's block of a module_2 linear ([H*d, c0] rows h*d..h*d+d),
// given as whP: W_hᵀ packed by kernels.PackB.
func (l *Layer) project(dst []float32, rows []int32, whP, b []float32, h int) {
	m, d, c0 := len(rows), l.d, l.c0
	if m == 0 {
		return
	}
	bh := b[h*d : (h+1)*d]
	l.macs += int64(m * d * c0)
	if m == l.n {
		// rows are 0..n-1 in order: no packing needed.
		kernels.GEMMPackedB(false, m, d, c0, l.gat0, c0, whP, 0, dst, d)
		addBias(dst[:m*d], bh)
		return
	}
	for k, i := range rows {
		copy(l.pack[k*c0:(k+1)*c0], l.gat0[int(i)*c0:(int(i)+1)*c0])
	}
	kernels.GEMMPackedB(false, m, d, c0, l.pack, c0, whP, 0, l.ptmp, d)
	for k, i := range rows {
		row := dst[int(i)*d : (int(i)+1)*d]
		copy(row, l.ptmp[k*d:(k+1)*d])
		for c, v := range bh {
			row[c] += v
		}
	}
}

// ActionNodeGAT0 writes the action node's module_0 output (after the
// LeakyReLU) for the last Forward into dst [h1*(A+1)]. Latent outputs never
// depend on it (the node sends no messages), so Forward skips it; it exists
// to compare with references that record the whole node set. Its feature is
// a_dense(onehot(a)), or a_dense(0) = bias in base mode; it receives an edge
// of attribute 1 from every latent node and a self loop of attribute 1 (the
// mean of its incoming ones). It allocates nothing.
func (l *Layer) ActionNodeGAT0(dst []float32) error {
	if len(dst) != l.c0 {
		return fmt.Errorf("causal: ActionNodeGAT0 dst has %d values, want %d", len(dst), l.c0)
	}
	if !l.haveCodes {
		return fmt.Errorf("causal: ActionNodeGAT0 before any Forward")
	}
	n, d, H, h1, c0 := l.n, l.d, l.H, l.h1, l.c0
	g := &l.g0
	copy(l.actIn, l.aB)
	if a := l.lastAction; a >= 0 {
		for k := 0; k < d; k++ {
			l.actIn[k] += l.aW[k*l.A+a]
		}
	}
	kernels.GEMM(false, true, 1, c0, d, l.actIn, d, g.wl, d, 0, l.actL, c0)
	kernels.GEMM(false, true, 1, c0, d, l.actIn, d, g.wr, d, 0, l.actR, c0)
	for k := range l.actL {
		l.actL[k] += g.bl[k]
		l.actR[k] += g.br[k]
	}
	for e := 0; e <= n; e++ {
		xl := l.actL
		if e < n {
			xl = l.xl0[e*c0 : (e+1)*c0]
		}
		for h := 0; h < H; h++ {
			o := h * h1
			l.score[e*H+h] = attScore(xl[o:o+h1], l.actR[o:o+h1], g.le[o:o+h1], g.att[o:o+h1], 1)
		}
	}
	l.softmaxEdges(l.score, n+1, H)
	clear(dst)
	for e := 0; e <= n; e++ {
		xl := l.actL
		if e < n {
			xl = l.xl0[e*c0 : (e+1)*c0]
		}
		for h := 0; h < H; h++ {
			o := h * h1
			axpy(dst[o:o+h1], l.score[e*H+h], xl[o:o+h1])
		}
	}
	for k, b := range g.bias {
		v := dst[k] + b
		if v < 0 {
			v *= 0.01
		}
		dst[k] = v
	}
	return nil
}
