//go:build amd64 && !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWeightTransformVecMatchesGo holds the AVX2 weight transform to the Go
// loop (its twin) bit for bit, on random kernels: F(4×4, 3×3) with output
// channels off a multiple of 4 and of the panel height, input channels
// across a k block of the packing, and the layouts that stay on the Go loop.
func TestWeightTransformVecMatchesGo(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2 on this CPU")
	}
	defer func(v bool) { useAVXWeights = v }(useAVXWeights)
	r := rand.New(rand.NewPCG(41, 42))
	for _, p := range []ConvParams{
		{N: 1, CIn: 3, H: 8, W: 8, COut: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 1, CIn: 261, H: 8, W: 8, COut: 19, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 1, CIn: 16, H: 8, W: 8, COut: 64, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 1, CIn: 67, H: 8, W: 8, COut: 9, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 1, CIn: 7, H: 8, W: 8, COut: 33, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
	} {
		for _, m := range []int{2, 4} {
			t.Run(fmt.Sprintf("%dx%d/t=%v/F%d/%dx%d", p.KH, p.KW, p.Transposed, m, p.CIn, p.COut), func(t *testing.T) {
				wt := randSlice(r, p.COut*p.CIn*p.KH*p.KW)
				for range len(wt) / 7 { // large and tiny taps too
					wt[r.IntN(len(wt))] *= float32(math.Pow(10, float64(r.IntN(9)-4)))
				}
				vec, ref := newWinograd(p, m), newWinograd(p, m)
				useAVXWeights = true
				vec.setWeights(wt)
				useAVXWeights = false
				ref.setWeights(wt)
				for i := range ref.u {
					if math.Float32bits(vec.u[i]) != math.Float32bits(ref.u[i]) {
						t.Fatalf("u[%d] = %v, Go loop %v", i, vec.u[i], ref.u[i])
					}
				}
			})
		}
	}
}

// BenchmarkWeightTransform is one residual layer of the paper's default
// config (256×256 channels, F(4×4, 3×3)): the AVX2 transform and the Go loop.
func BenchmarkWeightTransform(b *testing.B) {
	defer func(v bool) { useAVXWeights = v }(useAVXWeights)
	p := ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}
	w := newWinograd(p, 4)
	wt := randSlice(rand.New(rand.NewPCG(1, 2)), p.COut*p.CIn*9)
	for _, vec := range []bool{true, false} {
		b.Run(map[bool]string{true: "avx2", false: "go"}[vec], func(b *testing.B) {
			useAVXWeights = vec && hasAVX2FMA()
			for range b.N {
				w.setWeights(wt)
			}
		})
	}
}
