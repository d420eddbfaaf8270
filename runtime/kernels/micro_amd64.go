//go:build amd64 && !purego

package kernels

// Register tile for amd64: 8×4 in SSE (part of every amd64 CPU, so no
// feature detection and the same results on every machine). The A panel's
// 8 rows are two 4-wide vectors; each B value is broadcast. 8 accumulators,
// 2 A vectors, a broadcast and a product fit in 12 of the 16 XMM
// registers. Measured about 3× the pure-Go 4×2 tile (see README); build
// with -tags purego for that one.
const (
	mr = 8
	nr = 4
)

// microSSE computes the 8×4 tile t = Apanel·Bpanel over the panels' k
// (a: k×8, b: k×4, k-major), row-major into t, in micro_amd64.s. Each
// element is a float32 sum over k in order, as in the Go tiles. It is
// micro's fallback on CPUs without AVX2 and FMA (micro_fma_amd64.go).
//
//go:noescape
func microSSE(a, b []float32, t *[mr * nr]float32)
