package train

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

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
// for the heads computed (head heads[slot] into slot), one GEMM per head:
// Y_slot [n, c] (row stride nh·c) = In [n, fin] · W_h^T.
func linearHeads(y, w, b, in []float64, n, fin, c int, heads []int) {
	nh := len(heads)
	X := blas64.General{Rows: n, Cols: fin, Stride: fin, Data: in[:n*fin]}
	for s, h := range heads {
		Y := blas64.General{Rows: n, Cols: c, Stride: nh * c, Data: y[s*c : (n-1)*nh*c+(s+1)*c]}
		for i := 0; i < n; i++ {
			copy(Y.Data[i*nh*c:i*nh*c+c], b[h*c:(h+1)*c])
		}
		W := blas64.General{Rows: c, Cols: fin, Stride: fin, Data: w[h*c*fin : (h+1)*c*fin]}
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, X, W, 1, Y)
	}
}

// linearHeadsBackward adds dW, db from dy and, when din is not nil, the
// input gradient din[i,f] += Σ w·dy: per head dW_h += dY_slot^T · In and
// dIn += dY_slot · W_h.
func linearHeadsBackward(dw, db, din, w, in, dy []float64, n, fin, c int, heads []int) {
	nh := len(heads)
	X := blas64.General{Rows: n, Cols: fin, Stride: fin, Data: in[:n*fin]}
	for s, h := range heads {
		dY := blas64.General{Rows: n, Cols: c, Stride: nh * c, Data: dy[s*c : (n-1)*nh*c+(s+1)*c]}
		for i := 0; i < n; i++ {
			row := dY.Data[i*nh*c : i*nh*c+c]
			bh := db[h*c : (h+1)*c]
			for q, g := range row {
				bh[q] += g
			}
		}
		dW := blas64.General{Rows: c, Cols: fin, Stride: fin, Data: dw[h*c*fin : (h+1)*c*fin]}
		blas64.Gemm(blas.Trans, blas.NoTrans, 1, dY, X, 1, dW)
		if din != nil {
			W := blas64.General{Rows: c, Cols: fin, Stride: fin, Data: w[h*c*fin : (h+1)*c*fin]}
			blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, dY, W, 1, blas64.General{Rows: n, Cols: fin, Stride: fin, Data: din[:n*fin]})
		}
	}
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
				var sc float64
				for q := range xl {
					sc += att[q] * leakyF(xl[q]+xr[q]+le[q]*e.attr[t], 0.2)
				}
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
				xl := gc.xl[(e.src[t]*nh+s)*c : (e.src[t]*nh+s+1)*c]
				for q, v := range xl {
					out[q] += a * v
				}
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
				var g0 float64
				for q, v := range d {
					dxl[q] += a * v
					g0 += v * xl[q]
				}
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
				w := e.attr[t]
				var dw float64
				for q := range xl {
					z := xl[q] + xr[q] + le[q]*w
					datt[q] += de * leakyF(z, 0.2)
					ds := de * att[q] * leakyD(z, 0.2)
					dxl[q] += ds
					dxr[q] += ds
					dle[q] += ds * w
					dw += ds * le[q]
				}
				gc.dattr[t] += dw
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
