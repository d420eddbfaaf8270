package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// guard is the value written around every output region; a kernel that
// touches it wrote outside its target.
const guard = float32(-12345.5)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// closeTo reports whether got is within rel·scale of want, where scale is
// the magnitude of the terms summed into want (so cancellation is fair).
func closeTo(got, want, scale float64, rel float64) bool {
	return math.Abs(got-want) <= rel*scale+1e-30
}

// gemmCase runs GEMM and GEMMNaive on random data with guard bands and
// compares them: C inside the region within rel, guards untouched.
func gemmCase(t *testing.T, r *rand.Rand, transA, transB bool, m, n, k int, beta float32) {
	t.Helper()
	lda := k + r.IntN(3)
	if transA {
		lda = m + r.IntN(3)
	}
	ldb := n + r.IntN(3)
	if transB {
		ldb = k + r.IntN(3)
	}
	ldc := n + r.IntN(3)
	rowsA, rowsB := m, k
	if transA {
		rowsA = k
	}
	if transB {
		rowsB = n
	}
	a := randSlice(r, max(rowsA*lda, 1))
	b := randSlice(r, max(rowsB*ldb, 1))
	// C sits inside a larger buffer; everything outside the m×n region
	// (the ldc gap and the bands before and after) holds guard values.
	const band = 7
	c0 := make([]float32, band+m*ldc+band)
	for i := range c0 {
		c0[i] = guard
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			if beta == 0 {
				c0[band+i*ldc+j] = float32(math.NaN()) // ignored when beta is 0
			} else {
				c0[band+i*ldc+j] = r.Float32()*2 - 1
			}
		}
	}
	want := append([]float32(nil), c0...)
	got := append([]float32(nil), c0...)
	GEMMNaive(transA, transB, m, n, k, a, lda, b, ldb, beta, want[band:], ldc)
	GEMM(transA, transB, m, n, k, a, lda, b, ldb, beta, got[band:], ldc)
	for idx := range got {
		i, j := (idx-band)/ldc, (idx-band)%ldc
		inside := idx >= band && i < m && j < n
		if !inside {
			if got[idx] != guard {
				t.Fatalf("transA=%v transB=%v m=%d n=%d k=%d: wrote outside C at offset %d", transA, transB, m, n, k, idx-band)
			}
			continue
		}
		// Entries are in [-1,1], so k+1 bounds the magnitude of the terms.
		if !closeTo(float64(got[idx]), float64(want[idx]), float64(k+1), 1e-6) {
			t.Fatalf("transA=%v transB=%v m=%d n=%d k=%d beta=%v: C[%d,%d] = %v, want %v", transA, transB, m, n, k, beta, i, j, got[idx], want[idx])
		}
	}
}

func TestGEMMMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 13, 17}
	for _, transA := range []bool{false, true} {
		for _, transB := range []bool{false, true} {
			for _, beta := range []float32{0, 1, 0.5} {
				for range 12 {
					m := sizes[r.IntN(len(sizes))]
					n := sizes[r.IntN(len(sizes))]
					k := sizes[r.IntN(len(sizes))]
					gemmCase(t, r, transA, transB, m, n, k, beta)
				}
			}
		}
	}
}

// TestGEMMBlocks crosses the kc and nc block edges and the parallel split.
func TestGEMMBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	defer SetThreads(Threads())
	for _, th := range []int{1, 2, 3} {
		SetThreads(th)
		for _, s := range [][3]int{{37, nc + 5, kc + 3}, {70, 9, 2*kc + 1}, {5, 130, 300}, {129, 64, 40}} {
			for _, transA := range []bool{false, true} {
				for _, transB := range []bool{false, true} {
					gemmCase(t, r, transA, transB, s[0], s[1], s[2], float32(r.IntN(2)))
				}
			}
		}
	}
}

func TestGEMMZeroK(t *testing.T) {
	c := []float32{1, 2, 3, float32(math.NaN())}
	GEMM(false, false, 2, 2, 0, nil, 1, nil, 2, 0, c, 2)
	for i, v := range c {
		if v != 0 {
			t.Fatalf("k=0 beta=0: c[%d] = %v, want 0", i, v)
		}
	}
}

// TestGEMMThreadsAgree checks that the thread count does not change a bit.
func TestGEMMThreadsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	m, n, k := 67, 45, 300
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	defer SetThreads(Threads())
	var ref []float32
	for _, th := range []int{1, 2, 4} {
		SetThreads(th)
		c := make([]float32, m*n)
		GEMM(false, false, m, n, k, a, k, b, n, 0, c, n)
		if ref == nil {
			ref = c
			continue
		}
		for i := range c {
			if c[i] != ref[i] {
				t.Fatalf("threads=%d: c[%d] = %v, with 1 thread %v", th, i, c[i], ref[i])
			}
		}
	}
}

// TestGEMMConcurrentCallers shares the pool between goroutines.
func TestGEMMConcurrentCallers(t *testing.T) {
	defer SetThreads(Threads())
	SetThreads(2)
	r := rand.New(rand.NewPCG(9, 10))
	m, n, k := 90, 70, 80
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	GEMMNaive(false, false, m, n, k, a, k, b, n, 0, want, n)
	errs := make(chan string, 4)
	for range 4 {
		go func() {
			c := make([]float32, m*n)
			for range 5 {
				GEMM(false, false, m, n, k, a, k, b, n, 0, c, n)
				for i := range c {
					if !closeTo(float64(c[i]), float64(want[i]), float64(k), 1e-6) {
						errs <- fmt.Sprintf("c[%d] = %v, want %v", i, c[i], want[i])
						return
					}
				}
			}
			errs <- ""
		}()
	}
	for range 4 {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
}

func TestGEMMAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	m, n, k := 128, 96, 300
	a, b, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	defer SetThreads(Threads())
	for _, th := range []int{1, 2} {
		SetThreads(th)
		GEMM(false, false, m, n, k, a, k, b, n, 0, c, n) // warm the free list and pool
		if got := testing.AllocsPerRun(20, func() { GEMM(false, true, m, n, k, a, k, b, k, 1, c, n) }); got != 0 {
			t.Fatalf("threads=%d: GEMM allocates %v times per call, want 0", th, got)
		}
	}
}

// gemmShapes are the model's GEMMs for one 64×64 image: m×k·k×n.
var gemmShapes = [][3]int{
	{256, 2304, 64},  // 3×3 conv 256→256 on 8×8 as im2col
	{256, 256, 64},   // 1×1 conv 256→256 on 8×8
	{128, 1024, 256}, // k4s2 conv 64→128 on 32×32
	{256, 2048, 64},  // k4s2 conv 128→256 on 16×16
	{2048, 256, 64},  // transposed conv 256→128, 8→16 (col buffer)
	{256, 256, 4},    // one Winograd F(4×4) product
}

func BenchmarkGEMM(b *testing.B) {
	for _, s := range gemmShapes {
		m, k, n := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("m=%d,k=%d,n=%d", m, k, n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			x, y, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for range b.N {
				GEMM(false, false, m, n, k, x, k, y, n, 0, c, n)
			}
			reportFLOPs(b, 2*int64(m)*int64(n)*int64(k), cpu0)
		})
	}
}

// reportFLOPs adds GFLOP/s and ms per op (wall) to a benchmark, and
// cpu-ms/op: the process CPU time since cpu0 (read after b.ResetTimer), on
// a loaded machine the steadier number for one thread (the sum over
// threads natively).
func reportFLOPs(b *testing.B, flops int64, cpu0 float64) {
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(flops)/sec/1e9, "GFLOP/s")
	b.ReportMetric(sec*1e3, "ms/op")
	b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/op")
}

// TestMicroMatchesNaive ties this build's register tile (Go, wasm or amd64
// assembly; -tags purego selects the Go one on amd64) to the panel product
// it computes: t[r·nr+q] = Σ_p a[p·mr+r]·b[p·nr+q], with panels shorter and
// longer than a k block, and microC to micro.
func TestMicroMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	for _, k := range []int{0, 1, 2, 3, 7, 64, kc, kc + 5} {
		a, b := randSlice(r, k*mr), randSlice(r, k*nr)
		var got [mr * nr]float32
		for i := range got {
			got[i] = guard // micro must overwrite, not accumulate
		}
		micro(a, b, &got)
		// microC writes the same tile into rows of a wider C.
		const ldc = nr + 3
		c := make([]float32, mr*ldc)
		for i := range c {
			c[i] = guard
		}
		microC(a, b, c, ldc, false)
		for i := 0; i < mr; i++ {
			for j := 0; j < nr; j++ {
				var want float32
				for p := 0; p < k; p++ {
					want += a[p*mr+i] * b[p*nr+j]
				}
				if !closeTo(float64(got[i*nr+j]), float64(want), float64(k+1), 1e-6) {
					t.Fatalf("k=%d: t[%d,%d] = %v, want %v", k, i, j, got[i*nr+j], want)
				}
				if c[i*ldc+j] != got[i*nr+j] {
					t.Fatalf("k=%d: microC c[%d,%d] = %v, micro %v", k, i, j, c[i*ldc+j], got[i*nr+j])
				}
			}
			for j := nr; j < ldc; j++ {
				if c[i*ldc+j] != guard {
					t.Fatalf("k=%d: microC wrote c[%d,%d] outside the tile", k, i, j)
				}
			}
		}
		// With add, microC accumulates: c = c + t, as storeTile with beta 1.
		for i := range c {
			c[i] = r.Float32()
		}
		want := append([]float32(nil), c...)
		storeTile(want, ldc, mr, nr, &got, 1)
		microC(a, b, c, ldc, true)
		for i := range c {
			if c[i] != want[i] {
				t.Fatalf("k=%d: microC add c[%d] = %v, want %v", k, i, c[i], want[i])
			}
		}
	}
}

// TestGEMMPackedBMatchesNaive runs GEMMPackedB on B packed by PackB against
// GEMMNaive, across the kc and nc block edges, both layouts of B, betas and
// thread counts (the pool splits n on wide products), and checks
// packedBAt against PackB.
func TestGEMMPackedBMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	defer SetThreads(Threads())
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {4, 4, 256}, {17, 13, kc + 3}, {9, 2*nc + 5, 30}, {37, nc + 9, kc + 1}, {64, 64, 1300}}
	for _, th := range []int{1, 2} {
		SetThreads(th)
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, transA := range []bool{false, true} {
				for _, transB := range []bool{false, true} {
					beta := []float32{0, 1, 0.5}[r.IntN(3)]
					lda, rowsA := k+r.IntN(3), m
					if transA {
						lda, rowsA = m+r.IntN(3), k
					}
					ldb, rowsB := n+r.IntN(3), k
					if transB {
						ldb, rowsB = k+r.IntN(3), n
					}
					ldc := n + r.IntN(3)
					a, b := randSlice(r, rowsA*lda), randSlice(r, rowsB*ldb)
					bp := make([]float32, PackedBSize(k, n))
					for i := range bp {
						bp[i] = guard
					}
					PackB(bp, transB, k, n, b, ldb)
					for p := 0; p < k; p++ {
						for j := 0; j < n; j++ {
							var want float32
							if transB {
								want = b[j*ldb+p]
							} else {
								want = b[p*ldb+j]
							}
							if got := bp[packedBAt(k, n, p, j)]; got != want {
								t.Fatalf("k=%d n=%d transB=%v: packed B at (%d,%d) = %v, want %v", k, n, transB, p, j, got, want)
							}
						}
					}
					for i, v := range bp {
						if v == guard {
							t.Fatalf("k=%d n=%d: PackB left packed element %d unwritten", k, n, i)
						}
					}
					c0 := make([]float32, m*ldc)
					for i := range c0 {
						c0[i] = guard
					}
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							c0[i*ldc+j] = r.Float32()*2 - 1
						}
					}
					want, got := append([]float32(nil), c0...), append([]float32(nil), c0...)
					GEMMNaive(transA, transB, m, n, k, a, lda, b, ldb, beta, want, ldc)
					GEMMPackedB(transA, m, n, k, a, lda, bp, beta, got, ldc)
					for i := range got {
						if i%ldc >= n {
							if got[i] != guard {
								t.Fatalf("m=%d n=%d k=%d: wrote outside C at %d", m, n, k, i)
							}
							continue
						}
						if !closeTo(float64(got[i]), float64(want[i]), float64(k+1), 1e-6) {
							t.Fatalf("threads=%d transA=%v transB=%v m=%d n=%d k=%d beta=%v: C[%d,%d] = %v, want %v", th, transA, transB, m, n, k, beta, i/ldc, i%ldc, got[i], want[i])
						}
					}
					// Same sums in the same order as GEMM: bit-identical.
					ref := append([]float32(nil), c0...)
					GEMM(transA, transB, m, n, k, a, lda, b, ldb, beta, ref, ldc)
					for i := range ref {
						if ref[i] != got[i] {
							t.Fatalf("m=%d n=%d k=%d: GEMMPackedB C[%d] = %v, GEMM %v", m, n, k, i, got[i], ref[i])
						}
					}
				}
			}
		}
	}
}
