//go:build !wasm && (!amd64 || purego)

package kernels

// Register tile for native builds: 4×2 was the fastest measured on amd64
// (Go keeps 15 float registers; 4×4 spills).
const (
	mr = 4
	nr = 2
)

// micro computes the 4×2 tile t = Apanel·Bpanel over the panels' k
// (a: k×4, b: k×2, k-major). Loop conditions on the slice lengths let the
// compiler drop every bounds check in the loop.
func micro(a, b []float32, t *[mr * nr]float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	for len(a) >= 4 && len(b) >= 2 {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1 := b[0], b[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a, b = a[4:], b[2:]
	}
	*t = [mr * nr]float32{c00, c01, c10, c11, c20, c21, c30, c31}
}
