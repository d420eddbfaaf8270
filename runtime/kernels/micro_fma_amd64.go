//go:build amd64 && !purego

package kernels

// ---------------------------------------------------------------------------
// The amd64 register tile with AVX2 and FMA: the same 8×4 tile and panel
// layout as the SSE kernel (micro_amd64.s), one 8-wide vector per column,
// fused multiply-adds, and the k sum split into even and odd steps (two
// dependency chains per column) added at the end. So results differ from
// the SSE kernel's in float32 rounding: a CPU with AVX2 and FMA gives the
// same results on every call, and so does one without. Measured on this
// project's Xeon (AVX-512 class): about 3× the SSE tile (see
// docs/training-speed.md). -tags purego still gives the pure-Go 4×2 tile.
// ---------------------------------------------------------------------------

// useFMA selects the AVX2+FMA tile; tests switch it to cover both.
var useFMA = hasAVX2FMA()

// hasAVX2FMA reports whether the CPU has AVX2 and FMA and the OS saves the
// YMM registers (OSXSAVE, XCR0 bits 1 and 2).
func hasAVX2FMA() bool {
	_, _, c1, _ := cpuid(1, 0)
	const fma, osxsave, avx = 1 << 12, 1 << 27, 1 << 28
	if c1&(fma|osxsave|avx) != fma|osxsave|avx {
		return false
	}
	if lo, _ := xgetbv0(); lo&6 != 6 {
		return false
	}
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<5) != 0 // AVX2
}

func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
func xgetbv0() (eax, edx uint32)

// micro computes the 8×4 tile t = Apanel·Bpanel over the panels' k (a:
// k×8, b: k×4, k-major), row-major into t: t[r·4+q] = Σ_p a[p·8+r]·b[p·4+q]
// (TestMicroMatchesNaive), with the AVX2+FMA tile or the SSE one.
func micro(a, b []float32, t *[mr * nr]float32) {
	if useFMA {
		microFMA(a, b, t)
		return
	}
	microSSE(a, b, t)
}

// microC is micro writing the tile into rows of c (stride ldc):
// c[r·ldc + q] = t[r·nr + q], or += when add. The AVX2 tile stores from
// registers; the SSE one goes through micro's tile.
func microC(a, b, c []float32, ldc int, add bool) {
	if useFMA {
		_ = c[(mr-1)*ldc+nr-1] // the whole tile is inside c
		microFMAC(a, b, c, ldc, add)
		return
	}
	var t [mr * nr]float32
	microSSE(a, b, &t)
	storeFullTile(c, ldc, &t, add)
}

// microFMA is micro with AVX2 and FMA, in micro_fma_amd64.s.
//
//go:noescape
func microFMA(a, b []float32, t *[mr * nr]float32)

// microFMAC is microC with AVX2 and FMA, in micro_fma_amd64.s; c must hold
// (mr-1)·ldc + nr floats.
//
//go:noescape
func microFMAC(a, b, c []float32, ldc int, add bool)
