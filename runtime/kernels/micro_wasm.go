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
// block and interleave with the products. Within a step the four B values
// are loaded first and each A value just before its row of four
// multiply-adds, so at most 16 sums, 4 B values and one A value are live
// (loading all eight operands first kept more values live across V8's
// register allocation). Round-robin CPU time under node, GFLOP per CPU
// second, L1-resident panels, three runs: loads first 1.4 / 1.7 / 2.2, A
// per row 1.7 / 2.0 / 2.6 (unrolled 2, 4, 6, 8 times: no better). Earlier,
// relative to a one-step 3×4 tile: 3×4 unrolled 2, 3, 4 times 1.3, 1.45,
// 1.35; 4×4 unrolled 3 times 1.55. Each element is still summed in k order.
func micro(a, b []float32, t *[mr * nr]float32) { microC(a, b, t[:], nr, false) }

// microC is micro writing the tile straight into rows of c (stride ldc):
// c[r·ldc + q] = t[r·nr + q], or += when add (GEMM's beta 0 and 1), so a
// whole tile needs no copy.
func microC(a, b, c []float32, ldc int, add bool) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	var c30, c31, c32, c33 float32
	var a0, b0, b1, b2, b3 float32
	for len(a) >= 12 && len(b) >= 12 {
		b0 = b[0]
		b1 = b[1]
		b2 = b[2]
		b3 = b[3]
		a0 = a[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a0 = a[1]
		c10 += a0 * b0
		c11 += a0 * b1
		c12 += a0 * b2
		c13 += a0 * b3
		a0 = a[2]
		c20 += a0 * b0
		c21 += a0 * b1
		c22 += a0 * b2
		c23 += a0 * b3
		a0 = a[3]
		c30 += a0 * b0
		c31 += a0 * b1
		c32 += a0 * b2
		c33 += a0 * b3
		b0 = b[4]
		b1 = b[5]
		b2 = b[6]
		b3 = b[7]
		a0 = a[4]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a0 = a[5]
		c10 += a0 * b0
		c11 += a0 * b1
		c12 += a0 * b2
		c13 += a0 * b3
		a0 = a[6]
		c20 += a0 * b0
		c21 += a0 * b1
		c22 += a0 * b2
		c23 += a0 * b3
		a0 = a[7]
		c30 += a0 * b0
		c31 += a0 * b1
		c32 += a0 * b2
		c33 += a0 * b3
		b0 = b[8]
		b1 = b[9]
		b2 = b[10]
		b3 = b[11]
		a0 = a[8]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a0 = a[9]
		c10 += a0 * b0
		c11 += a0 * b1
		c12 += a0 * b2
		c13 += a0 * b3
		a0 = a[10]
		c20 += a0 * b0
		c21 += a0 * b1
		c22 += a0 * b2
		c23 += a0 * b3
		a0 = a[11]
		c30 += a0 * b0
		c31 += a0 * b1
		c32 += a0 * b2
		c33 += a0 * b3
		a, b = a[12:], b[12:]
	}
	for len(a) >= 4 && len(b) >= 4 {
		b0 = b[0]
		b1 = b[1]
		b2 = b[2]
		b3 = b[3]
		a0 = a[0]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		a0 = a[1]
		c10 += a0 * b0
		c11 += a0 * b1
		c12 += a0 * b2
		c13 += a0 * b3
		a0 = a[2]
		c20 += a0 * b0
		c21 += a0 * b1
		c22 += a0 * b2
		c23 += a0 * b3
		a0 = a[3]
		c30 += a0 * b0
		c31 += a0 * b1
		c32 += a0 * b2
		c33 += a0 * b3
		a, b = a[4:], b[4:]
	}
	r0, r1 := c[:4:4], c[ldc:ldc+4:ldc+4]
	r2, r3 := c[2*ldc:2*ldc+4:2*ldc+4], c[3*ldc:3*ldc+4:3*ldc+4]
	if add {
		r0[0], r0[1], r0[2], r0[3] = r0[0]+c00, r0[1]+c01, r0[2]+c02, r0[3]+c03
		r1[0], r1[1], r1[2], r1[3] = r1[0]+c10, r1[1]+c11, r1[2]+c12, r1[3]+c13
		r2[0], r2[1], r2[2], r2[3] = r2[0]+c20, r2[1]+c21, r2[2]+c22, r2[3]+c23
		r3[0], r3[1], r3[2], r3[3] = r3[0]+c30, r3[1]+c31, r3[2]+c32, r3[3]+c33
		return
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
	r2[0], r2[1], r2[2], r2[3] = c20, c21, c22, c23
	r3[0], r3[1], r3[2], r3[3] = c30, c31, c32, c33
}
