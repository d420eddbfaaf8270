package train

import "math"

// ---------------------------------------------------------------------------
// The GATv2 layers' per-edge inner loops over the c channels of a head, in
// float64. On amd64 with AVX2+FMA they run 4 channels per instruction
// (gat_amd64.s; the last len%4 channels here); these Go loops are the
// specification, the tails, and the loops of other builds. LeakyReLU with
// slope 0.2 is la·z + lb·|z| and its derivative la + lb·sgn(z) (sgn(±0) =
// ±1, as leakyD).
// ---------------------------------------------------------------------------

const (
	gatLA = 0.5 * (1 + 0.2)
	gatLB = 0.5 * (1 - 0.2)
)

// gatScoreGo returns (s1, s2) = (Σ_q att[q]·z_q, Σ_q att[q]·|z_q|) with
// z_q = xl[q] + xr[q] + le[q]·w: the score is la·s1 + lb·s2.
func gatScoreGo(xl, xr, le, att []float64, w float64) (s1, s2 float64) {
	xr, le, att = xr[:len(xl)], le[:len(xl)], att[:len(xl)]
	for q, x := range xl {
		z := x + xr[q] + le[q]*w
		s1 += att[q] * z
		s2 += att[q] * abs64(z)
	}
	return s1, s2
}

// gatEdgeGradGo adds one edge's attention-score gradient de through
// z_q = xl[q] + xr[q] + le[q]·w: with e_q = de·leakyD(z_q) (la·de ± lb·de),
// datt += e·z, ds = att·e, dxl += ds, dxr += ds, dle += ds·w; it returns
// Σ ds·le (the gradient of w).
func gatEdgeGradGo(de, w float64, xl, xr, le, att, datt, dxl, dxr, dle []float64) (dw float64) {
	n := len(xl)
	xr, le, att, datt, dxl, dxr, dle = xr[:n], le[:n], att[:n], datt[:n], dxl[:n], dxr[:n], dle[:n]
	ea, eb := gatLA*de, gatLB*de
	for q, x := range xl {
		z := x + xr[q] + le[q]*w
		e := ea + flipSign64(eb, z)
		datt[q] += e * z
		ds := att[q] * e
		dxl[q] += ds
		dxr[q] += ds
		dle[q] += ds * w
		dw += ds * le[q]
	}
	return dw
}

// axpyDotGo adds a·d to y and returns Σ d·x (the GATv2 aggregation's
// backward for one edge: dxl += α·dout, ∂α = dout·xl).
func axpyDotGo(a float64, d, x, y []float64) (dot float64) {
	x, y = x[:len(d)], y[:len(d)]
	for q, v := range d {
		y[q] += a * v
		dot += v * x[q]
	}
	return dot
}

// axpyGo adds a·x to y.
func axpyGo(a float64, x, y []float64) {
	y = y[:len(x)]
	for q, v := range x {
		y[q] += a * v
	}
}

// abs64 is math.Abs.
func abs64(x float64) float64 { return math.Abs(x) }

// flipSign64 is x·sgn(s): x with its sign flipped when s's sign bit is set.
func flipSign64(x, s float64) float64 {
	return math.Float64frombits(math.Float64bits(x) ^ math.Float64bits(s)&(1<<63))
}
