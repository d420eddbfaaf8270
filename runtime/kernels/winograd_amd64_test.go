//go:build amd64 && !purego

package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestWeightTransformVecMatchesGo holds the AVX2 weight transforms to the
// Go loop (their twin) bit for bit, on random kernels: F(4×4, 3×3) with
// output channels off a multiple of 4 and of the panel height, input
// channels across a k block of the packing, F(4×4, 2×2) on both stride-2
// layouts (the transposed one in four groups of output channels), and
// F(2×2, 3×3), which stays on the Go loop.
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

// transformCases are the layers the vector input and output transforms are
// tied to the Go ones on: F(4×4, 3×3) with fewer than 8 tiles, with a tile
// count off a multiple of 8 over several images, and with more tiles than
// one B block; F(4×4, 2×2) on both stride-2 layouts (the transposed one in
// four groups of output channels).
var transformCases = []ConvParams{
	{N: 1, CIn: 3, H: 8, W: 8, COut: 5, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 3, CIn: 5, H: 11, W: 7, COut: 4, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 2, CIn: 4, H: 84, W: 84, COut: 3, KH: 3, KW: 3, Stride: 1, Pad: 1},
	{N: 3, CIn: 3, H: 12, W: 20, COut: 9, KH: 4, KW: 4, Stride: 2, Pad: 1},
	{N: 2, CIn: 7, H: 6, W: 10, COut: 3, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
}

// TestInputTransformVecMatchesGo holds the AVX2 input transforms to the Go
// ones (their twins) bit for bit, on random inputs: F(4×4, 3×3) and
// F(4×4, 2×2) in every layout, tile counts off a multiple of 8 (the Go
// tail), several images, and more tiles than one B block.
func TestInputTransformVecMatchesGo(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2 on this CPU")
	}
	defer func(v bool) { useAVXInput = v }(useAVXInput)
	r := rand.New(rand.NewPCG(43, 44))
	for _, p := range transformCases {
		t.Run(fmt.Sprintf("%dx%d/t=%v/N%d/%dx%d", p.KH, p.KW, p.Transposed, p.N, p.H, p.W), func(t *testing.T) {
			src := randSlice(r, p.N*p.CIn*p.H*p.W)
			for range len(src) / 7 {
				src[r.IntN(len(src))] *= float32(math.Pow(10, float64(r.IntN(9)-4)))
			}
			useAVXInput = true
			vec := newWinograd(p, 4)
			useAVXInput = false
			ref := newWinograd(p, 4)
			if vec.vecOffs == nil || ref.vecOffs != nil {
				t.Fatal("the switch did not select the transforms")
			}
			for _, w := range []*winograd{vec, ref} {
				w.src = src
				var parts int
				w.phase, parts = w.inputPhase()
				w.runRange(0, parts, nil)
			}
			for i := range ref.v {
				if math.Float32bits(vec.v[i]) != math.Float32bits(ref.v[i]) {
					t.Fatalf("v[%d] = %v, Go transform %v (a = %d, T = %d)", i, vec.v[i], ref.v[i], ref.a, ref.T)
				}
			}
		})
	}
}

// TestOutputTransformVecMatchesGo holds the AVX2 output transforms to the
// Go ones (their twins) bit for bit, on random products: every layout,
// F(4×4, 3×3) and F(4×4, 2×2), tile counts below 8 and off a multiple of 8,
// outputs cut by the image edge.
func TestOutputTransformVecMatchesGo(t *testing.T) {
	if !hasAVX2FMA() {
		t.Skip("no AVX2 on this CPU")
	}
	defer func(v bool) { useAVXOutput = v }(useAVXOutput)
	r := rand.New(rand.NewPCG(45, 46))
	for _, p := range transformCases {
		t.Run(fmt.Sprintf("%dx%d/t=%v/N%d/%dx%d", p.KH, p.KW, p.Transposed, p.N, p.H, p.W), func(t *testing.T) {
			w := newWinograd(p, 4)
			for i := range w.mo {
				w.mo[i] = (r.Float32()*2 - 1) * float32(math.Pow(10, float64(r.IntN(7)-3)))
			}
			w.bias = randSlice(r, p.COut)
			var got, want []float32
			for _, vec := range []bool{true, false} {
				useAVXOutput = vec
				w.dst = make([]float32, p.N*p.COut*p.OutH()*p.OutW())
				for o := 0; o < w.p.COut; o++ {
					w.outputChannel(o)
				}
				got, want = want, w.dst
			}
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("y[%d] = %v, Go transform %v (a = %d, T = %d)", i, got[i], want[i], w.a, w.T)
				}
			}
		})
	}
}

// BenchmarkInputTransform is the input phase (plane copies included) of
// one residual layer of the paper's default config on a training batch
// (256 channels, 8×8, 64 images), on one thread: the AVX2 transform and
// the Go one.
func BenchmarkInputTransform(b *testing.B) {
	defer func(v bool) { useAVXInput = v }(useAVXInput)
	p := ConvParams{N: 64, CIn: 256, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}
	src := randSlice(rand.New(rand.NewPCG(1, 2)), p.N*p.CIn*p.H*p.W)
	for _, vec := range []bool{true, false} {
		b.Run(map[bool]string{true: "avx2", false: "go"}[vec], func(b *testing.B) {
			useAVXInput = vec && hasAVX2FMA()
			w := newWinograd(p, 4)
			w.src = src
			var parts int
			w.phase, parts = w.inputPhase()
			for range b.N {
				w.runRange(0, parts, nil)
			}
		})
	}
}

// BenchmarkOutputTransform is the output phase of the layer of
// BenchmarkInputTransform, on one thread: the AVX2 transform and the Go one.
func BenchmarkOutputTransform(b *testing.B) {
	defer func(v bool) { useAVXOutput = v }(useAVXOutput)
	p := ConvParams{N: 64, CIn: 256, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}
	w := newWinograd(p, 4)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range w.mo {
		w.mo[i] = r.Float32()
	}
	w.dst, w.bias = make([]float32, p.N*p.COut*p.H*p.W), randSlice(r, p.COut)
	for _, vec := range []bool{true, false} {
		b.Run(map[bool]string{true: "avx2", false: "go"}[vec], func(b *testing.B) {
			useAVXOutput = vec && hasAVX2FMA()
			for range b.N {
				for o := 0; o < p.COut; o++ {
					w.outputChannel(o)
				}
			}
		})
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
