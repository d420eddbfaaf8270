//go:build wasm

package kernels

// Register tile for Go's wasm code generator: 3×4 was the fastest measured
// under node (4×4 spills).
const (
	mr = 3
	nr = 4
)

// micro computes the 3×4 tile t = Apanel·Bpanel over the panels' k
// (a: k×3, b: k×4, k-major). Loop conditions on the slice lengths let the
// compiler drop every bounds check in the loop.
//
// The loop runs three steps of k per iteration. Go's scheduler puts values
// used inside a block before values used only by the next iteration, so in
// a one-step loop all 12 products are computed before any sum and spill to
// the Go stack; unrolled, the first steps' sums feed the next step inside
// the block and interleave with the products, and only the last step's
// products pile up. Measured 1.3-1.6× the one-step loop under node (2 and 4
// steps gained a little less). Each element is still summed in k order.
//
// Also tried, no faster: float64 accumulators for rows 1-2 (Go's wasm
// backend has 16 float32 and 16 separate float64 registers, so nothing
// spills at the Go level, but every product pays a conversion and V8 maps
// both files onto the same 16 XMM registers), unsafe pointers, index loops,
// and 4×2, 2×4, 3×3, 3×5, 4×4 tiles.
func micro(a, b []float32, t *[mr * nr]float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var a0, a1, a2, b0, b1, b2, b3 float32
	for len(a) >= 9 && len(b) >= 12 {
		a0, a1, a2 = a[0], a[1], a[2]
		b0, b1, b2, b3 = b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a0, a1, a2 = a[3], a[4], a[5]
		b0, b1, b2, b3 = b[4], b[5], b[6], b[7]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a0, a1, a2 = a[6], a[7], a[8]
		b0, b1, b2, b3 = b[8], b[9], b[10], b[11]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a, b = a[9:], b[12:]
	}
	for len(a) >= 3 && len(b) >= 4 {
		a0, a1, a2 = a[0], a[1], a[2]
		b0, b1, b2, b3 = b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		a, b = a[3:], b[4:]
	}
	*t = [mr * nr]float32{c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23}
}
