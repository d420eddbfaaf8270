//go:build amd64 && !purego

package train

// The GATv2 inner loops with AVX2+FMA on the first len/4·4 channels (see
// gat_kernels.go for the math; every slice is cut to len(xl) or len(d)
// first, so the assembly reads and writes only inside them).

// gatScore is la·s1 + lb·s2 of gatScoreGo.
func gatScore(xl, xr, le, att []float64, w float64) float64 {
	n := len(xl)
	xr, le, att = xr[:n], le[:n], att[:n]
	var s1, s2 float64
	if v := n &^ 3; useFMA64 && v > 0 {
		s1, s2 = gatScoreFMA(xl[:v], xr, le, att, w)
		xl, xr, le, att = xl[v:], xr[v:], le[v:], att[v:]
	}
	t1, t2 := gatScoreGo(xl, xr, le, att, w)
	return gatLA*(s1+t1) + gatLB*(s2+t2)
}

func gatEdgeGrad(de, w float64, xl, xr, le, att, datt, dxl, dxr, dle []float64) float64 {
	n := len(xl)
	xr, le, att, datt, dxl, dxr, dle = xr[:n], le[:n], att[:n], datt[:n], dxl[:n], dxr[:n], dle[:n]
	var dw float64
	if v := n &^ 3; useFMA64 && v > 0 {
		dw = gatEdgeGradFMA(gatLA*de, gatLB*de, w, xl[:v], xr, le, att, datt, dxl, dxr, dle)
		xl, xr, le, att, datt, dxl, dxr, dle = xl[v:], xr[v:], le[v:], att[v:], datt[v:], dxl[v:], dxr[v:], dle[v:]
	}
	return dw + gatEdgeGradGo(de, w, xl, xr, le, att, datt, dxl, dxr, dle)
}

func axpyDot(a float64, d, x, y []float64) float64 {
	n := len(d)
	x, y = x[:n], y[:n]
	var dot float64
	if v := n &^ 3; useFMA64 && v > 0 {
		dot = axpyDotFMA(a, d[:v], x, y)
		d, x, y = d[v:], x[v:], y[v:]
	}
	return dot + axpyDotGo(a, d, x, y)
}

func axpy(a float64, x, y []float64) {
	n := len(x)
	y = y[:n]
	if v := n &^ 3; useFMA64 && v > 0 {
		axpyFMA(a, x[:v], y)
		x, y = x[v:], y[v:]
	}
	axpyGo(a, x, y)
}

// The kernels run len(first slice)/4 steps of 4 channels; the other
// slices are at least that long.

//go:noescape
func gatScoreFMA(xl, xr, le, att []float64, w float64) (s1, s2 float64)

//go:noescape
func gatEdgeGradFMA(ea, eb, w float64, xl, xr, le, att, datt, dxl, dxr, dle []float64) (dw float64)

//go:noescape
func axpyDotFMA(a float64, d, x, y []float64) (dot float64)

//go:noescape
func axpyFMA(a float64, x, y []float64)

// absPairSum is absPairSumGo.
func absPairSum(w, u, v []float64) float64 {
	n := len(w)
	u, v = u[:n], v[:n]
	var s float64
	if k := n &^ 7; useFMA64 && k > 0 {
		s = absPairSumFMA(w[:k], u, v)
		w, u, v = w[k:], u[k:], v[k:]
	}
	return s + absPairSumGo(w, u, v)
}

// signSums is signSumsGo.
func signSums(dz float64, u, v, S, T, G []float64) {
	n := len(u)
	v, S, T, G = v[:n], S[:n], T[:n], G[:n]
	if k := n &^ 3; useFMA64 && k > 0 {
		signSumsFMA(dz, u[:k], v, S, T, G)
		u, v, S, T, G = u[k:], v[k:], S[k:], T[k:], G[k:]
	}
	signSumsGo(dz, u, v, S, T, G)
}

// absPairSumFMA runs len(w)/8 steps of 8 terms (two sums of 4 lanes).
//
//go:noescape
func absPairSumFMA(w, u, v []float64) float64

// signSumsFMA runs len(u)/4 steps of 4 channels.
//
//go:noescape
func signSumsFMA(dz float64, u, v, S, T, G []float64)
