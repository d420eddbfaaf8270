//go:build wasm

package kernels

// Register tile for Go's wasm code generator: 3×4.
const (
	mr = 3
	nr = 4
)

// micro computes the 3×4 tile t = Apanel·Bpanel over the panels' k
// (a: k×3, b: k×4, k-major). Loop conditions on the slice lengths let the
// compiler drop every bounds check in the loop.
//
// Go's wasm backend has 16 float32 and 16 separate float64 registers, and
// its scheduler computes all of an iteration's products before any of the
// sums (values used inside the block come first), so 12 float32
// accumulators plus 12 products plus the 7 loaded values spill to the Go
// stack in linear memory on every iteration. Keeping row 0 in float32 and
// rows 1 and 2 in float64 splits the live values over both register files
// (float32: 4 sums, 4 products, 7 inputs; float64: 8 sums, 8 widened
// products) and the loop spills nothing. Products are rounded to float32
// as usual; rows 1-2 then add them exactly in float64, which is at least
// as accurate. Every C element still sees the same operations in the same
// order whatever the thread split.
func micro(a, b []float32, t *[mr * nr]float32) {
	var c00, c01, c02, c03 float32
	var c10, c11, c12, c13 float64
	var c20, c21, c22, c23 float64
	for len(a) >= 3 && len(b) >= 4 {
		a0, a1, a2 := a[0], a[1], a[2]
		b0, b1, b2, b3 := b[0], b[1], b[2], b[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += float64(a1 * b0)
		c11 += float64(a1 * b1)
		c12 += float64(a1 * b2)
		c13 += float64(a1 * b3)
		c20 += float64(a2 * b0)
		c21 += float64(a2 * b1)
		c22 += float64(a2 * b2)
		c23 += float64(a2 * b3)
		a, b = a[3:], b[4:]
	}
	*t = [mr * nr]float32{
		c00, c01, c02, c03,
		float32(c10), float32(c11), float32(c12), float32(c13),
		float32(c20), float32(c21), float32(c22), float32(c23),
	}
}
