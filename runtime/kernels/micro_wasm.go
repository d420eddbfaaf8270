//go:build wasm

package kernels

// Register tile for Go's wasm code generator: 3×4 was the fastest measured
// under node (4×4 spills). Go's wasm backend has 16 float32 registers and
// schedules all products of an iteration before the sums, so this tile
// spills a few values to the Go stack; splitting the accumulators over the
// float32 and the (separate) float64 registers removes those spills but
// adds a conversion per product, and measured no faster, as V8 maps both
// register files onto the same 16 XMM registers.
const (
	mr = 3
	nr = 4
)

// micro computes the 3×4 tile t = Apanel·Bpanel over the panels' k
// (a: k×3, b: k×4, k-major). Loop conditions on the slice lengths let the
// compiler drop every bounds check in the loop.
func micro(a, b []float32, t *[mr * nr]float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float32
	var c20, c21, c22, c23 float32
	for len(a) >= 3 && len(b) >= 4 {
		a0, a1, a2 := a[0], a[1], a[2]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
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
