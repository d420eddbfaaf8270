//go:build amd64 && !purego

package kernels

import (
	"math/rand/v2"
	"testing"
)

// tiles runs f once with the SSE tile and, when the CPU has AVX2 and FMA,
// once with the AVX2+FMA tile, restoring the detected choice afterwards.
func tiles(t *testing.T, f func(t *testing.T)) {
	defer func(v bool) { useFMA = v }(useFMA)
	useFMA = false
	t.Run("sse", f)
	if !hasAVX2FMA() {
		t.Log("no AVX2+FMA on this CPU: only the SSE tile tested")
		return
	}
	useFMA = true
	t.Run("fma", f)
}

// TestTilesMatchNaive runs the tile, GEMM and Conv tests with each amd64
// tile (the package's other tests run the detected one only).
func TestTilesMatchNaive(t *testing.T) {
	tiles(t, func(t *testing.T) {
		t.Run("micro", TestMicroMatchesNaive)
		t.Run("gemm", TestGEMMMatchesNaive)
		t.Run("blocks", TestGEMMBlocks)
		t.Run("packedB", TestGEMMPackedBMatchesNaive)
		t.Run("conv", TestConvMatchesNaive)
	})
}

// TestMicroFMAMatchesSSE compares the two tiles on random panels of many
// lengths (odd and even k, across kc), within float32 rounding of the
// terms' magnitude, and microFMAC into a strided C with guard values
// against microFMA's tile.
func TestMicroFMAMatchesSSE(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2+FMA on this CPU")
	}
	r := rand.New(rand.NewPCG(31, 32))
	for range 300 {
		k := r.IntN(2*kc + 3)
		a, b := randSlice(r, k*mr), randSlice(r, k*nr)
		var want, got [mr * nr]float32
		microSSE(a, b, &want)
		microFMA(a, b, &got)
		for i := range got {
			if !closeTo(float64(got[i]), float64(want[i]), float64(k+1), 1e-6) {
				t.Fatalf("k=%d: t[%d] = %v, SSE %v", k, i, got[i], want[i])
			}
		}
		ldc := nr + r.IntN(9)
		add := r.IntN(2) == 1
		c := make([]float32, 3+(mr-1)*ldc+nr+3)
		for i := range c {
			c[i] = guard
		}
		for i := 0; i < mr; i++ {
			for q := 0; q < nr; q++ {
				c[3+i*ldc+q] = r.Float32()
			}
		}
		old := append([]float32(nil), c...)
		microFMAC(a, b, c[3:], ldc, add)
		for idx := range c {
			i, q := (idx-3)/ldc, (idx-3)%ldc
			if idx < 3 || i >= mr || q >= nr {
				if c[idx] != guard {
					t.Fatalf("k=%d ldc=%d: microFMAC wrote outside the tile at %d", k, ldc, idx-3)
				}
				continue
			}
			w := got[i*nr+q]
			if add {
				w += old[idx]
			}
			if c[idx] != w {
				t.Fatalf("k=%d ldc=%d add=%v: c[%d,%d] = %v, want %v", k, ldc, add, i, q, c[idx], w)
			}
		}
	}
}

// BenchmarkTiles is BenchmarkGEMM's model shapes with each amd64 tile.
func BenchmarkTiles(b *testing.B) {
	defer func(v bool) { useFMA = v }(useFMA)
	for _, fma := range []bool{false, true} {
		if fma && !hasAVX2FMA() {
			continue
		}
		useFMA = fma
		name := map[bool]string{false: "sse", true: "fma"}[fma]
		b.Run(name, BenchmarkGEMM)
	}
}

// BenchmarkMicroTiles is one tile over L1-resident panels of kc steps.
func BenchmarkMicroTiles(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	a, bb := randSlice(r, kc*mr), randSlice(r, kc*nr)
	var t [mr * nr]float32
	for _, fma := range []bool{false, true} {
		if fma && !hasAVX2FMA() {
			continue
		}
		f := microSSE
		if fma {
			f = microFMA
		}
		b.Run(map[bool]string{false: "sse", true: "fma"}[fma], func(b *testing.B) {
			cpu0 := cpuSeconds()
			for range b.N {
				f(a, bb, &t)
			}
			reportFLOPs(b, 2*mr*nr*kc, cpu0)
		})
	}
}
