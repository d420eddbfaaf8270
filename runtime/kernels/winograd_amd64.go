//go:build amd64 && !purego

package kernels

// useAVXInput selects the AVX2 input transforms of F(4×4, 3×3) and
// F(4×4, 2×2) (inputChannelsVec) for winograds built after it is set.
var useAVXInput = hasAVX2FMA()

// useAVXOutput selects the AVX2 output transforms of F(4×4, 3×3) and
// F(4×4, 2×2) (outputTiles8).
var useAVXOutput = hasAVX2FMA()

// useAVXWeights selects the AVX2 weight transforms of F(4×4, 3×3) and
// F(4×4, 2×2) (setWeightsF4Vec, setWeightsF42Vec); tests switch it off to
// compare with the Go loop.
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

// winoWeightsF42x4 is winoWeightsF4x4 for F(4×4, 2×2): U = G g Gᵀ (a =
// 5, 2×2 kernels k[t][l], tap t = 2·ey + ex; G's rows 0..4 and columns
// 0..1 of gb) of four kernels at once.
//
//go:noescape
func winoWeightsF42x4(k *[4][4]float64, gb *[6][3][4]float64, u *float32, usz int)

// winoInputx8 writes V = Bᵀ d B of eight tiles of one channel (a = 6:
// F(4×4, 3×3); a = 5: F(4×4, 2×2)), d[i][j] = base[idx[l] + i·wp + j] for
// tile l, as V[ξ] at vlo[ξ·vsz + l] (l < 4) and vhi[ξ·vsz + l-4], in
// winograd_amd64.s: the operations of transformInputF4 and
// transformInputF42, lane by lane, so the results are bit for bit theirs.
// It reads eight floats of each patch row (up to three past a patch: the
// padded planes have slack); tmp is scratch.
//
//go:noescape
func winoInputx8(base *float32, idx *[8]int32, wp int, vlo, vhi *float32, vsz int, tmp *[48][8]float32, a int)

// inputChannelsVec is inputChannel for channels c0 ≤ c < c1 (at most 4,
// c0 a multiple of 4), eight tiles at a time (tiles t..t+7, t a multiple
// of 8, fill two B panels of nr = 4), the rest by the Go transform. The
// channels are the inner loop: four channels' four tiles share one 64-byte
// line of a V plane, which is then written whole while it is in cache
// (one channel at a time would write each line four times, far apart).
func (w *winograd) inputChannelsVec(c0, c1 int) {
	p, a, tn := w.p, w.a, w.tn
	plane := w.hp * w.wp
	var tmp [48][8]float32
	// Every tile's patch lies inside its own padded plane (newWinograd),
	// so checking the planes' extent checks every index the loads touch.
	_ = w.pad[:cap(w.pad)][(p.N-1)*p.CIn*plane+c1*plane-1+padSlack]
	t8 := w.T / 8 * 8
	for gr := 0; gr < w.groups; gr++ {
		offs := w.vecOffs[gr*tn : gr*tn+w.T]
		v := w.v[gr*a*a*w.vsz : (gr+1)*a*a*w.vsz]
		for t := 0; t < t8; t += 8 {
			idx := (*[8]int32)(offs[t : t+8])
			for c := c0; c < c1; c++ {
				lo, hi := packedBAt(p.CIn, tn, c, t), packedBAt(p.CIn, tn, c, t+4)
				_ = v[max(lo, hi)+(a*a-1)*w.vsz+3]
				winoInputx8(&w.pad[c*plane], idx, w.wp, &v[lo], &v[hi], w.vsz, &tmp, a)
			}
		}
		for c := c0; c < c1; c++ {
			base := w.pad[c*plane:]
			for t := t8; t < w.T; t++ {
				at := packedBAt(p.CIn, tn, c, t)
				if a == 6 {
					transformInputF4(base[offs[t]:], w.wp, v[at:], w.vsz)
				} else {
					transformInputF42(base[offs[t]:], w.wp, v[at:], w.vsz)
				}
			}
		}
	}
}

// winoOutputx8 writes Y = Aᵀ M A of eight tiles (a = 6: F(4×4, 3×3);
// a = 5: F(4×4, 2×2)), M[i][j] of tile l being m[(i·a + j)·msz + l], as
// y[l][4r + c], in winograd_amd64.s: the operations of transformF4 and
// transformF42, lane by lane, so the results are bit for bit theirs. tmp
// is scratch.
//
//go:noescape
func winoOutputx8(m *float32, msz int, y *[8][16]float32, tmp *[24][8]float32, a int)

// outputTiles8 computes the output tiles t..t+7 of one channel, whose M
// starts at mo (M[ξ][t] at mo[ξ·msz + t]), into y, and reports whether it
// did (AVX2 and F(4×4, ·) only).
func (w *winograd) outputTiles8(mo []float32, t int, y *[8][16]float32) bool {
	if !useAVXOutput || w.m != 4 {
		return false
	}
	var tmp [24][8]float32
	_ = mo[t+(w.a*w.a-1)*w.msz+7]
	winoOutputx8(&mo[t], w.msz, y, &tmp, w.a)
	return true
}
