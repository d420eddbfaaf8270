package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGEMM64MatchesNaive ties gemm64 (4×8 tiles, k blocks, edges) to
// gemm64Go over random shapes (tile multiples, edges, k across blocks), A
// and Aᵀ layouts, padded strides, and guard values around C.
func TestGEMM64MatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	shapes := [][3]int{{4, 8, 1}, {1, 1, 1}, {3, 7, 5}, {8, 16, 300}, {64, 64, 1300}, {100, 64, 64}, {64, 1300, 64}, {13, 29, 257}}
	for range 40 {
		shapes = append(shapes, [3]int{1 + r.IntN(40), 1 + r.IntN(40), 1 + r.IntN(600)})
	}
	const guard = -12345.5
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, trans := range []bool{false, true} {
			lda := k + r.IntN(3)
			sai, sap, alen := lda, 1, m*lda
			if trans { // A is the transpose of a row-major [k, m]
				lda = m + r.IntN(3)
				sai, sap, alen = 1, lda, k*lda
			}
			ldb, ldc := n+r.IntN(3), n+r.IntN(3)
			a, b := randF64(r, alen), randF64(r, k*ldb)
			c := make([]float64, m*ldc+3)
			for i := range c {
				c[i] = guard
			}
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					c[i*ldc+j] = r.Float64()*2 - 1
				}
			}
			want := append([]float64(nil), c...)
			gemm64Go(m, n, k, a, sai, sap, b, ldb, want, ldc)
			gemm64(m, n, k, a, sai, sap, b, ldb, c, ldc)
			for idx, v := range c {
				i, j := idx/ldc, idx%ldc
				if i >= m || j >= n {
					if v != guard {
						t.Fatalf("m=%d n=%d k=%d trans=%v: wrote outside C at %d", m, n, k, trans, idx)
					}
					continue
				}
				if math.Abs(v-want[idx]) > 1e-13*float64(k+1) {
					t.Fatalf("m=%d n=%d k=%d trans=%v: C[%d,%d] = %v, want %v", m, n, k, trans, i, j, v, want[idx])
				}
			}
		}
	}
}

func randF64(r *rand.Rand, n int) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = r.Float64()*2 - 1
	}
	return s
}
