//go:build amd64 && !purego

package kernels

// useAVXWeights selects the AVX2 weight transform of F(4×4, 3×3)
// (setWeightsF4Vec); tests switch it off to compare with the Go loop.
var useAVXWeights = hasAVX2FMA()

// winoWeightsF4x4 writes U = G g Gᵀ (a = 6; gb: G with every entry
// broadcast to four lanes) of four kernels at once, one per float64 lane of
// k (k[t][l]: tap t of kernel l), into u[ξ·usz + l] for ξ = 0..35, in
// winograd_amd64.s. The products and sums are setWeights'
// scalar ones in the same order, without fused multiply-adds, so the
// results are bit for bit the Go loop's.
//
//go:noescape
func winoWeightsF4x4(k *[9][4]float64, gb *[6][3][4]float64, u *float32, usz int)
