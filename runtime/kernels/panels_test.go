package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestPanelKernelDispatch installs TilesGo behind a call counter as the
// panel kernel: every GEMM (edges, k blocks, beta 0, 1 and 0.5, packed B,
// threads) and a Winograd convolution must give bit-identical results to
// the plain Go path, and the kernel must have been used.
func TestPanelKernelDispatch(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(7, 7))
	calls := 0
	counting := func(a, b, c []float32, kb, aPanels, bPanels, ldc int, add bool) {
		calls++
		if kb < 1 || aPanels < 1 || bPanels < 1 {
			t.Fatalf("panel kernel called with kb %d, %d×%d panels", kb, aPanels, bPanels)
		}
		if len(a) < aPanels*mr*kb || len(b) < bPanels*nr*kb || len(c) < (aPanels*mr-1)*ldc+bPanels*nr {
			t.Fatalf("panel kernel handed short slices: a %d b %d c %d for kb %d, %d×%d panels, ldc %d",
				len(a), len(b), len(c), kb, aPanels, bPanels, ldc)
		}
		TilesGo(a, b, c, kb, aPanels, bPanels, ldc, add)
	}
	packs := 0
	SetPackKernel(func(dst, a []float32, lda, panels, kb int) {
		packs++
		PackGo(dst, a, lda, panels, kb)
	})
	defer SetPackKernel(nil)
	shapes := [][3]int{{1, 1, 1}, {4, 4, 1}, {5, 9, 3}, {8, 8, kc + 3}, {37, nc + 5, 40}, {64, 64, 256}, {129, 17, 2*kc + 1}}
	for _, th := range []int{1, 2} {
		SetThreads(th)
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, beta := range []float32{0, 1, 0.5} {
				a := randSlice(r, m*k)
				b := randSlice(r, k*n)
				c0 := randSlice(r, m*n)
				bp := make([]float32, PackedBSize(k, n))
				PackB(bp, false, k, n, b, n)
				var want, got, wantP, gotP []float32
				for pass := range 2 {
					if pass == 1 {
						SetPanelKernel(counting)
					}
					c := append([]float32(nil), c0...)
					GEMM(false, false, m, n, k, a, k, b, n, beta, c, n)
					cp := append([]float32(nil), c0...)
					GEMMPackedB(false, m, n, k, a, k, bp, beta, cp, n)
					if pass == 0 {
						want, wantP = c, cp
					} else {
						got, gotP = c, cp
					}
				}
				SetPanelKernel(nil)
				for i := range want {
					if got[i] != want[i] || gotP[i] != wantP[i] {
						t.Fatalf("threads %d, %dx%dx%d, beta %g: element %d: GEMM %g / %g, packed B %g / %g with and without the panel kernel",
							th, m, n, k, beta, i, got[i], want[i], gotP[i], wantP[i])
					}
				}
			}
		}
	}
	p := ConvParams{N: 2, CIn: 20, H: 9, W: 7, COut: 18, KH: 3, KW: 3, Stride: 1, Pad: 1}
	c := NewConv(p)
	c.SetWeights(randSlice(r, p.COut*p.CIn*9), randSlice(r, p.COut))
	x := randSlice(r, p.N*p.CIn*p.H*p.W)
	want := make([]float32, p.N*p.COut*p.OutH()*p.OutW())
	got := make([]float32, len(want))
	c.Forward(want, x)
	SetPanelKernel(counting)
	c.Forward(got, x)
	SetPanelKernel(nil)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Winograd conv element %d: %g with the panel kernel, %g without", i, got[i], want[i])
		}
	}
	if calls == 0 || packs == 0 {
		t.Fatalf("the panel kernel was called %d times, the pack kernel %d", calls, packs)
	}
}

// TestWinogradTransformKernelDispatch installs WinogradInputGo and
// WinogradOutputGo behind call counters as the transform kernels, each
// alone and both: the three Winograd layouts (3×3, 4×4 stride 2, its
// transpose), batch 2 and tiles past the edges must give bit-identical
// results to the plain path.
func TestWinogradTransformKernelDispatch(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	inCalls, outCalls := 0, 0
	in := func(pad []float32, plane, cin int, offs []int32, wp int, v []float32, vsz, a int) {
		inCalls++
		if len(offs)%4 != 0 || len(offs) > nc || len(v) < (a*a-1)*vsz+PackedBSize(cin, len(offs)) {
			t.Fatalf("input kernel handed %d tiles, a %d, vsz %d with v %d", len(offs), a, vsz, len(v))
		}
		WinogradInputGo(pad, plane, cin, offs, wp, v, vsz, a)
	}
	out := func(m []float32, xiStride, count, tn, a int, y []float32) {
		outCalls++
		if tn%4 != 0 || len(y) < count*tn*16 || len(m) < (a*a-1)*xiStride+count*tn {
			t.Fatalf("output kernel handed tn %d, count %d, a %d, xiStride %d with m %d, y %d", tn, count, a, xiStride, len(m), len(y))
		}
		WinogradOutputGo(m, xiStride, count, tn, a, y)
	}
	for _, p := range []ConvParams{
		{N: 2, CIn: 20, H: 9, W: 7, COut: 18, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 2, CIn: 16, H: 10, W: 14, COut: 20, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 2, CIn: 24, H: 5, W: 6, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
		{N: 1, CIn: 300, H: 4, W: 4, COut: 8, KH: 3, KW: 3, Stride: 1, Pad: 1}, // two k blocks of V
	} {
		c := NewConv(p)
		if c.algo != algoWinograd {
			t.Fatalf("%+v does not run on Winograd", p)
		}
		c.SetWeights(randSlice(r, p.COut*p.CIn*p.KH*p.KW), randSlice(r, p.COut))
		x := randSlice(r, p.N*p.CIn*p.H*p.W)
		want := make([]float32, p.N*p.COut*p.OutH()*p.OutW())
		c.Forward(want, x)
		for _, k := range []struct {
			name    string
			in, out bool
		}{{"input", true, false}, {"output", false, true}, {"both", true, true}} {
			in0, out0 := inCalls, outCalls
			if k.in {
				SetWinogradInputKernel(in)
			}
			if k.out {
				SetWinogradOutputKernel(out)
			}
			got := make([]float32, len(want))
			c.Forward(got, x)
			SetWinogradInputKernel(nil)
			SetWinogradOutputKernel(nil)
			if (k.in && inCalls == in0) || (k.out && outCalls == out0) {
				t.Fatalf("%+v, %s kernel: never called", p, k.name)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("%+v, %s kernel: element %d: %g with it, %g without", p, k.name, i, got[i], want[i])
				}
			}
		}
	}
}

// TestPackKernelMatchesPackA: packA with PackGo installed writes what it
// writes with its own loops, for every k block and a short last panel.
func TestPackKernelMatchesPackA(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for _, s := range [][2]int{{4, 1}, {5, 3}, {8, kc + 3}, {37, 2*kc + 5}, {64, 1300}} {
		m, k := s[0], s[1]
		lda := k + r.IntN(3)
		a := randSlice(r, m*lda)
		want := make([]float32, packedASize(m, k))
		got := make([]float32, len(want))
		packA(want, false, m, k, a, lda)
		SetPackKernel(PackGo)
		packA(got, false, m, k, a, lda)
		SetPackKernel(nil)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("m %d, k %d: packed element %d is %g with PackGo, %g without", m, k, i, got[i], want[i])
			}
		}
	}
}
