package causal

import "math"

// ---------------------------------------------------------------- split LeakyReLU sums
//
// The discoverers and both GATv2 layers evaluate, for many pairs (x, y),
//
//	Σ_c w_c LeakyReLU_s(x_c + y_c),
//
// where x and y are per-node vectors. LeakyReLU_s(z) = (1+s)/2 z + (1-s)/2 |z|,
// so the sum is (1+s)/2 (w·x + w·y) + (1-s)/2 Σ_c w_c |x_c + y_c|: the linear
// part is a dot product per node, and only the absolute values are pairwise.
// With X = |w|∘x, Y = |w|∘y (channels reordered) the pairwise part is
// Σ_c sgn(w_c) |X_c + Y_c|: no multiply and, unlike the LeakyReLU's
// data-dependent branch (signs are random here, so it mispredicts half the
// time), no branch. Go has no float conditional move, and math.Max/max()
// handle NaN and signed zeros at 2-3x the cost of a branch; the absolute
// value (abs32, abs_*.go) is a few register instructions. Measured on the
// default retrieval: the discoverer rows ran about 4x faster natively and
// under wasm than with the branch.
//
// The order alternates a positive-weight and a negative-weight channel, then
// the channels left over of the more common sign: partial sums of
// |a| - |b| stay as small as the direct sum's, where summing all positive
// terms first would grow them to Σ |X_c + Y_c| and lose float32 precision
// (the default golden's discoverer gain makes that visible: adj_p then
// differed from PyTorch by 2.1e-4 relative, against 7e-5 for the direct sum
// and for this order). The rewrite is
// exact in real arithmetic and differs from the direct sum by float32
// rounding; leakyDot is the direct form, kept as the twin tests compare with.

// signSplit is a weight vector w split into heads of c channels, each
// reordered as +,-,+,-,... for its first 2q channels, then the rest, all of
// one sign.
type signSplit struct {
	c       int
	perm    []int32   // [heads*c] channel (within the head) at each position
	abs     []float32 // [heads*c] |w| in that order
	q       []int     // [heads] pairs of opposite signs
	tailNeg []bool    // [heads] the channels after the pairs have w < 0
}

func newSignSplit(w []float32, heads, c int) signSplit {
	s := signSplit{c: c, perm: make([]int32, heads*c), abs: make([]float32, heads*c), q: make([]int, heads), tailNeg: make([]bool, heads)}
	var pos, neg []int32
	for h := 0; h < heads; h++ {
		wh := w[h*c : (h+1)*c]
		pos, neg = pos[:0], neg[:0]
		for ch, v := range wh {
			if v >= 0 {
				pos = append(pos, int32(ch))
			} else {
				neg = append(neg, int32(ch))
			}
		}
		q := min(len(pos), len(neg))
		order := s.perm[h*c : (h+1)*c]
		for k := 0; k < q; k++ {
			order[2*k], order[2*k+1] = pos[k], neg[k]
		}
		rest := pos[q:]
		if len(neg) > q {
			rest = neg[q:]
			s.tailNeg[h] = true
		}
		copy(order[2*q:], rest)
		s.q[h] = q
		for k, ch := range order {
			s.abs[h*c+k] = float32(math.Abs(float64(wh[ch])))
		}
	}
	return s
}

// scale writes X = |w|∘x for head h into dst [c] (x [c] in channel order)
// and returns w·x = Σ_k sgn_k X_k, summed in float64.
func (s *signSplit) scale(dst, x []float32, h int) float64 {
	c := s.c
	perm, abs := s.perm[h*c:(h+1)*c], s.abs[h*c:(h+1)*c]
	dst = dst[:len(perm)]
	for k, ch := range perm {
		dst[k] = abs[k] * x[ch]
	}
	return s.signedSum(dst, h)
}

// signedSum is Σ_k sgn_k X_k for X [c] in head h's order, in float64.
func (s *signSplit) signedSum(x []float32, h int) float64 {
	var lin float64
	m := 2 * s.q[h]
	for k := 0; k < m-1; k += 2 {
		lin += float64(x[k]) - float64(x[k+1])
	}
	var t float64
	for _, v := range x[m:] {
		t += float64(v)
	}
	if s.tailNeg[h] {
		t = -t
	}
	return lin + t
}

// absSum is Σ_k sgn_k |x_k + y_k| in the signSplit order (q pairs, then
// the tail, negated when neg); y is at least as long as x. The slices are
// cut to the loop bounds so that the compiler drops every bounds check.
func absSum(x, y []float32, q int, neg bool) float32 {
	xp, yp := x[:2*q], y[:2*q]
	var a0, a1 float32
	k := 0
	for ; k < len(xp)-3; k += 4 {
		a0 += abs32(xp[k]+yp[k]) - abs32(xp[k+1]+yp[k+1])
		a1 += abs32(xp[k+2]+yp[k+2]) - abs32(xp[k+3]+yp[k+3])
	}
	for ; k < len(xp)-1; k += 2 {
		a0 += abs32(xp[k]+yp[k]) - abs32(xp[k+1]+yp[k+1])
	}
	xt := x[2*q:]
	yt := y[2*q : len(x)]
	var t float32
	for k, v := range xt {
		t += abs32(v + yt[k])
	}
	if neg {
		t = -t
	}
	return (a0 + a1) + t
}

// absSum4 is absSum of x against y0..y3 at once, so that each x_k is loaded
// once for four pairs.
func absSum4(x, y0, y1, y2, y3 []float32, q int, neg bool) (s0, s1, s2, s3 float32) {
	m := 2 * q
	xp := x[:m]
	y0p, y1p, y2p, y3p := y0[:m], y1[:m], y2[:m], y3[:m]
	var a0, a1, a2, a3 float32
	for k := 0; k < len(xp)-1; k += 2 {
		v, w := xp[k], xp[k+1]
		a0 += abs32(v+y0p[k]) - abs32(w+y0p[k+1])
		a1 += abs32(v+y1p[k]) - abs32(w+y1p[k+1])
		a2 += abs32(v+y2p[k]) - abs32(w+y2p[k+1])
		a3 += abs32(v+y3p[k]) - abs32(w+y3p[k+1])
	}
	xt := x[m:]
	n := len(x)
	y0t, y1t, y2t, y3t := y0[m:n], y1[m:n], y2[m:n], y3[m:n]
	var t0, t1, t2, t3 float32
	for k, v := range xt {
		t0 += abs32(v + y0t[k])
		t1 += abs32(v + y1t[k])
		t2 += abs32(v + y2t[k])
		t3 += abs32(v + y3t[k])
	}
	if neg {
		return a0 - t0, a1 - t1, a2 - t2, a3 - t3
	}
	return a0 + t0, a1 + t1, a2 + t2, a3 + t3
}

// absSumEdge is Σ_k sgn_k |x_k + y_k + e_k t| in the signSplit order: a
// GATv2 score's pairwise part with edge attribute t (e = |att|∘lin_edge).
func absSumEdge(x, y, e []float32, t float32, q int, neg bool) float32 {
	m := 2 * q
	xp, yp, ep := x[:m], y[:m], e[:m]
	var a0, a1 float32
	k := 0
	for ; k < len(xp)-3; k += 4 {
		a0 += abs32(xp[k]+yp[k]+ep[k]*t) - abs32(xp[k+1]+yp[k+1]+ep[k+1]*t)
		a1 += abs32(xp[k+2]+yp[k+2]+ep[k+2]*t) - abs32(xp[k+3]+yp[k+3]+ep[k+3]*t)
	}
	for ; k < len(xp)-1; k += 2 {
		a0 += abs32(xp[k]+yp[k]+ep[k]*t) - abs32(xp[k+1]+yp[k+1]+ep[k+1]*t)
	}
	xt := x[m:]
	n := len(x)
	yt, et := y[m:n], e[m:n]
	var r float32
	for k, v := range xt {
		r += abs32(v + yt[k] + et[k]*t)
	}
	if neg {
		r = -r
	}
	return (a0 + a1) + r
}

// splitScore combines the parts: b + Σ w LeakyReLU_s(z) = b + (1+s)/2 lin + (1-s)/2 abs.
func splitScore(b, lin float64, abs float32, slope float64) float32 {
	return float32(b + (1+slope)/2*lin + (1-slope)/2*float64(abs))
}

// leakyDot is the direct form Σ_c w_c LeakyReLU_s(x_c + y_c + e_c t): the
// specification of the split sums above (e may be nil for no edge term).
func leakyDot(w, x, y, e []float32, t, slope float32) float32 {
	var s float32
	for c := range w {
		z := x[c] + y[c]
		if e != nil {
			z += e[c] * t
		}
		if z < 0 {
			z *= slope
		}
		s += w[c] * z
	}
	return s
}

// absSumEdge4 is absSumEdge of four edges into one target: sources x0..x3
// with attributes t0..t3 against the shared y and e, each summed exactly as
// absSumEdge sums it (same accumulators, same order), so that y_k and e_k
// are loaded once for four edges.
func absSumEdge4(x0, x1, x2, x3, y, e []float32, t0, t1, t2, t3 float32, q int, neg bool) (s0, s1, s2, s3 float32) {
	m := 2 * q
	n := len(y)
	yp, ep := y[:m], e[:m]
	x0p, x1p, x2p, x3p := x0[:m], x1[:m], x2[:m], x3[:m]
	var a00, a01, a10, a11, a20, a21, a30, a31 float32
	k := 0
	for ; k < len(yp)-3; k += 4 {
		y0, y1, y2, y3 := yp[k], yp[k+1], yp[k+2], yp[k+3]
		e0, e1, e2, e3 := ep[k], ep[k+1], ep[k+2], ep[k+3]
		a00 += abs32(x0p[k]+y0+e0*t0) - abs32(x0p[k+1]+y1+e1*t0)
		a01 += abs32(x0p[k+2]+y2+e2*t0) - abs32(x0p[k+3]+y3+e3*t0)
		a10 += abs32(x1p[k]+y0+e0*t1) - abs32(x1p[k+1]+y1+e1*t1)
		a11 += abs32(x1p[k+2]+y2+e2*t1) - abs32(x1p[k+3]+y3+e3*t1)
		a20 += abs32(x2p[k]+y0+e0*t2) - abs32(x2p[k+1]+y1+e1*t2)
		a21 += abs32(x2p[k+2]+y2+e2*t2) - abs32(x2p[k+3]+y3+e3*t2)
		a30 += abs32(x3p[k]+y0+e0*t3) - abs32(x3p[k+1]+y1+e1*t3)
		a31 += abs32(x3p[k+2]+y2+e2*t3) - abs32(x3p[k+3]+y3+e3*t3)
	}
	for ; k < len(yp)-1; k += 2 {
		y0, y1, e0, e1 := yp[k], yp[k+1], ep[k], ep[k+1]
		a00 += abs32(x0p[k]+y0+e0*t0) - abs32(x0p[k+1]+y1+e1*t0)
		a10 += abs32(x1p[k]+y0+e0*t1) - abs32(x1p[k+1]+y1+e1*t1)
		a20 += abs32(x2p[k]+y0+e0*t2) - abs32(x2p[k+1]+y1+e1*t2)
		a30 += abs32(x3p[k]+y0+e0*t3) - abs32(x3p[k+1]+y1+e1*t3)
	}
	yt, et := y[m:n], e[m:n]
	x0t, x1t, x2t, x3t := x0[m:n], x1[m:n], x2[m:n], x3[m:n]
	var r0, r1, r2, r3 float32
	for k, v := range yt {
		w := et[k]
		r0 += abs32(x0t[k] + v + w*t0)
		r1 += abs32(x1t[k] + v + w*t1)
		r2 += abs32(x2t[k] + v + w*t2)
		r3 += abs32(x3t[k] + v + w*t3)
	}
	if neg {
		r0, r1, r2, r3 = -r0, -r1, -r2, -r3
	}
	return (a00 + a01) + r0, (a10 + a11) + r1, (a20 + a21) + r2, (a30 + a31) + r3
}

// absSum8 is absSum4 for two rows x0, x1 against the same y0..y3 (eight
// pairs), each summed exactly as absSum4 sums it, so that every y value
// loaded serves two rows.
func absSum8(x0, x1, y0, y1, y2, y3 []float32, q int, neg bool) (s [8]float32) {
	m := 2 * q
	xp, zp := x0[:m], x1[:m]
	y0p, y1p, y2p, y3p := y0[:m], y1[:m], y2[:m], y3[:m]
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for k := 0; k < len(xp)-1; k += 2 {
		v, w := xp[k], xp[k+1]
		c0, d0, c1, d1 := y0p[k], y0p[k+1], y1p[k], y1p[k+1]
		a0 += abs32(v+c0) - abs32(w+d0)
		a1 += abs32(v+c1) - abs32(w+d1)
		v2, w2 := zp[k], zp[k+1]
		b0 += abs32(v2+c0) - abs32(w2+d0)
		b1 += abs32(v2+c1) - abs32(w2+d1)
		c2, d2, c3, d3 := y2p[k], y2p[k+1], y3p[k], y3p[k+1]
		a2 += abs32(v+c2) - abs32(w+d2)
		a3 += abs32(v+c3) - abs32(w+d3)
		b2 += abs32(v2+c2) - abs32(w2+d2)
		b3 += abs32(v2+c3) - abs32(w2+d3)
	}
	n := len(x0)
	xt, zt := x0[m:n], x1[m:n]
	y0t, y1t, y2t, y3t := y0[m:n], y1[m:n], y2[m:n], y3[m:n]
	var t0, t1, t2, t3, u0, u1, u2, u3 float32
	for k, v := range xt {
		v2 := zt[k]
		t0 += abs32(v + y0t[k])
		t1 += abs32(v + y1t[k])
		t2 += abs32(v + y2t[k])
		t3 += abs32(v + y3t[k])
		u0 += abs32(v2 + y0t[k])
		u1 += abs32(v2 + y1t[k])
		u2 += abs32(v2 + y2t[k])
		u3 += abs32(v2 + y3t[k])
	}
	if neg {
		return [8]float32{a0 - t0, a1 - t1, a2 - t2, a3 - t3, b0 - u0, b1 - u1, b2 - u2, b3 - u3}
	}
	return [8]float32{a0 + t0, a1 + t1, a2 + t2, a3 + t3, b0 + u0, b1 + u1, b2 + u2, b3 + u3}
}
