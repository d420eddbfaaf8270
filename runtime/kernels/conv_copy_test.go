package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestConvCopyWeights checks that a plan given another plan's weights by
// CopyWeights computes exactly what the other one does, for every
// algorithm (1×1 GEMM, im2col, Winograd 3×3 and 4×4 stride 2, col2im).
func TestConvCopyWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	for _, p := range []ConvParams{
		{N: 2, CIn: 5, H: 6, W: 6, COut: 7, KH: 1, KW: 1, Stride: 1},
		{N: 2, CIn: 3, H: 7, W: 7, COut: 4, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 2, CIn: 5, H: 9, W: 9, COut: 6, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 1, CIn: 16, H: 8, W: 8, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 1, CIn: 16, H: 4, W: 4, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
		{N: 2, CIn: 4, H: 3, W: 3, COut: 3, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
	} {
		a, b := NewConv(p), NewConv(p)
		w := randSlice(r, p.COut*p.CIn*p.KH*p.KW)
		bias := randSlice(r, p.COut)
		a.SetWeights(w, bias)
		b.SetWeights(randSlice(r, len(w)), nil)
		b.CopyWeights(a)
		x := randSlice(r, p.N*p.CIn*p.H*p.W)
		ya := make([]float32, p.N*p.COut*p.OutH()*p.OutW())
		yb := make([]float32, len(ya))
		a.Forward(ya, x)
		b.Forward(yb, x)
		for i := range ya {
			if ya[i] != yb[i] {
				t.Fatalf("%+v: y[%d] = %v after CopyWeights, want %v", p, i, yb[i], ya[i])
			}
		}
	}
}
