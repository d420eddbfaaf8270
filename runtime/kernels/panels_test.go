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
	if calls == 0 {
		t.Fatal("the panel kernel was never called")
	}
}

// TestWinogradOutputKernelDispatch installs WinogradOutputGo behind a call
// counter as the output-transform kernel: the three Winograd layouts (3×3,
// 4×4 stride 2, its transpose), batch 2 and tiles past the edges must give
// bit-identical results to the plain path.
func TestWinogradOutputKernelDispatch(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	calls := 0
	counting := func(m []float32, xiStride, count, tn, a int, y []float32) {
		calls++
		if tn%4 != 0 || len(y) < count*tn*16 || len(m) < (a*a-1)*xiStride+count*tn {
			t.Fatalf("output kernel handed tn %d, count %d, a %d, xiStride %d with m %d, y %d", tn, count, a, xiStride, len(m), len(y))
		}
		WinogradOutputGo(m, xiStride, count, tn, a, y)
	}
	for _, p := range []ConvParams{
		{N: 2, CIn: 20, H: 9, W: 7, COut: 18, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 2, CIn: 16, H: 10, W: 14, COut: 20, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 2, CIn: 24, H: 5, W: 6, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
	} {
		c := NewConv(p)
		if c.algo != algoWinograd {
			t.Fatalf("%+v does not run on Winograd", p)
		}
		c.SetWeights(randSlice(r, p.COut*p.CIn*p.KH*p.KW), randSlice(r, p.COut))
		x := randSlice(r, p.N*p.CIn*p.H*p.W)
		want := make([]float32, p.N*p.COut*p.OutH()*p.OutW())
		got := make([]float32, len(want))
		c.Forward(want, x)
		before := calls
		SetWinogradOutputKernel(counting)
		c.Forward(got, x)
		SetWinogradOutputKernel(nil)
		if calls == before {
			t.Fatalf("%+v: the output kernel was never called", p)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: element %d: %g with the output kernel, %g without", p, i, got[i], want[i])
			}
		}
	}
}
