// Package train is the CPU trainer of the CT-VAE: backward passes for the
// VQ-VAE layers, the quantizer's straight-through estimator and the
// losses of docs/MODEL.md, Adam with exponential learning-rate decay, and a
// phase trainer that runs batches in parallel over samples with exact,
// resumable checkpoints.
//
// Forward passes reuse the runtime's planned convolutions (kernels.Conv);
// backward passes are GEMMs over im2col/col2im buffers. Every backward has a
// finite-difference test. Parallelism is over a fixed number of shards of
// each batch, each with its own gradient buffers, summed in shard order, so
// results depend on the seed and the shard count only, not on the number of
// threads.
package train

import (
	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
)

// ---------------------------------------------------------------------------
// im2col geometry shared by Conv2d and ConvTranspose2d backward passes.
// ---------------------------------------------------------------------------

// geom is one regular convolution's sampling pattern: an image [C, H, W]
// read by K×K windows with stride S and padding P at OH×OW positions.
type geom struct{ C, H, W, K, S, P, OH, OW int }

// im2col writes col[(c·K+ky)·K+kx, y·OW+x] = x[c, y·S-P+ky, x·S-P+kx] (0 outside).
func (g geom) im2col(col, x []float32) {
	ohw := g.OH * g.OW
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				row := col[((c*g.K+ky)*g.K+kx)*ohw : ((c*g.K+ky)*g.K+kx+1)*ohw]
				for y := 0; y < g.OH; y++ {
					out := row[y*g.OW : (y+1)*g.OW]
					iy := y*g.S - g.P + ky
					if iy < 0 || iy >= g.H {
						clear(out)
						continue
					}
					in := plane[iy*g.W : (iy+1)*g.W]
					for xx := range out {
						if ix := xx*g.S - g.P + kx; ix >= 0 && ix < g.W {
							out[xx] = in[ix]
						} else {
							out[xx] = 0
						}
					}
				}
			}
		}
	}
}

// col2im is the adjoint of im2col: x = 0, then x[c, y·S-P+ky, x·S-P+kx] +=
// col[(c·K+ky)·K+kx, y·OW+x] for every in-range position.
func (g geom) col2im(x, col []float32) {
	clear(x[:g.C*g.H*g.W])
	ohw := g.OH * g.OW
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				row := col[((c*g.K+ky)*g.K+kx)*ohw : ((c*g.K+ky)*g.K+kx+1)*ohw]
				for y := 0; y < g.OH; y++ {
					iy := y*g.S - g.P + ky
					if iy < 0 || iy >= g.H {
						continue
					}
					out := plane[iy*g.W : (iy+1)*g.W]
					in := row[y*g.OW : (y+1)*g.OW]
					for xx, v := range in {
						if ix := xx*g.S - g.P + kx; ix >= 0 && ix < g.W {
							out[ix] += v
						}
					}
				}
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Activations: forward in place through nn.Activation, backward from the
// activation's output (the sign of a LeakyReLU/ReLU output is the sign of
// its input, and tanh' = 1 - tanh²).
// ---------------------------------------------------------------------------

// actBackward multiplies d in place by act'(x), given y = act(x).
func actBackward(a nn.Activation, d, y []float32) {
	switch a {
	case nn.ActNone:
	case nn.ActLeakyReLU:
		for i, v := range y {
			if v <= 0 {
				d[i] *= nn.LeakySlope
			}
		}
	case nn.ActReLU:
		for i, v := range y {
			if v <= 0 {
				d[i] = 0
			}
		}
	case nn.ActTanh:
		for i, v := range y {
			d[i] *= 1 - v*v
		}
	default:
		panic("train: unknown activation")
	}
}

// ---------------------------------------------------------------------------
// Layers. A layer runs forward on a shard of n samples and keeps what its
// backward needs (its input and output); backward adds the parameter
// gradients into the shard's gradient buffers and returns the input
// gradient (nil when the layer was told its input needs none).
// ---------------------------------------------------------------------------

type layer interface {
	forward(x []float32) []float32
	backward(dy []float32) []float32
	reload()
}

// conv is a Conv2d or ConvTranspose2d with bias and activation.
type conv struct {
	p          kernels.ConvParams // N = shard size
	plan       *kernels.Conv
	act        nn.Activation
	w, b       []float32 // shared parameters
	gw, gb     []float32 // this shard's gradients
	g          geom      // im2col geometry of the regular conv (the adjoint one when transposed)
	in, out    []float32 // input (not owned) and output [n, COut, OH, OW]
	col, dx    []float32
	needDX     bool
	inSz, oSz  int
	colRows    int
	colColumns int
}

// newConv binds prefix.weight/.bias of params and grads to a planned
// convolution over shards of cp.N samples.
func newConv(prefix string, params, grads nn.Params, cp kernels.ConvParams, bias bool, act nn.Activation, needDX bool) *conv {
	c := &conv{p: cp, plan: kernels.NewConv(cp), act: act, needDX: needDX,
		w: params[prefix+".weight"].Data, gw: grads[prefix+".weight"].Data}
	if bias {
		c.b, c.gb = params[prefix+".bias"].Data, grads[prefix+".bias"].Data
	}
	oh, ow := cp.OutH(), cp.OutW()
	c.inSz, c.oSz = cp.CIn*cp.H*cp.W, cp.COut*oh*ow
	if cp.Transposed {
		// The transposed conv is the adjoint of a regular conv from the
		// output [COut, OH, OW] to the input grid [H, W].
		c.g = geom{C: cp.COut, H: oh, W: ow, K: cp.KH, S: cp.Stride, P: cp.Pad, OH: cp.H, OW: cp.W}
	} else {
		c.g = geom{C: cp.CIn, H: cp.H, W: cp.W, K: cp.KH, S: cp.Stride, P: cp.Pad, OH: oh, OW: ow}
	}
	c.colRows, c.colColumns = c.g.C*c.g.K*c.g.K, c.g.OH*c.g.OW
	c.col = make([]float32, c.colRows*c.colColumns)
	c.out = make([]float32, cp.N*c.oSz)
	if needDX {
		c.dx = make([]float32, cp.N*c.inSz)
	}
	c.reload()
	return c
}

func (c *conv) reload() { c.plan.SetWeights(c.w, c.b) }

func (c *conv) forward(x []float32) []float32 {
	c.in = x
	c.plan.Forward(c.out, x)
	c.act.Apply(c.out)
	return c.out
}

// backward: with col = im2col(x) [CIn·K², OH·OW] and W as [COut, CIn·K²],
// y = W·col, so dW += dy·colᵀ and dx = col2im(Wᵀ·dy). Transposed, with
// dcol = im2col(dy) [COut·K², H·W] and W as [CIn, COut·K²]: dx = W·dcol and
// dW += x·dcolᵀ.
func (c *conv) backward(dy []float32) []float32 {
	actBackward(c.act, dy, c.out)
	p := c.p
	ohw := p.OutH() * p.OutW()
	if c.gb != nil {
		for n := 0; n < p.N; n++ {
			for o := 0; o < p.COut; o++ {
				var s float32
				for _, v := range dy[n*c.oSz+o*ohw : n*c.oSz+(o+1)*ohw] {
					s += v
				}
				c.gb[o] += s
			}
		}
	}
	rows, cols := c.colRows, c.colColumns
	for n := 0; n < p.N; n++ {
		x, d := c.in[n*c.inSz:(n+1)*c.inSz], dy[n*c.oSz:(n+1)*c.oSz]
		if p.Transposed {
			c.g.im2col(c.col, d)
			kernels.GEMM(false, true, p.CIn, rows, cols, x, cols, c.col, cols, 1, c.gw, rows)
			if c.needDX {
				kernels.GEMM(false, false, p.CIn, cols, rows, c.w, rows, c.col, cols, 0, c.dx[n*c.inSz:(n+1)*c.inSz], cols)
			}
			continue
		}
		src := x
		if !c.is1x1() {
			c.g.im2col(c.col, x)
			src = c.col
		}
		kernels.GEMM(false, true, p.COut, rows, cols, d, cols, src, cols, 1, c.gw, rows)
		if c.needDX {
			dst := c.dx[n*c.inSz : (n+1)*c.inSz]
			if c.is1x1() {
				kernels.GEMM(true, false, rows, cols, p.COut, c.w, rows, d, cols, 0, dst, cols)
			} else {
				kernels.GEMM(true, false, rows, cols, p.COut, c.w, rows, d, cols, 0, c.col, cols)
				c.g.col2im(dst, c.col)
			}
		}
	}
	return c.dx
}

func (c *conv) is1x1() bool {
	return c.p.KH == 1 && c.p.Stride == 1 && c.p.Pad == 0
}

// residual is x + Conv1x1(ReLU(Conv3x3(x))), both without bias.
type residual struct {
	c3, c1 *conv
	out    []float32
}

func newResidual(prefix string, params, grads nn.Params, n, ch, h, w int) *residual {
	cp3 := kernels.ConvParams{N: n, CIn: ch, H: h, W: w, COut: ch, KH: 3, KW: 3, Stride: 1, Pad: 1}
	cp1 := kernels.ConvParams{N: n, CIn: ch, H: h, W: w, COut: ch, KH: 1, KW: 1, Stride: 1}
	return &residual{
		c3:  newConv(prefix+".resblock.0", params, grads, cp3, false, nn.ActReLU, true),
		c1:  newConv(prefix+".resblock.2", params, grads, cp1, false, nn.ActNone, true),
		out: make([]float32, n*ch*h*w),
	}
}

func (r *residual) reload() { r.c3.reload(); r.c1.reload() }

func (r *residual) forward(x []float32) []float32 {
	h := r.c1.forward(r.c3.forward(x))
	for i := range r.out {
		r.out[i] = x[i] + h[i]
	}
	return r.out
}

// backward: dx = dy + (branch backward of dy). The branch's backward
// scales its own copy of dy, so dy itself is not changed.
func (r *residual) backward(dy []float32) []float32 {
	tmp := r.c1.out // the branch output buffer is free after forward
	copy(tmp, dy)
	dx := r.c3.backward(r.c1.backward(tmp))
	for i := range dx {
		dx[i] += dy[i]
	}
	return dx
}

// leaky is the parameter-free LeakyReLU module.
type leaky struct{ out []float32 }

func (l *leaky) reload() {}

func (l *leaky) forward(x []float32) []float32 {
	copy(l.out, x)
	kernels.LeakyReLU(l.out, nn.LeakySlope)
	return l.out
}

func (l *leaky) backward(dy []float32) []float32 {
	actBackward(nn.ActLeakyReLU, dy, l.out)
	return dy
}
