package simd128

import (
	"fmt"
	"math/rand/v2"

	"ctvae/runtime/kernels"
)

// CompareTiles runs tiles and kernels.TilesGo on the same random panels
// (kb deep, aPanels × bPanels 4×4 tiles, C rows ldc apart with a gap that
// must stay untouched), for add false and true, and reports the first
// element that differs in any bit.
func CompareTiles(tiles kernels.PanelKernel, r *rand.Rand, kb, aPanels, bPanels, ldc int) error {
	a := make([]float32, aPanels*4*kb)
	b := make([]float32, bPanels*4*kb)
	for i := range a {
		a[i] = r.Float32()*2 - 1
	}
	for i := range b {
		b[i] = r.Float32()*2 - 1
	}
	n := (aPanels*4-1)*ldc + bPanels*4
	for _, add := range []bool{false, true} {
		want := make([]float32, n+8)
		for i := range want {
			want[i] = r.Float32()
		}
		got := append([]float32(nil), want...)
		kernels.TilesGo(a, b, want[:n], kb, aPanels, bPanels, ldc, add)
		tiles(a, b, got[:n], kb, aPanels, bPanels, ldc, add)
		for i := range want {
			if got[i] != want[i] {
				return fmt.Errorf("simd128: kb %d, %d×%d panels, ldc %d, add %v: element %d (row %d, column %d) is %g, the Go kernel gives %g",
					kb, aPanels, bPanels, ldc, add, i, i/ldc, i%ldc, got[i], want[i])
			}
		}
	}
	return nil
}

// ComparePack runs pack and kernels.PackGo on the same random rows and
// reports the first packed value that differs, or a write past the panels.
func ComparePack(pack kernels.PackKernel, r *rand.Rand, panels, kb, lda int) error {
	a := make([]float32, (panels*4-1)*lda+kb)
	for i := range a {
		a[i] = r.Float32()
	}
	n := panels * 4 * kb
	want := make([]float32, n+4)
	for i := range want {
		want[i] = -r.Float32()
	}
	got := append([]float32(nil), want...)
	kernels.PackGo(want[:n], a, lda, panels, kb)
	pack(got[:n], a, lda, panels, kb)
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("simd128: pack %d panels, kb %d, lda %d: value %d is %g, the Go code gives %g", panels, kb, lda, i, got[i], want[i])
		}
	}
	return nil
}
