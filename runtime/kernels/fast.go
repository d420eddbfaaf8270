package kernels

import "math"

// LeakyReLU applies x = max(x, slope·x) in place (slope in [0,1)).
func LeakyReLU(x []float32, slope float32) {
	for i, v := range x {
		if v < 0 {
			x[i] = v * slope
		}
	}
}

// ReLU applies x = max(x, 0) in place.
func ReLU(x []float32) { LeakyReLU(x, 0) }

// Tanh applies tanh in place.
func Tanh(x []float32) {
	for i, v := range x {
		x[i] = float32(math.Tanh(float64(v)))
	}
}

// Sigmoid applies 1/(1+e^-x) in place.
func Sigmoid(x []float32) {
	for i, v := range x {
		x[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
}

// Softmax normalises each of the rows (length cols) of x in place:
// x[r,j] = exp(x[r,j] - max_r) / Σ_j exp(x[r,j] - max_r).
func Softmax(x []float32, rows, cols int) {
	for r := 0; r < rows; r++ {
		row := x[r*cols : (r+1)*cols]
		mx := float32(math.Inf(-1))
		for _, v := range row {
			mx = max(mx, v)
		}
		var s float64
		for j, v := range row {
			e := math.Exp(float64(v - mx))
			row[j] = float32(e)
			s += e
		}
		inv := float32(1 / s)
		for j := range row {
			row[j] *= inv
		}
	}
}

// NearestCode is the fast NearestCodeNaive.
func NearestCode(idx []int32, z []float32, rows, d int, e []float32, K int) {
	NearestCodeNaive(idx, z, rows, d, e, K)
}
