//go:build amd64 && !purego

package train

// useFMA64 selects the AVX2+FMA tile; tests switch it to cover both.
var useFMA64 = hasAVX2FMA64()

// hasAVX2FMA64 reports whether the CPU has AVX2 and FMA and the OS saves
// the YMM registers (OSXSAVE, XCR0 bits 1 and 2).
func hasAVX2FMA64() bool {
	_, _, c1, _ := cpuid64(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if lo, _ := xgetbv64(); lo&6 != 6 {
		return false
	}
	if maxLeaf, _, _, _ := cpuid64(0, 0); maxLeaf < 7 {
		return false
	}
	_, b7, _, _ := cpuid64(7, 0)
	return b7&(1<<5) != 0 // AVX2
}

func cpuid64(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv64() (eax, edx uint32)

// gemm64Tile adds to the 4×8 tile of C at c (stride ldc) the product of
// the 4×kb A at a (strides sai, sap) and the kb×8 B at b (stride ldb);
// gemm64 checked the bounds.
func gemm64Tile(kb int, a []float64, sai, sap int, b []float64, ldb int, c []float64, ldc int) {
	if useFMA64 {
		gemm64FMA(kb, &a[0], sai, sap, &b[0], ldb, &c[0], ldc)
		return
	}
	gemm64Go(4, 8, kb, a, sai, sap, b, ldb, c, ldc)
}

// gemm64FMA is gemm64Tile in AVX2+FMA (gemm64_amd64.s): each of the 32
// sums runs over p in order, with fused multiply-adds.
//
//go:noescape
func gemm64FMA(kb int, a *float64, sai, sap int, b *float64, ldb int, c *float64, ldc int)
