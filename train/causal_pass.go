package train

import "sync"

// ---------------------------------------------------------------------------
// One forward/backward pass of the causal layer on one sample (see
// causal.go for the math). Buffers are allocated once per shard.
// ---------------------------------------------------------------------------

// edges is the GATv2 graph: for target j, sources src[off[j]:off[j+1]]
// with attributes attr[...]; the last source of each target is its self loop.
type edges struct {
	off  []int
	src  []int
	attr []float64
}

// gatCache is one GATv2 layer's forward state over nh computed heads.
type gatCache struct {
	heads  []int     // the heads computed, by slot
	c, fin int       // channels per head, input width
	in     []float64 // [n, fin] input (not owned)
	xl, xr []float64 // [n, nh·c]
	alpha  []float64 // [E, nh]
	out    []float64 // [n, nh·c] (bias included)
	dxl    []float64
	dxr    []float64
	dattr  []float64 // [E]
}

func newGatCache(n, maxHeads, c, fin, maxE int) *gatCache {
	return &gatCache{c: c, fin: fin, xl: make([]float64, n*maxHeads*c), xr: make([]float64, n*maxHeads*c),
		alpha: make([]float64, maxE*maxHeads), out: make([]float64, n*maxHeads*c),
		dxl: make([]float64, n*maxHeads*c), dxr: make([]float64, n*maxHeads*c), dattr: make([]float64, maxE)}
}

// linearHeads writes y[i, slot·c+q] = b[h·c+q] + Σ_f w[(h·c+q)·fin+f]·in[i,f]
// for the heads computed (head heads[slot] into slot), one gemm64 per head
// on the transposed input: Y_slotᵀ [c, n] = W_h [c, fin] · Inᵀ.
func linearHeads(y, w, b, in []float64, n, fin, c int, heads []int) {
	nh := len(heads)
	sp, buf := scratch64(fin*n + c*n)
	inT, ct := buf[:fin*n], buf[fin*n:]
	transpose64(inT, in, n, fin, fin)
	for s, h := range heads {
		clear(ct)
		gemm64(c, n, fin, w[h*c*fin:(h+1)*c*fin], fin, 1, inT, n, ct, n)
		bh := b[h*c : (h+1)*c]
		for i := 0; i < n; i++ {
			row := y[i*nh*c+s*c : i*nh*c+(s+1)*c]
			for q := range row {
				row[q] = bh[q] + ct[q*n+i]
			}
		}
	}
	scratchPool.Put(sp)
}

// linearHeadsBackward adds dW, db from dy and, when din is not nil, the
// input gradient din[i,f] += Σ w·dy: per head dW_h += dY_slotᵀ · In and
// dIn += dY_slot · W_h (gemm64, dY_slotᵀ read through strides).
func linearHeadsBackward(dw, db, din, w, in, dy []float64, n, fin, c int, heads []int) {
	nh := len(heads)
	for s, h := range heads {
		bh := db[h*c : (h+1)*c]
		for i := 0; i < n; i++ {
			for q, g := range dy[i*nh*c+s*c : i*nh*c+(s+1)*c] {
				bh[q] += g
			}
		}
		gemm64(c, fin, n, dy[s*c:], 1, nh*c, in, fin, dw[h*c*fin:(h+1)*c*fin], fin)
		if din != nil {
			gemm64(n, fin, c, dy[s*c:], nh*c, 1, w[h*c*fin:(h+1)*c*fin], fin, din, fin)
		}
	}
}

// scratchPool holds float64 work buffers (transposed operands) shared by
// the shards' goroutines, so steady-state passes allocate nothing.
var scratchPool = sync.Pool{New: func() any { return new([]float64) }}

// scratch64 takes a buffer of n floats from scratchPool; put sp back when done.
func scratch64(n int) (sp *[]float64, buf []float64) {
	sp = scratchPool.Get().(*[]float64)
	if cap(*sp) < n {
		*sp = make([]float64, n)
	}
	return sp, (*sp)[:n]
}

// gatForward runs GATv2 over the graph for the computed heads.
func gatForward(g gatP, gc *gatCache, in []float64, n int, e *edges) {
	nh, c := len(gc.heads), gc.c
	gc.in = in
	linearHeads(gc.xl, g.wl, g.bl, in, n, gc.fin, c, gc.heads)
	linearHeads(gc.xr, g.wr, g.br, in, n, gc.fin, c, gc.heads)
	for j := 0; j < n; j++ {
		lo, hi := e.off[j], e.off[j+1]
		for s, h := range gc.heads {
			xr := gc.xr[(j*nh+s)*c : (j*nh+s+1)*c]
			att, le := g.att[h*c:(h+1)*c], g.le[h*c:(h+1)*c]
			mx := -1e308
			for t := lo; t < hi; t++ {
				xl := gc.xl[(e.src[t]*nh+s)*c : (e.src[t]*nh+s+1)*c]
				sc := gatScore(xl, xr, le, att, e.attr[t])
				gc.alpha[t*nh+s] = sc
				mx = max(mx, sc)
			}
			var z float64
			for t := lo; t < hi; t++ {
				v := expF(gc.alpha[t*nh+s] - mx)
				gc.alpha[t*nh+s] = v
				z += v
			}
			out := gc.out[(j*nh+s)*c : (j*nh+s+1)*c]
			copy(out, g.bias[h*c:(h+1)*c])
			for t := lo; t < hi; t++ {
				a := gc.alpha[t*nh+s] / z
				gc.alpha[t*nh+s] = a
				axpy(a, gc.xl[(e.src[t]*nh+s)*c:(e.src[t]*nh+s+1)*c], out)
			}
		}
	}
}

// gatBackward takes dout [n, nh·c] and adds the gradients of att, bias,
// lin_edge, lin_l, lin_r into dg, the edge-attribute gradient into
// gc.dattr (overwritten) and, when din is not nil, the input gradient.
func gatBackward(g, dg gatP, gc *gatCache, dout, din []float64, n int, e *edges) {
	nh, c := len(gc.heads), gc.c
	clear(gc.dxl[:n*nh*c])
	clear(gc.dxr[:n*nh*c])
	clear(gc.dattr[:len(e.src)])
	var dalpha [64]float64 // per source of one target; grows below when needed
	da := dalpha[:0]
	for j := 0; j < n; j++ {
		lo, hi := e.off[j], e.off[j+1]
		if cap(da) < hi-lo {
			da = make([]float64, hi-lo)
		}
		da = da[:hi-lo]
		for s, h := range gc.heads {
			d := dout[(j*nh+s)*c : (j*nh+s+1)*c]
			for q, v := range d {
				dg.bias[h*c+q] += v
			}
			var dot float64
			for t := lo; t < hi; t++ {
				a := gc.alpha[t*nh+s]
				xl := gc.xl[(e.src[t]*nh+s)*c : (e.src[t]*nh+s+1)*c]
				dxl := gc.dxl[(e.src[t]*nh+s)*c : (e.src[t]*nh+s+1)*c]
				g0 := axpyDot(a, d, xl, dxl)
				da[t-lo] = g0
				dot += a * g0
			}
			xr := gc.xr[(j*nh+s)*c : (j*nh+s+1)*c]
			dxr := gc.dxr[(j*nh+s)*c : (j*nh+s+1)*c]
			att, le := g.att[h*c:(h+1)*c], g.le[h*c:(h+1)*c]
			datt, dle := dg.att[h*c:(h+1)*c], dg.le[h*c:(h+1)*c]
			for t := lo; t < hi; t++ {
				de := gc.alpha[t*nh+s] * (da[t-lo] - dot)
				if de == 0 {
					continue
				}
				xl := gc.xl[(e.src[t]*nh+s)*c : (e.src[t]*nh+s+1)*c]
				dxl := gc.dxl[(e.src[t]*nh+s)*c : (e.src[t]*nh+s+1)*c]
				gc.dattr[t] += gatEdgeGrad(de, e.attr[t], xl, xr, le, att, datt, dxl, dxr, dle)
			}
		}
	}
	linearHeadsBackward(dg.wl, dg.bl, din, g.wl, gc.in, gc.dxl, n, gc.fin, c, gc.heads)
	linearHeadsBackward(dg.wr, dg.br, din, g.wr, gc.in, gc.dxr, n, gc.fin, c, gc.heads)
}

// linearHeadsNaive is linearHeads as plain loops (the twin its test checks
// against): it writes y[i, slot·c+q] = b[h·c+q] + Σ_f w[(h·c+q)·fin+f]·in[i,f].
func linearHeadsNaive(y, w, b, in []float64, n, fin, c int, heads []int) {
	nh := len(heads)
	for i := 0; i < n; i++ {
		xi := in[i*fin : (i+1)*fin]
		for s, h := range heads {
			for q := 0; q < c; q++ {
				row := w[(h*c+q)*fin : (h*c+q+1)*fin]
				sum := b[h*c+q]
				for f, v := range xi {
					sum += row[f] * v
				}
				y[(i*nh+s)*c+q] = sum
			}
		}
	}
}

// linearHeadsBackwardNaive is linearHeadsBackward as plain loops: it adds dW, db from dy and, when din is not nil, the
// input gradient din[i,f] += Σ w·dy.
func linearHeadsBackwardNaive(dw, db, din, w, in, dy []float64, n, fin, c int, heads []int) {
	nh := len(heads)
	for i := 0; i < n; i++ {
		xi := in[i*fin : (i+1)*fin]
		for s, h := range heads {
			for q := 0; q < c; q++ {
				g := dy[(i*nh+s)*c+q]
				if g == 0 {
					continue
				}
				db[h*c+q] += g
				row := dw[(h*c+q)*fin : (h*c+q+1)*fin]
				for f, v := range xi {
					row[f] += g * v
				}
				if din != nil {
					wr := w[(h*c+q)*fin : (h*c+q+1)*fin]
					di := din[i*fin : (i+1)*fin]
					for f, v := range wr {
						di[f] += g * v
					}
				}
			}
		}
	}
}
