package kernels

// ---------------------------------------------------------------------------
// Winograd F(m×m, 3×3) for 3×3, stride 1, pad 1 convolutions (Lavin & Gray,
// "Fast Algorithms for Convolutional Neural Networks", 2015). Each output
// tile of m×m pixels comes from an a×a input tile (a = m+2):
//
//	Y = Aᵀ [ Σ_c (G g_oc Gᵀ) ⊙ (Bᵀ d_c B) ] A
//
// so the a·a elementwise products become a·a GEMMs
// M[ξ] (COut×T) = U[ξ] (COut×CIn) · V[ξ] (CIn×T) over the T tiles of the batch.
// F(4×4) needs 36 products per 16 outputs instead of 144 (4× fewer MACs);
// F(2×2) 16 per 4 (2.25×) with smaller rounding error. The weight transform
// U = G g Gᵀ is computed in float64 once, in SetWeights.
// ---------------------------------------------------------------------------

// winoTile is the output tile size used by NewConv (2 or 4).
const winoTile = 4

// winoMats holds Bᵀ (a×a), G (a×3) and Aᵀ (m×a) for one tile size.
type winoMats struct {
	bt [][]float32
	g  [][]float64
	at [][]float32
}

var winoF2 = winoMats{
	bt: [][]float32{
		{1, 0, -1, 0},
		{0, 1, 1, 0},
		{0, -1, 1, 0},
		{0, 1, 0, -1},
	},
	g: [][]float64{
		{1, 0, 0},
		{0.5, 0.5, 0.5},
		{0.5, -0.5, 0.5},
		{0, 0, 1},
	},
	at: [][]float32{
		{1, 1, 1, 0},
		{0, 1, -1, -1},
	},
}

// winoF4 uses the interpolation points 0, ±1, ±2 and ∞.
var winoF4 = winoMats{
	bt: [][]float32{
		{4, 0, -5, 0, 1, 0},
		{0, -4, -4, 1, 1, 0},
		{0, 4, -4, -1, 1, 0},
		{0, -2, -1, 2, 1, 0},
		{0, 2, -1, -2, 1, 0},
		{0, 4, 0, -5, 0, 1},
	},
	g: [][]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	},
	at: [][]float32{
		{1, 1, 1, 1, 1, 0},
		{0, 1, -1, 2, -2, 0},
		{0, 1, 1, 4, 4, 0},
		{0, 1, -1, 8, -8, 1},
	},
}

// winoF42 is F(4, 2) with the interpolation points 0, ±1, 2 and ∞, for the
// 2×2 kernels the stride-2 layers become (see newWinograd).
var winoF42 = winoMats{
	bt: [][]float32{
		{2, -1, -2, 1, 0},
		{0, -2, -1, 1, 0},
		{0, 2, -3, 1, 0},
		{0, -1, 0, 1, 0},
		{0, 2, -1, -2, 1},
	},
	g: [][]float64{
		{1.0 / 2, 0},
		{-1.0 / 2, -1.0 / 2},
		{-1.0 / 6, 1.0 / 6},
		{1.0 / 6, 1.0 / 3},
		{0, 1},
	},
	at: [][]float32{
		{1, 1, 1, 1, 0},
		{0, 1, -1, 2, 0},
		{0, 1, 1, 4, 0},
		{0, 1, -1, 8, 1},
	},
}

// Layouts of the winograd's source and destination. The 3×3 convolution is
// always computed on "phase space" planes; the layout says how those map to
// the caller's NCHW tensors.
const (
	layoutPlain = iota // a 3×3, stride 1, pad 1 Conv2d: phase space is the tensor
	layoutS2D          // a 4×4, stride 2, pad 1 Conv2d on even H, W (see newWinograd)
	layoutD2S          // a 4×4, stride 2, pad 1 ConvTranspose2d (see newWinograd)
)

type winograd struct {
	p         ConvParams // the phase-space convolution as a 3×3, stride 1, pad 1 one (r = 2: same sizes)
	layout    int
	orig      ConvParams // the convolution the caller asked for
	mats      *winoMats
	m, a, r   int       // output and input tile sizes, kernel size
	groups    int       // output-channel groups with their own tiles (4: D2S with r = 2, else 1)
	gOut      int       // output channels per group, p.COut/groups
	th, tw, T int       // tiles per image (rows, cols) and over the batch
	tn        int       // T rounded up to whole B panels and groups of 4: the products' n and M's row length
	usz       int       // distance between two packed U[ξ] (planeStride)
	u         []float32 // [groups][a·a] packed U[ξ] (packA layout), gOut×CIn each
	vsz       int       // distance between two packed V[ξ] (planeStride)
	v         []float32 // [groups][a·a] packed V[ξ] (PackB layout), CIn×tn each
	hp, wp    int       // padded plane: th·m+2 rows of tw·m+2
	pad       []float32 // [N][CIn] phase-space input planes inside a zero border
	msz       int       // distance between two M[ξ], each gOut×tn
	mo        []float32 // [groups][a·a] M[ξ]
	ys        []float32 // [groups][gOut][tn][16] output tiles from winoOutputKernel (allocated on first use)
	offs      []int32   // [groups][tn] patch offsets for winoInputKernel (see tileOffsets); nil: tiles past one B block
	vecOffs   []int32   // [groups][tn] patch offsets for the AVX2 input transform; nil: the Go one

	// Phase-space pixel (c, y, x) of image n is src[(n·xC + c/xDiv)·xPlane +
	// xBase[c%xDiv] + y·xRS + x·xCS]; destinations likewise with y*.
	xC, xDiv, xPlane, xRS, xCS int
	xBase                      [4]int
	yC, yDiv, yPlane, yRS, yCS int
	yBase                      [4]int

	// Per-call state for the pool: the phase being run and its operands.
	phase    int
	src, dst []float32
	bias     []float32
	gemms    []gemmArgs // one per group and ξ, fixed at construction
}

// newWinograd plans F(m×m, 3×3) for q, which is a 3×3, stride 1, pad 1
// Conv2d, or one of the two 4×4, stride 2, pad 1 layers of the VQ-VAE, which
// are exactly 3×3, stride 1, pad 1 convolutions in disguise:
//
//   - Conv2d on even H, W: with the space-to-depth planes
//     z[(c,py,px), u, v] = x[c, 2u+py, 2v+px] (4·CIn channels, H/2×W/2),
//     y[o,i,j] = Σ z[(c,py,px), i+dy, j+dx]·w[o,c,2dy+py+1,2dx+px+1] over
//     dy, dx ∈ {-1,0,1}, taps outside 0..3 being zero, and the padding of z
//     being exactly the padding of x.
//   - ConvTranspose2d: each output phase y[o, 2u+qy, 2v+qx] =
//     Σ x[c, u+dy, v+dx]·w[c,o,qy+1-2dy,qx+1-2dx] is a 3×3 convolution of x
//     with 4·COut output channels (o,qy,qx), then depth-to-space.
//
// Both then cost 36/16·4 = 9 multiplications per input-output channel pair
// and output pixel with F(4×4, 3×3) instead of 16. Every phase kernel has
// only 2×2 nonzero taps, though: at dy ∈ {0,1} or {-1,0} by phase, and
// likewise dx. With m = 4 the plan uses that, F(4×4, 2×2) on 5×5 tiles, 25
// products per 16 outputs (6.25 multiplications instead of 9):
//
//   - Conv2d: input phase (py, px) is read shifted by (py, px), so that its
//     taps sit at {0,1}² (tap (ey, ex) is dy = ey-py, weight
//     w[o, c, 2ey-py+1, 2ex-px+1]);
//   - ConvTranspose2d: output phase (qy, qx) reads x[u+qy+ey-1, ...]
//     (weight w[c, o, 3-qy-2ey, 3-qx-2ex]): its tiles start (qy, qx) later
//     on the input padded by one, so the four phases are four groups of
//     output channels, each with its own input tiles.
func newWinograd(q ConvParams, m int) *winograd {
	w := &winograd{orig: q, p: q, m: m, a: m + 2, r: 3, groups: 1, mats: &winoF4}
	if m == 2 {
		w.mats = &winoF2
	}
	if m == 4 && q.KH == 4 {
		w.r, w.a, w.mats = 2, 5, &winoF42
	}
	w.xC, w.xDiv, w.xPlane, w.xRS, w.xCS = q.CIn, 1, q.H*q.W, q.W, 1
	w.yC, w.yDiv, w.yPlane, w.yRS, w.yCS = q.COut, 1, q.OutH()*q.OutW(), q.OutW(), 1
	switch {
	case q.KH == 3:
		w.layout = layoutPlain
	case q.Transposed:
		w.layout = layoutD2S
		w.p = ConvParams{N: q.N, CIn: q.CIn, H: q.H, W: q.W, COut: 4 * q.COut}
		ow := q.OutW()
		w.yDiv, w.yRS, w.yCS = 4, 2*ow, 2
		w.yBase = [4]int{0, 1, ow, ow + 1}
	default:
		w.layout = layoutS2D
		w.p = ConvParams{N: q.N, CIn: 4 * q.CIn, H: q.H / 2, W: q.W / 2, COut: q.COut}
		w.xDiv, w.xRS, w.xCS = 4, 2*q.W, 2
		w.xBase = [4]int{0, 1, q.W, q.W + 1}
	}
	w.p.KH, w.p.KW, w.p.Stride, w.p.Pad = 3, 3, 1, 1
	if w.r == 2 && w.layout == layoutD2S {
		w.groups = 4
	}
	w.gOut = w.p.COut / w.groups
	p := w.p
	oh, ow := p.OutH(), p.OutW()
	w.th, w.tw = (oh+m-1)/m, (ow+m-1)/m
	w.T = p.N * w.th * w.tw
	// The products run over whole B panels (V is zero past T): no edge
	// tiles, which cost a kernel call of their own (the Go tile kernel
	// when a faster one is installed); M's columns past T are ignored.
	// Whole groups of four tiles too, the unit of the transform kernels
	// (nr is 2, 4 or 8, so the larger of the two is a multiple of both).
	w.tn = roundUp(w.T, max(nr, 4))
	ng := w.groups * w.a * w.a
	w.usz = planeStride(packedASize(w.gOut, p.CIn))
	w.u = make([]float32, ng*w.usz)
	// The input transform writes V straight into the GEMM's packed B
	// layout (zero past T, never written), so the products pack nothing.
	w.vsz = planeStride(PackedBSize(p.CIn, w.tn))
	w.v = make([]float32, ng*w.vsz)
	// Each input plane is copied inside a zero border wide enough for
	// every tile (written once, never touched again), so the tiles are
	// read without range checks.
	w.hp, w.wp = w.th*m+2, w.tw*m+2
	w.pad = make([]float32, p.N*p.CIn*w.hp*w.wp, p.N*p.CIn*w.hp*w.wp+padSlack)
	if m == 4 && w.tn <= nc {
		w.offs = w.tileOffsets()
	}
	if m == 4 && useAVXInput && len(w.pad) < 1<<31 {
		w.vecOffs = w.offs
		if w.vecOffs == nil {
			w.vecOffs = w.tileOffsets()
		}
	}
	w.msz = planeStride(w.gOut * w.tn)
	cm := w.msz
	w.mo = make([]float32, ng*cm)
	w.gemms = make([]gemmArgs, ng)
	for gx := range w.gemms { // gx = group·a·a + ξ
		w.gemms[gx] = gemmArgs{
			ap: w.u[gx*w.usz : (gx+1)*w.usz], m: w.gOut, k: p.CIn, n: w.tn,
			bp: w.v[gx*w.vsz : (gx+1)*w.vsz],
			c:  w.mo[gx*cm : gx*cm+w.gOut*w.tn], ldc: w.tn,
		}
	}
	return w
}

// padSlack is the room after the padded planes for vector loads that read
// a few floats past the last patch row (inputChannelsVec).
const padSlack = 8

// planeStride returns the distance, in floats, at which to lay out planes
// of n floats that a transform writes or reads all a·a of at once: n
// rounded up to an odd number of 64-byte lines. At a power-of-two
// distance the 36 lines of one tile fall into the same cache set, which
// holds 8 to 16 of them, and every access misses; an odd number of lines
// spreads them over 36 sets.
func planeStride(n int) int {
	lines := (n + 15) / 16
	return (lines | 1) * 16
}

// kernel2 writes the phase-space 2×2 kernel k[ey·2+ex] (r = 2) for output
// channel o and input channel c, read from the caller's weights wt.
func (w *winograd) kernel2(k *[4]float32, wt []float32, o, c int) {
	q := w.orig
	for ey := 0; ey < 2; ey++ {
		for ex := 0; ex < 2; ex++ {
			var v float32
			if w.layout == layoutS2D { // c = (cx, py, px)
				cx, py, px := c/4, c/2%2, c%2
				v = wt[((o*q.CIn+cx)*4+2*ey-py+1)*4+2*ex-px+1]
			} else { // o = (ox, qy, qx)
				ox, qy, qx := o/4, o/2%2, o%2
				v = wt[((c*q.COut+ox)*4+3-qy-2*ey)*4+3-qx-2*ex]
			}
			k[ey*2+ex] = v
		}
	}
}

// kernel3 writes the phase-space 3×3 kernel k[ky·3+kx] for output channel o
// and input channel c, read from the caller's weights wt.
func (w *winograd) kernel3(k *[9]float32, wt []float32, o, c int) {
	q := w.orig
	switch w.layout {
	case layoutPlain:
		src := wt[(o*q.CIn+c)*9 : (o*q.CIn+c+1)*9]
		for i := range k { // not copy: a host call under wasm
			k[i] = src[i]
		}
		return
	case layoutS2D: // c = (cx, py, px)
		cx, py, px := c/4, c/2%2, c%2
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				ky, kx := 2*dy+py+1, 2*dx+px+1
				var v float32
				if ky >= 0 && ky < 4 && kx >= 0 && kx < 4 {
					v = wt[((o*q.CIn+cx)*4+ky)*4+kx]
				}
				k[(dy+1)*3+dx+1] = v
			}
		}
	case layoutD2S: // o = (ox, qy, qx)
		ox, qy, qx := o/4, o/2%2, o%2
		for dy := -1; dy <= 1; dy++ {
			for dx := -1; dx <= 1; dx++ {
				ky, kx := qy+1-2*dy, qx+1-2*dx
				var v float32
				if ky >= 0 && ky < 4 && kx >= 0 && kx < 4 {
					v = wt[((c*q.COut+ox)*4+ky)*4+kx]
				}
				k[(dy+1)*3+dx+1] = v
			}
		}
	}
}

// setWeights computes U[ξ][o][c] = (G g[o,c] Gᵀ)[ξ] in float64 for the
// phase-space kernels g (see kernel3 and kernel2) and stores it in packA
// layout. The default model's layers hold 40 M of these values, so the
// loops are written for speed: G in a fixed array, the kernel in locals,
// each row of G·g and of U unrolled over the kernel's taps (the sums are
// the plain formula's, term by term in tap order).
func (w *winograd) setWeights(wt []float32) {
	p, a, r := w.p, w.a, w.r
	var g [6][3]float64
	for i := 0; i < a; i++ {
		copy(g[i][:r], w.mats.g[i])
	}
	o0, og0 := 0, 0 // output channels (rows in each group) done by a vector transform
	if w.layout == layoutPlain && a == 6 && useAVXWeights {
		o0 = w.setWeightsF4Vec(wt, &g)
	}
	if r == 2 && a == 5 && useAVXWeights {
		og0 = w.setWeightsF42Vec(wt, &g)
	}
	var tmp [6][3]float64
	var k [9]float32
	var k2 [4]float32
	for o := o0; o < p.COut; o++ {
		gr, og := o%w.groups, o/w.groups // group and row in it
		if og < og0 {
			continue
		}
		u := w.u[gr*a*a*w.usz:]
		for c := 0; c < p.CIn; c++ {
			at := packedAt(w.gOut, p.CIn, og, c)
			if r == 2 {
				w.kernel2(&k2, wt, o, c)
				k00, k01, k10, k11 := float64(k2[0]), float64(k2[1]), float64(k2[2]), float64(k2[3])
				for i := 0; i < a; i++ { // tmp = G·g
					gi := &g[i]
					tmp[i][0] = gi[0]*k00 + gi[1]*k10
					tmp[i][1] = gi[0]*k01 + gi[1]*k11
				}
				idx := at
				for i := 0; i < a; i++ { // U = tmp·Gᵀ
					t0, t1 := tmp[i][0], tmp[i][1]
					for j := 0; j < a; j++ {
						u[idx] = float32(t0*g[j][0] + t1*g[j][1])
						idx += w.usz
					}
				}
				continue
			}
			w.kernel3(&k, wt, o, c)
			k0, k1, k2, k3, k4, k5, k6, k7, k8 := float64(k[0]), float64(k[1]), float64(k[2]), float64(k[3]), float64(k[4]), float64(k[5]), float64(k[6]), float64(k[7]), float64(k[8])
			for i := 0; i < a; i++ { // tmp = G·g
				gi := &g[i]
				tmp[i][0] = gi[0]*k0 + gi[1]*k3 + gi[2]*k6
				tmp[i][1] = gi[0]*k1 + gi[1]*k4 + gi[2]*k7
				tmp[i][2] = gi[0]*k2 + gi[1]*k5 + gi[2]*k8
			}
			idx := at
			for i := 0; i < a; i++ { // U = tmp·Gᵀ
				t0, t1, t2 := tmp[i][0], tmp[i][1], tmp[i][2]
				for j := 0; j < a; j++ {
					gj := &g[j]
					u[idx] = float32(t0*gj[0] + t1*gj[1] + t2*gj[2])
					idx += w.usz
				}
			}
		}
	}
}

// setWeightsF4Vec is setWeights for F(4×4, 3×3) (plain 3×3 layers) four output channels at a
// time (winoWeightsF4x4, bit for bit the Go loop's values): the weight
// transform is a sixth of a default-config VQ-VAE training step, which
// re-transforms every layer after each Adam update. It returns the first
// output channel it left to the Go loop (COut rounded down to 4). (Writing
// whole 64-byte lines of each plane through a buffer was measured slower:
// the 9.4 MB of a 256-channel layer's U bound it either way.)
func (w *winograd) setWeightsF4Vec(wt []float32, g *[6][3]float64) int {
	p := w.p
	gb := broadcastG(g)
	var kv [9][4]float64
	n4 := p.COut / 4 * 4
	for o0 := 0; o0 < n4; o0 += 4 {
		for c := 0; c < p.CIn; c++ {
			// o0..o0+3 are adjacent in one panel (mr is 8, o0 a multiple of 4).
			at := packedAt(w.gOut, p.CIn, o0, c)
			_ = w.u[at+35*w.usz+3]
			w.kernelsF4(&kv, wt, o0, c)
			winoWeightsF4x4(&kv, &gb, &w.u[at], w.usz)
		}
	}
	return n4
}

// setWeightsF42Vec is setWeights for F(4×4, 2×2) (the stride-2 layers)
// four rows of each group at a time (winoWeightsF42x4, bit for bit the Go
// loop's values). It returns the first row of each group it left to the
// Go loop (gOut rounded down to 4).
func (w *winograd) setWeightsF42Vec(wt []float32, g *[6][3]float64) int {
	p := w.p
	gb := broadcastG(g)
	var kv [4][4]float64
	var k2 [4]float32
	n4 := w.gOut / 4 * 4
	for gr := 0; gr < w.groups; gr++ {
		u := w.u[gr*25*w.usz:]
		for og0 := 0; og0 < n4; og0 += 4 {
			for c := 0; c < p.CIn; c++ {
				// og0..og0+3 are adjacent in one panel (mr is 8, og0 a multiple of 4).
				at := packedAt(w.gOut, p.CIn, og0, c)
				_ = u[at+24*w.usz+3]
				for l := 0; l < 4; l++ {
					w.kernel2(&k2, wt, (og0+l)*w.groups+gr, c)
					for t := range kv {
						kv[t][l] = float64(k2[t])
					}
				}
				winoWeightsF42x4(&kv, &gb, &u[at], w.usz)
			}
		}
	}
	return n4
}

// broadcastG returns G with every entry broadcast to four float64 lanes,
// the form the vector weight transforms take it in.
func broadcastG(g *[6][3]float64) (gb [6][3][4]float64) {
	for i := range gb {
		for q := range gb[i] {
			gb[i][q] = [4]float64{g[i][q], g[i][q], g[i][q], g[i][q]}
		}
	}
	return gb
}

// kernelsF4 gathers the 3×3 kernels of output channels o0..o0+3 and input
// channel c of a plain layer (the only one with F(4×4, 3×3): the stride-2
// layers take F(4×4, 2×2)) into kv[tap][lane] in float64.
func (w *winograd) kernelsF4(kv *[9][4]float64, wt []float32, o0, c int) {
	at, s := (o0*w.p.CIn+c)*9, w.p.CIn*9
	k0, k1, k2, k3 := wt[at:at+9], wt[at+s:at+s+9], wt[at+2*s:at+2*s+9], wt[at+3*s:at+3*s+9]
	for t := range kv {
		kv[t] = [4]float64{float64(k0[t]), float64(k1[t]), float64(k2[t]), float64(k3[t])}
	}
}

// packedAt is the index of opA[i, p] in a packA-packed m×k matrix.
func packedAt(m, k, i, p int) int {
	mpad := roundUp(m, mr)
	p0 := p / kc * kc
	kb := min(kc, k-p0)
	return p0*mpad + i/mr*mr*kb + (p-p0)*mr + i%mr
}

const (
	winoInput  = iota // input transform, parts are input channels
	winoInputQ        // input transform by inputChannelsVec, parts are groups of 4 input channels
	winoCopy          // copying the input planes for winoInputKernel, parts are input channels
	winoGEMM          // products, parts are ξ
	winoOutput        // output transform, parts are output channels
	winoPlace         // placing tiles transformed by winoOutputKernel, parts are output channels
)

func (w *winograd) forward(dst, src, bias []float32, t *team) {
	w.src, w.dst, w.bias = src, dst, bias
	useKernel := winoInputKernel != nil && w.offs != nil
	var parts int
	w.phase, parts = w.inputPhase()
	if useKernel {
		w.phase = winoCopy
	}
	t.parallel(w, parts, &t.ws)
	if useKernel {
		w.transformInputs()
	}
	w.phase = winoGEMM
	t.parallel(w, len(w.gemms), &t.ws)
	w.phase = winoOutput
	if winoOutputKernel != nil && w.m == 4 {
		w.transformOutputs()
		w.phase = winoPlace
	}
	t.parallel(w, w.p.COut, &t.ws)
	w.src, w.dst, w.bias = nil, nil, nil
}

func (w *winograd) runRange(lo, hi int, ws *workspace) {
	switch w.phase {
	case winoInput:
		for c := lo; c < hi; c++ {
			w.copyChannel(c)
			w.inputChannel(c)
		}
	case winoInputQ:
		for q := lo; q < hi; q++ {
			c0, c1 := 4*q, min(4*q+4, w.p.CIn)
			for c := c0; c < c1; c++ {
				w.copyChannel(c)
			}
			w.inputChannelsVec(c0, c1)
		}
	case winoCopy:
		for c := lo; c < hi; c++ {
			w.copyChannel(c)
		}
	case winoGEMM:
		for xi := lo; xi < hi; xi++ {
			g := &w.gemms[xi]
			g.run(0, roundUp(g.m, mr)/mr, 0, g.n, ws)
		}
	case winoOutput:
		for o := lo; o < hi; o++ {
			w.outputChannel(o)
		}
	case winoPlace:
		for o := lo; o < hi; o++ {
			w.placeChannel(o)
		}
	}
}

// inputPhase returns the input transform's phase and its number of parts.
func (w *winograd) inputPhase() (phase, parts int) {
	if w.vecOffs != nil {
		return winoInputQ, (w.p.CIn + 3) / 4
	}
	return winoInput, w.p.CIn
}

// copyChannel copies channel c of every image into its padded plane.
func (w *winograd) copyChannel(c int) {
	p := w.p
	hp, wp := w.hp, w.wp
	for n := 0; n < p.N; n++ {
		sc := n*w.xC + c/w.xDiv
		plane := w.src[sc*w.xPlane : (sc+1)*w.xPlane]
		base, rs, cs := w.xBase[c%w.xDiv], w.xRS, w.xCS
		pad := w.pad[(n*p.CIn+c)*hp*wp : (n*p.CIn+c+1)*hp*wp]
		// Pixel (y, x) goes to pad[(y+oy)·wp + x+ox]: one row and column
		// of zeros before it for pad 1; for F(4×4, 2×2) on a Conv2d, the
		// phase's own shift (see newWinograd).
		oy, ox := 1, 1
		if w.r == 2 && w.layout == layoutS2D {
			oy, ox = c/2%2, c%2
		}
		for y := 0; y < p.H; y++ {
			row := pad[(y+oy)*wp+ox : (y+oy)*wp+ox+p.W]
			src := plane[base+y*rs:]
			if cs == 1 {
				src = src[:len(row)]
				for x := range row { // not copy: a host call under wasm
					row[x] = src[x]
				}
				continue
			}
			for x := range row {
				row[x] = src[x*cs]
			}
		}
	}
}

// inputChannel computes V[ξ][c][t] = (Bᵀ d B)[ξ] for every tile t of
// channel c, d being the a×a input patch at (ty·m-1, tx·m-1), zero outside
// (from the padded planes copyChannel wrote).
func (w *winograd) inputChannel(c int) {
	p, a, m := w.p, w.a, w.m
	var d, tmp [6][6]float32
	tiles := w.th * w.tw
	hp, wp := w.hp, w.wp
	for n := 0; n < p.N; n++ {
		pad := w.pad[(n*p.CIn+c)*hp*wp : (n*p.CIn+c+1)*hp*wp]
		for gr := 0; gr < w.groups; gr++ {
			sy, sx := gr/2, gr%2 // D2S group (qy, qx): its tiles start that much later
			for ty := 0; ty < w.th; ty++ {
				for tx := 0; tx < w.tw; tx++ {
					w.inputTile(pad[(ty*m+sy)*wp+tx*m+sx:], gr*a*a*w.vsz+packedBAt(p.CIn, w.tn, c, n*tiles+ty*w.tw+tx), &d, &tmp)
				}
			}
		}
	}
}

// transformInputs runs winoInputKernel over every group's tiles, from the
// padded planes to V.
func (w *winograd) transformInputs() {
	a, tn, plane := w.a, w.tn, w.hp*w.wp
	for gr := 0; gr < w.groups; gr++ {
		winoInputKernel(w.pad, plane, w.p.CIn, w.offs[gr*tn:(gr+1)*tn], w.wp, w.v[gr*a*a*w.vsz:(gr+1)*a*a*w.vsz], w.vsz, a)
	}
}

// tileOffsets returns, per group and tile t < tn, where tile t's patch
// starts in the padded planes of channel 0 (image and position); tiles
// past T, whose products are ignored, repeat tile 0.
func (w *winograd) tileOffsets() []int32 {
	offs := make([]int32, w.groups*w.tn)
	tiles := w.th * w.tw
	plane := w.hp * w.wp
	for gr := 0; gr < w.groups; gr++ {
		sy, sx := gr/2, gr%2
		for t := 0; t < w.tn; t++ {
			tt := t
			if t >= w.T {
				tt = 0
			}
			n, ty, tx := tt/tiles, tt%tiles/w.tw, tt%w.tw
			offs[gr*w.tn+t] = int32(n*w.p.CIn*plane + (ty*w.m+sy)*w.wp + tx*w.m + sx)
		}
	}
	return offs
}

// WinogradInputKernel computes the input transform of F(4×4, 3×3) (a = 6)
// or F(4×4, 2×2) (a = 5) for cin channels and tn = len(offs) tiles (a
// multiple of 4, at most nc): with d[i][j] = pad[c·plane + offs[t] + i·wp
// + j] (channel planes plane floats apart, rows wp apart),
//
//	v[PackedBAt(cin, tn, c, t) + ξ·vsz] = (Bᵀ d B)[ξ]
//
// with the float32 operations of WinogradInputGo in the same order, so
// results are bit-identical (see SetWinogradInputKernel).
type WinogradInputKernel func(pad []float32, plane, cin int, offs []int32, wp int, v []float32, vsz, a int)

var winoInputKernel WinogradInputKernel

// SetWinogradInputKernel installs k for the input transforms of every
// F(4×4, ·) convolution whose tiles fit one B block (nil restores the Go
// code); like SetPanelKernel, for the wasm engine's SIMD module. Not safe
// to call while kernels run.
func SetWinogradInputKernel(k WinogradInputKernel) { winoInputKernel = k }

// PackedBAt is the index of opB[p, j] in a k×n op(B) packed by PackB.
func PackedBAt(k, n, p, j int) int { return packedBAt(k, n, p, j) }

// WinogradInputGo is the reference WinogradInputKernel: the Go transform
// the convolutions run without one.
func WinogradInputGo(pad []float32, plane, cin int, offs []int32, wp int, v []float32, vsz, a int) {
	if a != 5 && a != 6 {
		panic("kernels: WinogradInputGo: a must be 5 or 6")
	}
	tn := len(offs)
	for c := 0; c < cin; c++ {
		for t, off := range offs {
			x := pad[c*plane+int(off):]
			at := packedBAt(cin, tn, c, t)
			if a == 6 {
				transformInputF4(x, wp, v[at:], vsz)
			} else {
				transformInputF42(x, wp, v[at:], vsz)
			}
		}
	}
}

// inputTile stores V = Bᵀ d B for one tile (d[i][j] = patch[i·wp + j]) at
// w.v[off + ξ·vsz].
func (w *winograd) inputTile(patch []float32, off int, d, tmp *[6][6]float32) {
	a, wp, bt := w.a, w.wp, w.mats.bt
	switch {
	case a == 6:
		w.inputF4(patch, wp, off)
		return
	case a == 5 && w.m == 4:
		w.inputF42(patch, wp, off)
		return
	case a == 4:
		w.inputF2(patch, wp, off)
		return
	}
	for i := 0; i < a; i++ {
		for j := 0; j < a; j++ {
			d[i][j] = patch[i*wp+j]
		}
	}
	for i := 0; i < a; i++ { // tmp = Bᵀ·d
		for j := 0; j < a; j++ {
			var s float32
			for k := 0; k < a; k++ {
				if f := bt[i][k]; f != 0 {
					s += f * d[k][j]
				}
			}
			tmp[i][j] = s
		}
	}
	for i := 0; i < a; i++ { // V = tmp·B
		for j := 0; j < a; j++ {
			var s float32
			for k := 0; k < a; k++ {
				if f := bt[j][k]; f != 0 {
					s += tmp[i][k] * f
				}
			}
			w.v[(i*a+j)*w.vsz+off] = s
		}
	}
}

// outputChannel computes Y = Aᵀ M A + b[o] for every tile of output
// channel o and writes the in-range part into dst.
func (w *winograd) outputChannel(o int) {
	p, a, m, at := w.p, w.a, w.m, w.mats.at
	oh, ow := p.OutH(), p.OutW()
	var bias float32
	if w.bias != nil {
		bias = w.bias[o/w.yDiv]
	}
	var mm [6][6]float32
	var tmp [4][6]float32
	var y [16]float32
	tiles := w.th * w.tw
	stride := w.msz // between consecutive ξ
	mo := w.mo[(o%w.groups)*a*a*stride+(o/w.groups)*w.tn:]
	if w.outputChannelVec(o, mo, bias) {
		return
	}
	for n := 0; n < p.N; n++ {
		out := w.outPlane(o, n)
		for ty := 0; ty < w.th; ty++ {
			for tx := 0; tx < w.tw; tx++ {
				gatherTile(&mm, mo, n*tiles+ty*w.tw+tx, stride, a)
				switch {
				case a == 6:
					transformF4(&mm, &y)
					out.putTile(&y, ty, tx, bias)
					continue
				case a == 5 && m == 4:
					transformF42(&mm, &y)
					out.putTile(&y, ty, tx, bias)
					continue
				case a == 4:
					w.outputF2(&mm, &out, ty, tx, bias)
					continue
				}
				for i := 0; i < m; i++ { // tmp = Aᵀ·M
					for j := 0; j < a; j++ {
						var s float32
						for k := 0; k < a; k++ {
							if f := at[i][k]; f != 0 {
								s += f * mm[k][j]
							}
						}
						tmp[i][j] = s
					}
				}
				for i := 0; i < m; i++ { // Y = tmp·A
					oy := ty*m + i
					if oy >= oh {
						break
					}
					for j := 0; j < m; j++ {
						ox := tx*m + j
						if ox >= ow {
							break
						}
						var s float32
						for k := 0; k < a; k++ {
							if f := at[j][k]; f != 0 {
								s += tmp[i][k] * f
							}
						}
						out.set(oy, ox, s+bias)
					}
				}
			}
		}
	}
}

// outputChannelVec is outputChannel eight tiles at a time by outputTiles8
// where it runs (the rest by transformF4 or transformF42), and reports
// whether it ran.
func (w *winograd) outputChannelVec(o int, mo []float32, bias float32) bool {
	var ys [8][16]float32
	t8 := w.T / 8 * 8
	if t8 == 0 || !w.outputTiles8(mo, 0, &ys) {
		return false
	}
	tiles := w.th * w.tw
	var mm [6][6]float32
	var out outPlane
	outN := -1
	for t := 0; t < w.T; t++ {
		y := &ys[t%8]
		switch {
		case t < t8 && t%8 == 0 && t > 0:
			w.outputTiles8(mo, t, &ys)
		case t >= t8:
			gatherTile(&mm, mo, t, w.msz, w.a)
			if w.a == 6 {
				transformF4(&mm, y)
			} else {
				transformF42(&mm, y)
			}
		}
		n, tt := t/tiles, t%tiles
		if n != outN {
			out, outN = w.outPlane(o, n), n
		}
		out.putTile(y, tt/w.tw, tt%w.tw, bias)
	}
	return true
}

// gatherTile reads one tile's a×a products, mm[i][j] = m[idx + (i·a+j)·stride]
// (nested loops: no division per element, a runtime call under wasm).
func gatherTile(mm *[6][6]float32, m []float32, idx, stride, a int) {
	for i := 0; i < a; i++ {
		r := &mm[i]
		for j := 0; j < a; j++ {
			r[j] = m[idx]
			idx += stride
		}
	}
}

// transformOutputs runs winoOutputKernel over every group's products,
// filling ys.
func (w *winograd) transformOutputs() {
	a, per := w.a, w.gOut*w.tn*16
	w.ys = grow(w.ys, w.groups*per)
	stride := w.msz
	for gr := 0; gr < w.groups; gr++ {
		winoOutputKernel(w.mo[gr*a*a*stride:(gr+1)*a*a*stride], stride, w.gOut, w.tn, a, w.ys[gr*per:(gr+1)*per])
	}
}

// placeChannel is outputChannel for tiles winoOutputKernel transformed.
func (w *winograd) placeChannel(o int) {
	p := w.p
	var bias float32
	if w.bias != nil {
		bias = w.bias[o/w.yDiv]
	}
	tiles := w.th * w.tw
	ys := w.ys[((o%w.groups)*w.gOut+o/w.groups)*w.tn*16:]
	for n := 0; n < p.N; n++ {
		out := w.outPlane(o, n)
		for ty := 0; ty < w.th; ty++ {
			for tx := 0; tx < w.tw; tx++ {
				t := n*tiles + ty*w.tw + tx
				out.putTile((*[16]float32)(ys[t*16:t*16+16]), ty, tx, bias)
			}
		}
	}
}

// WinogradOutputKernel computes the output transform of F(4×4, 3×3)
// (a = 6) or F(4×4, 2×2) (a = 5) for count output channels and tn tiles
// (a multiple of 4): with M[i][j] = m[(i·a + j)·xiStride + o·tn + t],
//
//	y[(o·tn + t)·16 + r·4 + c] = (Aᵀ M A)[r][c]
//
// with the float32 operations of WinogradOutputGo in the same order, so
// results are bit-identical (see SetWinogradOutputKernel).
type WinogradOutputKernel func(m []float32, xiStride, count, tn, a int, y []float32)

var winoOutputKernel WinogradOutputKernel

// SetWinogradOutputKernel installs k for the output transforms of every
// F(4×4, ·) convolution (nil restores the Go code); like SetPanelKernel,
// for the wasm engine's SIMD module. Not safe to call while kernels run.
func SetWinogradOutputKernel(k WinogradOutputKernel) { winoOutputKernel = k }

// WinogradOutputGo is the reference WinogradOutputKernel: the Go transform
// the convolutions run without one.
func WinogradOutputGo(m []float32, xiStride, count, tn, a int, y []float32) {
	if a != 5 && a != 6 {
		panic("kernels: WinogradOutputGo: a must be 5 or 6")
	}
	var mm [6][6]float32
	for o := 0; o < count; o++ {
		for t := 0; t < tn; t++ {
			gatherTile(&mm, m, o*tn+t, xiStride, a)
			yt := (*[16]float32)(y[(o*tn+t)*16 : (o*tn+t)*16+16])
			if a == 6 {
				transformF4(&mm, yt)
			} else {
				transformF42(&mm, yt)
			}
		}
	}
}

// outPlane returns output channel o's plane of image n in dst.
func (w *winograd) outPlane(o, n int) outPlane {
	dc := n*w.yC + o/w.yDiv
	p := w.p
	return outPlane{w.dst[dc*w.yPlane : (dc+1)*w.yPlane], w.yBase[o%w.yDiv], w.yRS, w.yCS, p.OutH(), p.OutW()}
}

// outPlane is one destination plane seen in phase space: pixel (y, x) of
// the 3×3 convolution's h×w output lives at plane[base + y·rs + x·cs].
type outPlane struct {
	plane        []float32
	base, rs, cs int
	h, w         int
}

func (o *outPlane) set(y, x int, v float32) { o.plane[o.base+y*o.rs+x*o.cs] = v }

// ---------------------------------------------------------------------------
// F(4×4, 3×3) and F(2×2, 3×3) transforms written out: the generic matrix
// loops above (kept for other tile sizes) spend more time on branches than
// on arithmetic.
// ---------------------------------------------------------------------------

// bt6 is Bᵀ·x for one column x of a 6×6 tile.
func bt6(x0, x1, x2, x3, x4, x5 float32) (y0, y1, y2, y3, y4, y5 float32) {
	y0 = 4*x0 - 5*x2 + x4
	y1 = -4*(x1+x2) + x3 + x4
	y2 = 4*(x1-x2) - x3 + x4
	y3 = 2*(x3-x1) - x2 + x4
	y4 = 2*(x1-x3) - x2 + x4
	y5 = 4*x1 - 5*x3 + x5
	return
}

// at6 is Aᵀ·x for one column x of a 6×6 product tile.
func at6(x0, x1, x2, x3, x4, x5 float32) (y0, y1, y2, y3 float32) {
	s12, d12 := x1+x2, x1-x2
	s34, d34 := x3+x4, x3-x4
	y0 = x0 + s12 + s34
	y1 = d12 + 2*d34
	y2 = s12 + 4*s34
	y3 = d12 + 8*d34 + x5
	return
}

// bt5 is Bᵀ·x for one column x of a 5×5 F(4, 2) tile.
func bt5(x0, x1, x2, x3, x4 float32) (y0, y1, y2, y3, y4 float32) {
	y0 = 2*(x0-x2) - x1 + x3
	y1 = x3 - 2*x1 - x2
	y2 = 2*x1 - 3*x2 + x3
	y3 = x3 - x1
	y4 = 2*(x1-x3) - x2 + x4
	return
}

// at5 is Aᵀ·x for one column x of a 5×5 F(4, 2) product tile.
func at5(x0, x1, x2, x3, x4 float32) (y0, y1, y2, y3 float32) {
	s12, d12 := x1+x2, x1-x2
	y0 = x0 + s12 + x3
	y1 = d12 + 2*x3
	y2 = s12 + 4*x3
	y3 = d12 + 8*x3 + x4
	return
}

// inputF42 stores V = Bᵀ d B for one F(4×4, 2×2) tile (d[i][j] =
// x[i·ws + j], 5×5) at w.v[off + ξ·vsz].
func (w *winograd) inputF42(x []float32, ws, off int) { transformInputF42(x, ws, w.v[off:], w.vsz) }

// transformInputF42 is inputF42 storing V[ξ] at v[ξ·stride].
func transformInputF42(x []float32, ws int, v []float32, stride int) {
	var tmp [5][5]float32
	x = x[:4*ws+5]
	for j := 0; j < 5; j++ {
		tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j], tmp[4][j] = bt5(x[j], x[ws+j], x[2*ws+j], x[3*ws+j], x[4*ws+j])
	}
	for i := 0; i < 5; i++ {
		r := &tmp[i]
		y0, y1, y2, y3, y4 := bt5(r[0], r[1], r[2], r[3], r[4])
		base := i * 5 * stride
		v[base] = y0
		v[base+stride] = y1
		v[base+2*stride] = y2
		v[base+3*stride] = y3
		v[base+4*stride] = y4
	}
}

// transformF42 computes the 4×4 tile Y = Aᵀ M A (y[r·4 + c]) of one
// F(4×4, 2×2) product tile (M in mm's top-left 5×5).
func transformF42(mm *[6][6]float32, y *[16]float32) {
	var tmp [4][5]float32
	for j := 0; j < 5; j++ {
		tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j] = at5(mm[0][j], mm[1][j], mm[2][j], mm[3][j], mm[4][j])
	}
	for i := 0; i < 4; i++ {
		r := &tmp[i]
		y[4*i], y[4*i+1], y[4*i+2], y[4*i+3] = at5(r[0], r[1], r[2], r[3], r[4])
	}
}

// putTile writes the in-range part of the 4×4 tile y (y[r·4 + c]) plus
// bias at tile (ty, tx) of out.
func (o *outPlane) putTile(y *[16]float32, ty, tx int, bias float32) {
	ox := tx * 4
	for i := 0; i < 4; i++ {
		oy := ty*4 + i
		if oy >= o.h {
			break
		}
		y0, y1, y2, y3 := y[4*i], y[4*i+1], y[4*i+2], y[4*i+3]
		at := o.base + oy*o.rs + ox*o.cs
		if ox+4 <= o.w && o.cs == 1 {
			row := o.plane[at : at+4]
			row[0], row[1], row[2], row[3] = y0+bias, y1+bias, y2+bias, y3+bias
			continue
		}
		if ox+4 <= o.w {
			cs := o.cs
			row := o.plane[at : at+3*cs+1]
			row[0], row[cs], row[2*cs], row[3*cs] = y0+bias, y1+bias, y2+bias, y3+bias
			continue
		}
		for j, v := range [4]float32{y0, y1, y2, y3} {
			if ox+j < o.w {
				o.set(oy, ox+j, v+bias)
			}
		}
	}
}

// inputF4 stores V = Bᵀ d B for one tile of one channel, whose V[0]
// element is w.v[off], d[i][j] being x[i·ws + j].
func (w *winograd) inputF4(x []float32, ws, off int) { transformInputF4(x, ws, w.v[off:], w.vsz) }

// transformInputF4 is inputF4 storing V[ξ] at v[ξ·stride].
func transformInputF4(x []float32, ws int, v []float32, stride int) {
	var tmp [6][6]float32
	x = x[:5*ws+6]
	for j := 0; j < 6; j++ {
		tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j], tmp[4][j], tmp[5][j] = bt6(x[j], x[ws+j], x[2*ws+j], x[3*ws+j], x[4*ws+j], x[5*ws+j])
	}
	for i := 0; i < 6; i++ {
		r := &tmp[i]
		y0, y1, y2, y3, y4, y5 := bt6(r[0], r[1], r[2], r[3], r[4], r[5])
		base := i * 6 * stride
		v[base] = y0
		v[base+stride] = y1
		v[base+2*stride] = y2
		v[base+3*stride] = y3
		v[base+4*stride] = y4
		v[base+5*stride] = y5
	}
}

// transformF4 computes the 4×4 tile Y = Aᵀ M A (y[r·4 + c]) of one
// F(4×4, 3×3) product tile.
func transformF4(mm *[6][6]float32, y *[16]float32) {
	var tmp [4][6]float32
	for j := 0; j < 6; j++ {
		tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j] = at6(mm[0][j], mm[1][j], mm[2][j], mm[3][j], mm[4][j], mm[5][j])
	}
	for i := 0; i < 4; i++ {
		r := &tmp[i]
		y[4*i], y[4*i+1], y[4*i+2], y[4*i+3] = at6(r[0], r[1], r[2], r[3], r[4], r[5])
	}
}

// bt4 is Bᵀ·x for one column x of a 4×4 tile.
func bt4(x0, x1, x2, x3 float32) (y0, y1, y2, y3 float32) {
	return x0 - x2, x1 + x2, x2 - x1, x1 - x3
}

// inputF2 is inputF4 for F(2×2) (a 4×4 d).
func (w *winograd) inputF2(x []float32, ws, off int) {
	var tmp [4][4]float32
	x = x[:3*ws+4]
	for j := 0; j < 4; j++ {
		tmp[0][j], tmp[1][j], tmp[2][j], tmp[3][j] = bt4(x[j], x[ws+j], x[2*ws+j], x[3*ws+j])
	}
	stride := w.vsz
	v := w.v[off:]
	for i := 0; i < 4; i++ {
		r := &tmp[i]
		y0, y1, y2, y3 := bt4(r[0], r[1], r[2], r[3])
		base := i * 4 * stride
		v[base] = y0
		v[base+stride] = y1
		v[base+2*stride] = y2
		v[base+3*stride] = y3
	}
}

// outputF2 writes Y = Aᵀ M A + bias for one tile (M in mm's top-left 4×4).
func (w *winograd) outputF2(mm *[6][6]float32, out *outPlane, ty, tx int, bias float32) {
	var tmp [2][4]float32
	for j := 0; j < 4; j++ {
		tmp[0][j] = mm[0][j] + mm[1][j] + mm[2][j]
		tmp[1][j] = mm[1][j] - mm[2][j] - mm[3][j]
	}
	for i := 0; i < 2; i++ {
		oy := ty*2 + i
		if oy >= out.h {
			break
		}
		r := &tmp[i]
		y0, y1 := r[0]+r[1]+r[2], r[1]-r[2]-r[3]
		ox := tx * 2
		out.set(oy, ox, y0+bias)
		if ox+1 < out.w {
			out.set(oy, ox+1, y1+bias)
		}
	}
}
