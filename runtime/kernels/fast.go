package kernels

import "math"

// Tanh applies tanh in place.
func Tanh(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Tanh(float64(v)))
	}
}

// Sigmoid applies 1/(1+e^-x) in place.
func Sigmoid(x []float32) {
	var buf [expChunk]float64
	for len(x) > 0 {
		c := x[:min(len(x), expChunk)]
		b := buf[:len(c)]
		for i, v := range c {
			b[i] = -float64(v)
		}
		ExpInPlace(b)
		for i, e := range b {
			c[i] = float32(1 / (1 + e))
		}
		x = x[len(c):]
	}
}

// expChunk is how many exponentials Sigmoid and Softmax hand to ExpInPlace
// at a time, from a buffer on the stack.
const expChunk = 64

// Softmax normalises each of the rows (length cols) of x in place:
// x[r,j] = exp(x[r,j] - max_r) / Σ_j exp(x[r,j] - max_r).
func Softmax(x []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		mx := float32(math.Inf(-1))
		for _, v := range row {
			if v > mx { // not max(): a runtime call under wasm (NaN and -0 rules that cannot change the result here)
				mx = v
			}
		}
		var s float64
		var buf [expChunk]float64
		for j0 := 0; j0 < cols; j0 += expChunk {
			c := row[j0:min(cols, j0+expChunk)]
			b := buf[:len(c)]
			for j, v := range c {
				b[j] = float64(v) - float64(mx) // subtract in float64: exact
			}
			ExpInPlace(b)
			for j, e := range b {
				c[j] = float32(e)
				s += e
			}
		}
		inv := float32(1 / s)
		for j := range row {
			row[j] *= inv
		}
	}
}

// NearestCode is NearestCodeNaive with the same float32 operations in the
// same order, so it returns the same indices bit for bit, near-ties
// included, wherever Go does not fuse multiply-adds (amd64, wasm; on arm64
// the compiler may fuse either version differently). It gains its speed
// from computing |e_k|² once per block of rows instead of once per row and
// from running four codes' sums side by side.
func NearestCode(idx []int32, z []float32, rows, d int, e []float32, K int) {
	const block = 64 // rows per block; their state lives on the stack
	var zz, bestD [block]float32
	for r0 := 0; r0 < rows; r0 += block {
		nb := min(block, rows-r0)
		for r := 0; r < nb; r++ {
			var s float32
			for _, v := range z[(r0+r)*d : (r0+r+1)*d] {
				s += v * v
			}
			zz[r], bestD[r], idx[r0+r] = s, float32(math.Inf(1)), 0
		}
		k := 0
		for ; k+4 <= K; k += 4 {
			e0, e1, e2, e3 := e[k*d:(k+1)*d], e[(k+1)*d:(k+2)*d], e[(k+2)*d:(k+3)*d], e[(k+3)*d:(k+4)*d]
			var ee0, ee1, ee2, ee3 float32
			for i := range e0 {
				ee0 += e0[i] * e0[i]
				ee1 += e1[i] * e1[i]
				ee2 += e2[i] * e2[i]
				ee3 += e3[i] * e3[i]
			}
			for r := 0; r < nb; r++ {
				zr := z[(r0+r)*d : (r0+r+1)*d]
				zr = zr[:len(e0)]
				var ze0, ze1, ze2, ze3 float32
				for i, v := range zr {
					ze0 += v * e0[i]
					ze1 += v * e1[i]
					ze2 += v * e2[i]
					ze3 += v * e3[i]
				}
				// Codes in increasing order with a strict < keep the lowest
				// index on ties, as in the naive loop.
				if dist := zz[r] + ee0 - 2*ze0; dist < bestD[r] {
					bestD[r], idx[r0+r] = dist, int32(k)
				}
				if dist := zz[r] + ee1 - 2*ze1; dist < bestD[r] {
					bestD[r], idx[r0+r] = dist, int32(k+1)
				}
				if dist := zz[r] + ee2 - 2*ze2; dist < bestD[r] {
					bestD[r], idx[r0+r] = dist, int32(k+2)
				}
				if dist := zz[r] + ee3 - 2*ze3; dist < bestD[r] {
					bestD[r], idx[r0+r] = dist, int32(k+3)
				}
			}
		}
		for ; k < K; k++ {
			ek := e[k*d : (k+1)*d]
			var ee float32
			for _, v := range ek {
				ee += v * v
			}
			for r := 0; r < nb; r++ {
				zr := z[(r0+r)*d : (r0+r+1)*d]
				zr = zr[:len(ek)]
				var ze float32
				for i, v := range zr {
					ze += v * ek[i]
				}
				if dist := zz[r] + ee - 2*ze; dist < bestD[r] {
					bestD[r], idx[r0+r] = dist, int32(k)
				}
			}
		}
	}
}
