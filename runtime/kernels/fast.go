package kernels

import "math"

// PLACEHOLDER bodies: the kernels helper replaces these with fast versions;
// the signatures are the contract the rest of the runtime codes against.

// GEMM computes C = op(A)·op(B) + beta·C; see GEMMNaive for the exact math.
func GEMM(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GEMMNaive(transA, transB, m, n, k, a, lda, b, ldb, beta, c, ldc)
}

// Conv is a planned convolution (or transposed convolution, by p.Transposed):
// NewConv allocates its workspace and picks the algorithm once; SetWeights
// copies or transforms the weights; Forward then allocates nothing.
type Conv struct {
	p    ConvParams
	w, b []float32
}

// NewConv plans a convolution with fixed shapes, batch size included.
func NewConv(p ConvParams) *Conv { return &Conv{p: p} }

// Params returns the shapes the plan was made for.
func (c *Conv) Params() ConvParams { return c.p }

// SetWeights installs w ([COut,CIn,KH,KW], or [CIn,COut,KH,KW] transposed)
// and b ([COut] or nil). Call it again whenever the weights change.
func (c *Conv) SetWeights(w, b []float32) { c.w, c.b = w, b }

// Forward computes dst = conv(src) + b.
func (c *Conv) Forward(dst, src []float32) {
	if c.p.Transposed {
		ConvTranspose2DNaive(dst, src, c.w, c.b, c.p)
	} else {
		Conv2DNaive(dst, src, c.w, c.b, c.p)
	}
}

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
