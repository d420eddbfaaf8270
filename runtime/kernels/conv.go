package kernels

// ---------------------------------------------------------------------------
// Planned convolutions. NewConv picks one algorithm for fixed shapes and
// allocates its buffers; SetWeights packs (or Winograd-transforms) the
// weights once, so Forward spends its time in the GEMM micro-kernel.
//
//	1×1, stride 1, pad 0   dst[n] = W·src[n]           (GEMM on the input)
//	3×3, stride 1, pad 1   Winograd F(4×4, 3×3)        (see winograd.go)
//	anything else          dst[n] = W·im2col(src[n])
//	transposed             col = Wᵀ·src[n], then col2im scatters col into dst
// ---------------------------------------------------------------------------

type convAlgo int

const (
	algoGEMM     convAlgo = iota // 1×1 stride 1 pad 0
	algoIm2col                   // general Conv2d
	algoWinograd                 // 3×3 stride 1 pad 1, and 4×4 stride 2 pad 1 (see newWinograd)
	algoCol2im                   // ConvTranspose2d
)

// Conv is a planned convolution (or transposed convolution, by p.Transposed):
// NewConv allocates its workspace and picks the algorithm once; SetWeights
// copies or transforms the weights; Forward then allocates nothing. A Conv
// is not safe for concurrent Forward calls; use one per goroutine.
type Conv struct {
	p      ConvParams
	algo   convAlgo
	oh, ow int
	bias   []float32 // [COut], nil for no bias
	wp     []float32 // packed GEMM A: W [COut, CIn·KH·KW], or Wᵀ [COut·KH·KW, CIn] transposed
	col    []float32 // im2col [CIn·KH·KW, OH·OW] or transposed col [COut·KH·KW, H·W]
	wino   *winograd
	g      gemmArgs
}

// NewConv plans a convolution with fixed shapes, batch size included.
// It panics on non-positive sizes: shapes come from validated configs.
func NewConv(p ConvParams) *Conv {
	if p.N < 1 || p.CIn < 1 || p.COut < 1 || p.H < 1 || p.W < 1 || p.KH < 1 || p.KW < 1 || p.Stride < 1 || p.Pad < 0 {
		panic("kernels: NewConv: bad ConvParams")
	}
	c := &Conv{p: p, oh: p.OutH(), ow: p.OutW()}
	if c.oh < 1 || c.ow < 1 {
		panic("kernels: NewConv: empty output")
	}
	ckk := p.CIn * p.KH * p.KW
	switch {
	case winogradK4S2(p) && min(p.CIn, p.COut) >= winoMinChannels:
		c.algo = algoWinograd
		c.wino = newWinograd(p, winoTile)
	case p.Transposed:
		c.algo = algoCol2im
		c.wp = make([]float32, packedASize(p.COut*p.KH*p.KW, p.CIn))
		c.col = make([]float32, p.COut*p.KH*p.KW*p.H*p.W)
	case p.KH == 1 && p.KW == 1 && p.Stride == 1 && p.Pad == 0:
		c.algo = algoGEMM
		c.wp = make([]float32, packedASize(p.COut, p.CIn))
	case p.KH == 3 && p.KW == 3 && p.Stride == 1 && p.Pad == 1 && !p.Transposed:
		c.algo = algoWinograd
		c.wino = newWinograd(p, winoTile)
	default:
		c.algo = algoIm2col
		c.wp = make([]float32, packedASize(p.COut, ckk))
		c.col = make([]float32, ckk*c.oh*c.ow)
	}
	// Fill the free list of caller workspaces now, so the first Forward
	// allocates nothing either.
	putTeam(getTeam())
	return c
}

// winoMinChannels is the fewest input and output channels for which a 4×4,
// stride 2 layer goes through Winograd. The image-facing layers (3
// channels) cost under 1% of the VQ-VAE's work, and with so few terms per
// output the transforms' rounding, which scales with the whole tile rather
// than with the terms, is not averaged away: they keep the exact-order
// im2col and col2im paths and match PyTorch to a few ulps.
const winoMinChannels = 16

// winogradK4S2 reports whether p is a 4×4, stride 2, pad 1 layer that
// newWinograd can run (even sizes for a Conv2d).
func winogradK4S2(p ConvParams) bool {
	return p.KH == 4 && p.KW == 4 && p.Stride == 2 && p.Pad == 1 && (p.Transposed || p.H%2 == 0 && p.W%2 == 0)
}

// Params returns the shapes the plan was made for.
func (c *Conv) Params() ConvParams { return c.p }

// SetWeights installs w ([COut,CIn,KH,KW], or [CIn,COut,KH,KW] transposed)
// and b ([COut] or nil), copying or transforming them. Call it again
// whenever the weights change. It panics on wrong lengths.
func (c *Conv) SetWeights(w, b []float32) {
	p := c.p
	if len(w) != p.COut*p.CIn*p.KH*p.KW || (b != nil && len(b) != p.COut) {
		panic("kernels: Conv.SetWeights: wrong weight or bias length")
	}
	if b == nil {
		c.bias = nil
	} else {
		c.bias = append(c.bias[:0], b...)
	}
	kk := p.KH * p.KW
	switch c.algo {
	case algoCol2im:
		packA(c.wp, true, p.COut*kk, p.CIn, w, p.COut*kk)
	case algoGEMM, algoIm2col:
		packA(c.wp, false, p.COut, p.CIn*kk, w, p.CIn*kk)
	case algoWinograd:
		c.wino.setWeights(w)
	}
}

// CopyWeights installs the weights of src, a plan of the same shapes, as
// they are after its SetWeights (no second transform): plans of the same
// layer on several goroutines transform the weights once.
func (c *Conv) CopyWeights(src *Conv) {
	if c.p != src.p {
		panic("kernels: Conv.CopyWeights: different shapes")
	}
	if src.bias == nil {
		c.bias = nil
	} else {
		c.bias = append(c.bias[:0], src.bias...)
	}
	copy(c.wp, src.wp)
	if c.wino != nil {
		copy(c.wino.u, src.wino.u)
	}
}

// Forward computes dst = conv(src) + b: src [N, CIn, H, W], dst [N, COut, OH, OW].
func (c *Conv) Forward(dst, src []float32) {
	p := c.p
	inSz, outSz := p.CIn*p.H*p.W, p.COut*c.oh*c.ow
	if len(src) != p.N*inSz || len(dst) != p.N*outSz {
		panic("kernels: Conv.Forward: wrong src or dst length")
	}
	t := getTeam()
	defer putTeam(t)
	if c.algo == algoWinograd {
		c.wino.forward(dst, src, c.bias, t)
		return
	}
	for n := 0; n < p.N; n++ {
		x, y := src[n*inSz:(n+1)*inSz], dst[n*outSz:(n+1)*outSz]
		switch c.algo {
		case algoGEMM:
			c.gemm(p.COut, p.CIn, p.H*p.W, x, y, t)
		case algoIm2col:
			im2col(c.col, x, p, c.oh, c.ow)
			c.gemm(p.COut, p.CIn*p.KH*p.KW, c.oh*c.ow, c.col, y, t)
		case algoCol2im:
			c.g = gemmArgs{ap: c.wp, m: p.COut * p.KH * p.KW, k: p.CIn, n: p.H * p.W, b: x, ldb: p.H * p.W, c: c.col, ldc: p.H * p.W}
			gemmPacked(&c.g, &t.ws, t)
			fillBias(y, c.bias, c.oh*c.ow)
			col2im(y, c.col, p, c.oh, c.ow)
		}
	}
	c.g = gemmArgs{}
}

// gemm runs y (m×n) = bias + packed W (m×k) · x (k×n).
func (c *Conv) gemm(m, k, n int, x, y []float32, t *team) {
	var beta float32
	if c.bias != nil {
		fillBias(y, c.bias, n)
		beta = 1
	}
	c.g = gemmArgs{ap: c.wp, m: m, k: k, n: n, b: x, ldb: n, beta: beta, c: y, ldc: n}
	gemmPacked(&c.g, &t.ws, t)
}

// fillBias sets every plane y[o*hw:(o+1)*hw] to b[o] (to 0 when b is nil).
func fillBias(y, b []float32, hw int) {
	for o := 0; o*hw < len(y); o++ {
		var v float32
		if b != nil {
			v = b[o]
		}
		plane := y[o*hw : (o+1)*hw]
		for i := range plane {
			plane[i] = v
		}
	}
}

// im2col lays one image x [CIn, H, W] out as col [CIn·KH·KW, OH·OW]:
// col[(c·KH+ky)·KW+kx, y·OW+x] = x[c, y·S-P+ky, x·S-P+kx], 0 outside.
func im2col(col, x []float32, p ConvParams, oh, ow int) {
	for c := 0; c < p.CIn; c++ {
		plane := x[c*p.H*p.W : (c+1)*p.H*p.W]
		for ky := 0; ky < p.KH; ky++ {
			for kx := 0; kx < p.KW; kx++ {
				row := col[((c*p.KH+ky)*p.KW+kx)*oh*ow : ((c*p.KH+ky)*p.KW+kx+1)*oh*ow]
				for y := 0; y < oh; y++ {
					out := row[y*ow : (y+1)*ow]
					iy := y*p.Stride - p.Pad + ky
					if iy < 0 || iy >= p.H {
						clear(out)
						continue
					}
					in := plane[iy*p.W : (iy+1)*p.W]
					for x := range out {
						ix := x*p.Stride - p.Pad + kx
						if ix >= 0 && ix < p.W {
							out[x] = in[ix]
						} else {
							out[x] = 0
						}
					}
				}
			}
		}
	}
}

// col2im adds col [COut·KH·KW, H·W] into one image y [COut, OH, OW]:
// y[o, yy·S-P+ky, xx·S-P+kx] += col[(o·KH+ky)·KW+kx, yy·W+xx], in range only.
func col2im(y, col []float32, p ConvParams, oh, ow int) {
	hw := p.H * p.W
	for o := 0; o < p.COut; o++ {
		plane := y[o*oh*ow : (o+1)*oh*ow]
		for ky := 0; ky < p.KH; ky++ {
			for kx := 0; kx < p.KW; kx++ {
				row := col[((o*p.KH+ky)*p.KW+kx)*hw : ((o*p.KH+ky)*p.KW+kx+1)*hw]
				for yy := 0; yy < p.H; yy++ {
					oy := yy*p.Stride - p.Pad + ky
					if oy < 0 || oy >= oh {
						continue
					}
					out := plane[oy*ow : (oy+1)*ow]
					in := row[yy*p.W : (yy+1)*p.W]
					for xx, v := range in {
						if ox := xx*p.Stride - p.Pad + kx; ox >= 0 && ox < ow {
							out[ox] += v
						}
					}
				}
			}
		}
	}
}
