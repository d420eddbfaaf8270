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

// im2col writes col[((c·K+ky)·K+kx)·ld + y·OW+x] = x[c, y·S-P+ky, x·S-P+kx]
// (0 outside): rows of OH·OW columns at a row stride ld (OH·OW for one
// image alone, more when several images sit side by side).
func (g geom) im2col(col []float32, ld int, x []float32) {
	ohw := g.OH * g.OW
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for ky := 0; ky < g.K; ky++ {
			for kx := 0; kx < g.K; kx++ {
				r := (c*g.K+ky)*g.K + kx
				row := col[r*ld : r*ld+ohw]
				for y := 0; y < g.OH; y++ {
					out := row[y*g.OW : (y+1)*g.OW]
					iy := y*g.S - g.P + ky
					if iy < 0 || iy >= g.H {
						clear(out)
						continue
					}
					in := plane[iy*g.W : (iy+1)*g.W]
					// Output columns x0 <= x < x1 read inside the row.
					x0 := min(max(0, (g.P-kx+g.S-1)/g.S), g.OW)
					x1 := x0
					if last := g.W - 1 + g.P - kx; last >= 0 {
						x1 = max(min(g.OW, last/g.S+1), x0)
					}
					clear(out[:x0])
					clear(out[x1:])
					if g.S == 1 {
						copy(out[x0:x1], in[x0-g.P+kx:])
						continue
					}
					for xx := x0; xx < x1; xx++ {
						out[xx] = in[xx*g.S-g.P+kx]
					}
				}
			}
		}
	}
}

// gather is geom.im2col through a table, for the weight gradients: each
// channel is copied into a zero-bordered plane, and im2col row (c, ky, kx)
// reads that plane at offsets that depend on (ky, kx) only, with no bounds
// tests per element (at 8×8 an image row is too short for a per-row copy
// to pay).
type gather struct {
	g      geom
	wp     int       // padded plane width
	tab    []int32   // [K·K, OH·OW] offsets into the padded plane
	padded []float32 // [hp, wp]; the border stays zero
}

func newGather(g geom) *gather {
	hp := max(g.H+2*g.P, (g.OH-1)*g.S+g.K)
	wp := max(g.W+2*g.P, (g.OW-1)*g.S+g.K)
	q := &gather{g: g, wp: wp, tab: make([]int32, g.K*g.K*g.OH*g.OW), padded: make([]float32, hp*wp)}
	i := 0
	for ky := 0; ky < g.K; ky++ {
		for kx := 0; kx < g.K; kx++ {
			for y := 0; y < g.OH; y++ {
				for x := 0; x < g.OW; x++ {
					q.tab[i] = int32((y*g.S+ky)*wp + x*g.S + kx)
					i++
				}
			}
		}
	}
	return q
}

// im2col is geom.im2col (same output, row stride ld).
func (q *gather) im2col(col []float32, ld int, x []float32) {
	g := q.g
	ohw, kk := g.OH*g.OW, g.K*g.K
	for c := 0; c < g.C; c++ {
		plane := x[c*g.H*g.W : (c+1)*g.H*g.W]
		for y := 0; y < g.H; y++ {
			copy(q.padded[(y+g.P)*q.wp+g.P:], plane[y*g.W:(y+1)*g.W])
		}
		for t := 0; t < kk; t++ {
			r := c*kk + t
			row := col[r*ld : r*ld+ohw]
			for i, o := range q.tab[t*ohw : (t+1)*ohw] {
				row[i] = q.padded[o]
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
	p      kernels.ConvParams // N = shard size
	plan   *kernels.Conv
	act    nn.Activation
	w, b   []float32 // shared parameters
	gw, gb []float32 // this shard's gradients
	g      geom      // im2col geometry of the regular conv (the adjoint one when transposed)
	in     []float32 // input (not owned)
	out    []float32 // output [n, COut, OH, OW]
	dx     []float32
	needDX bool
	inSz   int
	oSz    int
	rows   int // im2col rows: CIn·K² (COut·K² transposed)
	cols   int // im2col columns of one image: OH·OW (H·W transposed)
	chunk  int // images per weight-gradient GEMM
	// dplan computes dx from dy as a forward convolution (nil: GEMMs and
	// col2im per image): the adjoint of a convolution is the transposed
	// convolution with the same weights and the other way round, and a
	// stride-1 "same" convolution's adjoint is a convolution with the
	// kernel flipped and its channel axes swapped (wflip), which the
	// runtime runs with Winograd or one GEMM.
	dplan   *kernels.Conv
	wflip   []float32
	gat     *gather    // im2col for the weight gradient (nil for 1×1)
	scratch *[]float32 // the shard's GEMM operand buffer, shared by its layers
}

// newConv binds prefix.weight/.bias of params and grads to a planned
// convolution over shards of cp.N samples. scratch is a buffer the layers
// of one shard share (grown on first use); nil gives the layer its own.
func newConv(prefix string, params, grads nn.Params, cp kernels.ConvParams, bias bool, act nn.Activation, needDX bool, scratch *[]float32) *conv {
	c := &conv{p: cp, plan: kernels.NewConv(cp), act: act, needDX: needDX,
		w: params[prefix+".weight"].Data, gw: grads[prefix+".weight"].Data, scratch: scratch}
	if c.scratch == nil {
		c.scratch = new([]float32)
	}
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
	c.rows, c.cols = c.g.C*c.g.K*c.g.K, c.g.OH*c.g.OW
	if !c.is1x1() {
		c.gat = newGather(c.g)
	}
	// Enough images per weight-gradient GEMM for a k of at least 512 (the
	// C tile is loaded and stored once per GEMM, not once per image),
	// with the operands under 8 MiB.
	c.chunk = max(1, min(cp.N, 512/c.cols))
	for c.chunk > 1 && c.rows*c.cols*c.chunk > 1<<21 {
		c.chunk--
	}
	c.out = make([]float32, cp.N*c.oSz)
	if needDX {
		c.dx = make([]float32, cp.N*c.inSz)
		c.dplan = adjointPlan(cp)
		if c.dplan != nil && !cp.Transposed && cp.Stride == 1 {
			c.wflip = make([]float32, len(c.w))
		}
	}
	c.reload()
	return c
}

// adjointPlan plans dx = adjoint(dy) for a conv of shape cp as a forward
// convolution (see conv.dplan), or returns nil when none fits.
func adjointPlan(cp kernels.ConvParams) *kernels.Conv {
	q := kernels.ConvParams{N: cp.N, CIn: cp.COut, H: cp.OutH(), W: cp.OutW(), COut: cp.CIn,
		KH: cp.KH, KW: cp.KW, Stride: cp.Stride, Pad: cp.Pad, Transposed: !cp.Transposed}
	if cp.Stride == 1 && !cp.Transposed && cp.KH == cp.KW && cp.KH%2 == 1 && cp.Pad == cp.KH/2 {
		q.Transposed = false // flipped kernel, same padding
	}
	if q.OutH() != cp.H || q.OutW() != cp.W {
		return nil // a stride that drops input rows: no exact adjoint conv
	}
	return kernels.NewConv(q)
}

func (c *conv) reload() {
	c.plan.SetWeights(c.w, c.b)
	if c.dplan == nil {
		return
	}
	if c.wflip == nil {
		c.dplan.SetWeights(c.w, nil)
		return
	}
	// wflip[ci, co, ky, kx] = w[co, ci, K-1-ky, K-1-kx].
	p := c.p
	kk := p.KH * p.KW
	for co := 0; co < p.COut; co++ {
		for ci := 0; ci < p.CIn; ci++ {
			src := c.w[(co*p.CIn+ci)*kk : (co*p.CIn+ci+1)*kk]
			dst := c.wflip[(ci*p.COut+co)*kk : (ci*p.COut+co+1)*kk]
			for t, v := range src {
				dst[kk-1-t] = v
			}
		}
	}
	c.dplan.SetWeights(c.wflip, nil)
}

// copyFrom installs the weights o (the same layer of another shard) was
// reloaded with, without transforming them again.
func (c *conv) copyFrom(o *conv) {
	c.plan.CopyWeights(o.plan)
	if c.dplan != nil {
		c.dplan.CopyWeights(o.dplan)
	}
}

func (c *conv) forward(x []float32) []float32 {
	c.in = x
	c.plan.Forward(c.out, x)
	c.act.Apply(c.out)
	return c.out
}

// backward: with col = im2col(x) [CIn·K², OH·OW] and W as [COut, CIn·K²],
// y = W·col, so dW += dy·colᵀ and dx = col2im(Wᵀ·dy). Transposed, with
// dcol = im2col(dy) [COut·K², H·W] and W as [CIn, COut·K²]: dx = W·dcol and
// dW += x·dcolᵀ. The weight gradient takes chunks of images side by side
// (one GEMM with k = images·columns); dx is the adjoint convolution of dy
// when dplan fits.
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
	c.weightGrad(dy)
	if !c.needDX {
		return nil
	}
	if c.dplan != nil {
		c.dplan.Forward(c.dx, dy)
		return c.dx
	}
	rows, cols := c.rows, c.cols
	col := c.buf(rows * cols)
	for n := 0; n < p.N; n++ {
		d, dst := dy[n*c.oSz:(n+1)*c.oSz], c.dx[n*c.inSz:(n+1)*c.inSz]
		switch {
		case p.Transposed:
			c.g.im2col(col, cols, d)
			kernels.GEMM(false, false, p.CIn, cols, rows, c.w, rows, col, cols, 0, dst, cols)
		case c.is1x1():
			kernels.GEMM(true, false, rows, cols, p.COut, c.w, rows, d, cols, 0, dst, cols)
		default:
			kernels.GEMM(true, false, rows, cols, p.COut, c.w, rows, d, cols, 0, col, cols)
			c.g.col2im(dst, col)
		}
	}
	return c.dx
}

// weightGrad adds dW from dy [n, COut, OH, OW] and the layer's input, a
// chunk of nb images per GEMM: with the images' columns side by side, dW +=
// D·Colᵀ (D [COut, nb·OH·OW], Col = im2col(x) [CIn·K², nb·OH·OW]), or
// transposed dW += X·DColᵀ (X [CIn, nb·H·W], DCol = im2col(dy)).
func (c *conv) weightGrad(dy []float32) {
	p := c.p
	rows, cols := c.rows, c.cols
	for n0 := 0; n0 < p.N; n0 += c.chunk {
		nb := min(c.chunk, p.N-n0)
		ld := nb * cols
		// a: the [m, ld] side (dy, or x when transposed); col: [rows, ld].
		m, aSz, aSrc, cSz, cSrc := p.COut, c.oSz, dy, c.inSz, c.in
		if p.Transposed {
			m, aSz, aSrc, cSz, cSrc = p.CIn, c.inSz, c.in, c.oSz, dy
		}
		buf := c.buf(m*ld + rows*ld)
		a, col := buf[:m*ld], buf[m*ld:]
		for i := 0; i < nb; i++ {
			img := aSrc[(n0+i)*aSz : (n0+i+1)*aSz]
			for r := 0; r < m; r++ {
				copy(a[r*ld+i*cols:r*ld+(i+1)*cols], img[r*cols:(r+1)*cols])
			}
			src := cSrc[(n0+i)*cSz : (n0+i+1)*cSz]
			if c.is1x1() {
				for r := 0; r < rows; r++ {
					copy(col[r*ld+i*cols:r*ld+(i+1)*cols], src[r*cols:(r+1)*cols])
				}
			} else {
				c.gat.im2col(col[i*cols:], ld, src)
			}
		}
		kernels.GEMM(false, true, m, rows, ld, a, ld, col, ld, 1, c.gw, rows)
	}
}

// buf returns the shard's scratch buffer with at least n floats.
func (c *conv) buf(n int) []float32 {
	if len(*c.scratch) < n {
		*c.scratch = make([]float32, n)
	}
	return (*c.scratch)[:n]
}

func (c *conv) is1x1() bool {
	return c.p.KH == 1 && c.p.Stride == 1 && c.p.Pad == 0
}

// residual is x + Conv1x1(ReLU(Conv3x3(x))), both without bias.
type residual struct {
	c3, c1 *conv
	out    []float32
}

func newResidual(prefix string, params, grads nn.Params, n, ch, h, w int, scratch *[]float32) *residual {
	cp3 := kernels.ConvParams{N: n, CIn: ch, H: h, W: w, COut: ch, KH: 3, KW: 3, Stride: 1, Pad: 1}
	cp1 := kernels.ConvParams{N: n, CIn: ch, H: h, W: w, COut: ch, KH: 1, KW: 1, Stride: 1}
	return &residual{
		c3:  newConv(prefix+".resblock.0", params, grads, cp3, false, nn.ActReLU, true, scratch),
		c1:  newConv(prefix+".resblock.2", params, grads, cp1, false, nn.ActNone, true, scratch),
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
