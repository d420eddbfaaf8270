//go:build amd64 && !purego

package train

import "testing"

// TestGEMM64Tiles runs TestGEMM64MatchesNaive with the Go tile and, when the
// CPU has them, the AVX2+FMA one.
func TestGEMM64Tiles(t *testing.T) {
	defer func(v bool) { useFMA64 = v }(useFMA64)
	useFMA64 = false
	t.Run("go", TestGEMM64MatchesNaive)
	if !hasAVX2FMA64() {
		t.Skip("no AVX2+FMA on this CPU")
	}
	useFMA64 = true
	t.Run("fma", TestGEMM64MatchesNaive)
}

// TestGATKernelTiles runs TestGATKernelsMatchGo with the Go loops only and,
// when the CPU has them, with the AVX2+FMA kernels.
func TestGATKernelTiles(t *testing.T) {
	defer func(v bool) { useFMA64 = v }(useFMA64)
	useFMA64 = false
	t.Run("go", TestGATKernelsMatchGo)
	if !hasAVX2FMA64() {
		t.Skip("no AVX2+FMA on this CPU")
	}
	useFMA64 = true
	t.Run("fma", TestGATKernelsMatchGo)
}
