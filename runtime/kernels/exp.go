package kernels

import "math"

// The range reduction constants of Exp and ExpInPlace: log2(e), and math's
// split of ln 2 into a high and a low part.
const (
	log2e = 1.44269504088896338700e+00
	ln2Hi = 6.93147180369123816490e-01
	ln2Lo = 1.90821492927058770002e-10
)

// Exp is e^x in float64, for the softmaxes and sigmoids of the forward
// passes: within a few float64 ulps of math.Exp (its twin; see
// TestExpMatchesMath), so anything rounded to float32 afterwards is
// practically always the same value. Under wasm math.Exp is three calls
// (exp, expmulti with a division, ldexp with its normalisation), and a
// retrieval evaluates hundreds of thousands of them.
//
// x = k ln2 + r with |r| <= ln2/2 (ln2 split in two so k·ln2Hi is exact),
// e^r by its Taylor series to r^12 (truncation below 2e-16 relative)
// evaluated by Estrin's scheme, 2^k built from its bits. Results outside the normal range (x > 709 or
// x < -708) and NaN go to math.Exp.
func Exp(x float64) float64 {
	if !(x >= -708 && x <= 709) {
		return math.Exp(x)
	}
	k := math.Floor(x*log2e + 0.5)
	r := (x - k*ln2Hi) - k*ln2Lo
	// Estrin's scheme: the same polynomial as nested Horner steps, in
	// independent pairs, so the sum is 4 multiply-add steps deep instead of
	// 12 (wasm keeps every float operation in order).
	r2 := r * r
	r4 := r2 * r2
	r8 := r4 * r4
	q0 := 1 + r
	q1 := 1.0/2 + r*(1.0/6)
	q2 := 1.0/24 + r*(1.0/120)
	q3 := 1.0/720 + r*(1.0/5040)
	q4 := 1.0/40320 + r*(1.0/362880)
	q5 := 1.0/3628800 + r*(1.0/39916800)
	const q6 = 1.0 / 479001600
	p := (q0 + q1*r2 + (q2+q3*r2)*r4) + (q4+q5*r2+q6*r4)*r8
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// ExpInPlace sets x[i] = Exp(x[i]), bit for bit (the same operations
// written out in the loop: under wasm a call per element costs about as
// much as the polynomial; TestExpInPlaceMatchesExp ties the two).
func ExpInPlace(x []float64) {
	for i, v := range x {
		if !(v >= -708 && v <= 709) {
			x[i] = math.Exp(v)
			continue
		}
		k := math.Floor(v*log2e + 0.5)
		r := (v - k*ln2Hi) - k*ln2Lo
		r2 := r * r
		r4 := r2 * r2
		r8 := r4 * r4
		q0 := 1 + r
		q1 := 1.0/2 + r*(1.0/6)
		q2 := 1.0/24 + r*(1.0/120)
		q3 := 1.0/720 + r*(1.0/5040)
		q4 := 1.0/40320 + r*(1.0/362880)
		q5 := 1.0/3628800 + r*(1.0/39916800)
		const q6 = 1.0 / 479001600
		p := (q0 + q1*r2 + (q2+q3*r2)*r4) + (q4+q5*r2+q6*r4)*r8
		x[i] = p * math.Float64frombits(uint64(int64(k)+1023)<<52)
	}
}
