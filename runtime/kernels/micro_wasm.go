//go:build wasm

package kernels

// Register tile for Go's wasm code generator: 4×4, one operand load per
// two multiply-adds.
const (
	mr = 4
	nr = 4
)

// micro computes the 4×4 tile t = Apanel·Bpanel over the panels' k
// (a: k×4, b: k×4, k-major). Loop conditions on the slice lengths let the
// compiler drop every bounds check in the loop.
//
// The loop runs three steps of k per iteration. Go's scheduler puts values
// used inside a block before values used only by the next iteration, so in
// a one-step loop all products are computed before any sum and spill to
// the Go stack (a one-step 4×4 was slower than 3×4 for that reason); with
// the steps unrolled, the earlier steps' sums feed the next step inside the
// block and interleave with the products, and only the last step's
// products pile up. Round-robin CPU time under node, GFLOP per CPU second
// relative to the one-step 3×4 tile: 3×4 unrolled 2, 3, 4 times 1.3, 1.45,
// 1.35; 4×4 unrolled 3 times 1.55. Each element is still summed in k order.
//
// Also tried, no faster: float64 accumulators for some rows (Go's wasm
// backend has 16 float32 and 16 separate float64 registers, so nothing
// spills at the Go level, but every product pays a conversion and V8 maps
// both files onto the same 16 XMM registers), unsafe pointers, index loops,
// and 4×2, 2×4, 3×3 and 4×3 tiles; 3×5 was a little faster alone but
// wastes a fifth of every tile on the 4-column Winograd products.
func micro(a, b []float32, t *[mr * nr]float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	var a0, a1, a2, a3, b0, b1, b2, b3 float32
	for len(a) >= 12 && len(b) >= 12 {
		a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
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
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a0, a1, a2, a3 = a[4], a[5], a[6], a[7]
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
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a0, a1, a2, a3 = a[8], a[9], a[10], a[11]
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
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a, b = a[12:], b[12:]
	}
	for len(a) >= 4 && len(b) >= 4 {
		a0, a1, a2, a3 = a[0], a[1], a[2], a[3]
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
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
		a, b = a[4:], b[4:]
	}
	*t = [mr * nr]float32{
		c00, c01, c02, c03,
		c10, c11, c12, c13,
		c20, c21, c22, c23,
		c30, c31, c32, c33,
	}
}
