package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func absSlice(s []float32) []float32 {
	if s == nil {
		return nil
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = float32(math.Abs(float64(v)))
	}
	return out
}

// convNaive runs the naive twin of p.
func convNaive(dst, src, w, b []float32, p ConvParams) {
	if p.Transposed {
		ConvTranspose2DNaive(dst, src, w, b, p)
	} else {
		Conv2DNaive(dst, src, w, b, p)
	}
}

// convCheck runs conv c on random data and compares it with the naive twin.
// Each output may differ from the naive one by rel times the sum of the
// magnitudes of its terms (the same convolution on |x|, |w|, |b|), which
// bounds float32 rounding of any summation order. A guard band around dst
// must stay untouched. It returns the largest error/scale seen.
func convCheck(t *testing.T, r *rand.Rand, c *Conv, withBias bool, rel float64) float64 {
	t.Helper()
	p := c.Params()
	src := randSlice(r, p.N*p.CIn*p.H*p.W)
	w := randSlice(r, p.COut*p.CIn*p.KH*p.KW)
	var b []float32
	if withBias {
		b = randSlice(r, p.COut)
	}
	c.SetWeights(w, b)
	outLen := p.N * p.COut * p.OutH() * p.OutW()
	want, scale := make([]float32, outLen), make([]float32, outLen)
	convNaive(want, src, w, b, p)
	sw := absSlice(w)
	if c.algo == algoWinograd && p.KH == 4 {
		// The phase-space kernels are 2×2 taps in a 3×3 window: the
		// transforms also round the pixels that meet a zero weight, so the
		// scale counts every pixel of the receptive field at max |w|.
		var mx float32
		for _, v := range sw {
			mx = max(mx, v)
		}
		for i := range sw {
			sw[i] = mx
		}
	}
	convNaive(scale, absSlice(src), sw, absSlice(b), p)
	const band = 5
	buf := make([]float32, band+outLen+band)
	for i := range buf {
		buf[i] = guard
	}
	got := buf[band : band+outLen]
	for i := range got {
		got[i] = float32(math.NaN()) // Forward must overwrite, not accumulate
	}
	c.Forward(got, src)
	for i := 0; i < band; i++ {
		if buf[i] != guard || buf[band+outLen+i] != guard {
			t.Fatalf("%+v: wrote outside dst", p)
		}
	}
	var worst float64
	for i := range got {
		e := math.Abs(float64(got[i]) - float64(want[i]))
		s := float64(scale[i]) + 1e-30
		if !(e <= rel*s) {
			t.Fatalf("%+v bias=%v: dst[%d] = %v, want %v (scale %v, tolerance %g)", p, withBias, i, got[i], want[i], scale[i], rel)
		}
		worst = max(worst, e/s)
	}
	return worst
}

func randConvParams(r *rand.Rand) ConvParams {
	p := ConvParams{
		N: 1 + r.IntN(3), CIn: 1 + r.IntN(6), COut: 1 + r.IntN(7),
		H: 1 + r.IntN(9), W: 1 + r.IntN(9),
		KH: 1 + r.IntN(4), KW: 1 + r.IntN(4), Stride: 1 + r.IntN(3), Transposed: r.IntN(3) == 0,
	}
	p.Pad = r.IntN(min(p.KH, p.KW))
	switch r.IntN(5) { // bias the draw towards the special-cased shapes
	case 0:
		p.KH, p.KW, p.Stride, p.Pad = 3, 3, 1, 1
	case 1:
		p.KH, p.KW, p.Stride, p.Pad = 1, 1, 1, 0
	case 2: // the VQ-VAE's down- and up-sampling layers, odd sizes included
		p.KH, p.KW, p.Stride, p.Pad = 4, 4, 2, 1
		if r.IntN(3) > 0 {
			p.H, p.W = 2+2*r.IntN(5), 2+2*r.IntN(5)
		}
	}
	return p
}

func TestConvMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	n := 0
	for n < 300 {
		p := randConvParams(r)
		if p.OutH() < 1 || p.OutW() < 1 {
			continue
		}
		n++
		c := NewConv(p)
		if winogradK4S2(p) && r.IntN(2) == 0 {
			// NewConv picks Winograd only for wide layers; test it on any.
			c.algo, c.wino = algoWinograd, newWinograd(p, winoTile)
		}
		if c.algo == algoWinograd && r.IntN(2) == 0 {
			c.wino = newWinograd(p, 2) // the tile size NewConv does not pick
		}
		rel := 1e-5
		if c.algo == algoWinograd && p.KH == 4 {
			// A Winograd tile spans more pixels than the receptive field
			// that the (boxed) scale counts; 1e-4 as in TestWinogradAccuracy.
			rel = 1e-4
		}
		convCheck(t, r, c, r.IntN(2) == 0, rel)
	}
}

// TestConvModelShapes checks each algorithm on shapes like the model's,
// with channel counts crossing the kc and mr/nr block edges.
func TestConvModelShapes(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, p := range []ConvParams{
		{N: 2, CIn: 3, H: 16, W: 16, COut: 8, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 1, CIn: 40, H: 8, W: 8, COut: 33, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 2, CIn: 300, H: 8, W: 8, COut: 17, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 3, CIn: 270, H: 7, W: 9, COut: 10, KH: 1, KW: 1, Stride: 1, Pad: 0},
		{N: 2, CIn: 300, H: 4, W: 4, COut: 6, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
		{N: 1, CIn: 8, H: 8, W: 8, COut: 3, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
	} {
		defer SetThreads(Threads())
		for _, th := range []int{1, 2} {
			SetThreads(th)
			convCheck(t, r, NewConv(p), true, 1e-5)
		}
	}
}

// TestWinogradAccuracy measures both tile sizes on a residual-layer shape
// (256 channels, 8×8) and holds them to a relative error of 1e-4 of the
// magnitude of the summed terms.
func TestWinogradAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	for _, p := range []ConvParams{
		{N: 1, CIn: 256, H: 8, W: 8, COut: 32, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 1, CIn: 128, H: 16, W: 16, COut: 32, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 1, CIn: 256, H: 8, W: 8, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
	} {
		for _, m := range []int{2, 4} {
			c := NewConv(p)
			c.wino = newWinograd(p, m)
			worst := convCheck(t, r, c, false, 1e-4)
			t.Logf("%dx%d stride %d transposed=%v F(%dx%d,%dx%d): worst |fast-naive| / Σ|terms| = %.2g", p.KH, p.KW, p.Stride, p.Transposed, m, m, c.wino.r, c.wino.r, worst)
		}
	}
}

func TestConvAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 18))
	defer SetThreads(Threads())
	for _, p := range []ConvParams{
		{N: 2, CIn: 16, H: 8, W: 8, COut: 16, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 2, CIn: 16, H: 8, W: 8, COut: 16, KH: 1, KW: 1, Stride: 1},
		{N: 2, CIn: 16, H: 8, W: 8, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 2, CIn: 16, H: 8, W: 8, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
	} {
		for _, th := range []int{1, 2} {
			SetThreads(th)
			c := NewConv(p)
			c.SetWeights(randSlice(r, p.COut*p.CIn*p.KH*p.KW), randSlice(r, p.COut))
			src := randSlice(r, p.N*p.CIn*p.H*p.W)
			dst := make([]float32, p.N*p.COut*p.OutH()*p.OutW())
			if got := testing.AllocsPerRun(10, func() { c.Forward(dst, src) }); got != 0 {
				t.Errorf("%+v threads=%d: Forward allocates %v times per call, want 0", p, th, got)
			}
		}
	}
}

// modelLayers are the conv layers of the default VQ-VAE for one 64×64×3
// image, with how many times each runs per encode+decode.
var modelLayers = []struct {
	name  string
	p     ConvParams
	times int
}{
	{"enc0_3to64_k4s2_64x64", ConvParams{N: 1, CIn: 3, H: 64, W: 64, COut: 64, KH: 4, KW: 4, Stride: 2, Pad: 1}, 1},
	{"enc1_64to128_k4s2_32x32", ConvParams{N: 1, CIn: 64, H: 32, W: 32, COut: 128, KH: 4, KW: 4, Stride: 2, Pad: 1}, 1},
	{"enc2_128to256_k4s2_16x16", ConvParams{N: 1, CIn: 128, H: 16, W: 16, COut: 256, KH: 4, KW: 4, Stride: 2, Pad: 1}, 1},
	{"enc3_256to256_k3_8x8", ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}, 1},
	{"res_3x3_256to256_8x8", ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}, 12},
	{"res_1x1_256to256_8x8", ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 256, KH: 1, KW: 1, Stride: 1}, 12},
	{"enc_out_1x1_256to128_8x8", ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 128, KH: 1, KW: 1, Stride: 1}, 1},
	{"dec0_128to256_k3_8x8", ConvParams{N: 1, CIn: 128, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}, 1},
	{"dect0_256to128_k4s2_8to16", ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 128, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}, 1},
	{"dect1_128to64_k4s2_16to32", ConvParams{N: 1, CIn: 128, H: 16, W: 16, COut: 64, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}, 1},
	{"dect2_64to3_k4s2_32to64", ConvParams{N: 1, CIn: 64, H: 32, W: 32, COut: 3, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}, 1},
}

type benchConv struct {
	c        *Conv
	src, dst []float32
}

func newBenchConv(p ConvParams) benchConv {
	r := rand.New(rand.NewPCG(1, 1))
	c := NewConv(p)
	c.SetWeights(randSlice(r, p.COut*p.CIn*p.KH*p.KW), randSlice(r, p.COut))
	return benchConv{c, randSlice(r, p.N*p.CIn*p.H*p.W), make([]float32, p.N*p.COut*p.OutH()*p.OutW())}
}

// BenchmarkConv times each conv layer of the default model for one image;
// GFLOP/s counts the direct convolution's 2·MACs, so algorithms that do
// fewer multiplications (Winograd) show above the machine's peak.
func BenchmarkConv(b *testing.B) {
	for _, l := range modelLayers {
		b.Run(l.name, func(b *testing.B) {
			bc := newBenchConv(l.p)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for range b.N {
				bc.c.Forward(bc.dst, bc.src)
			}
			reportFLOPs(b, 2*l.p.MACs(), cpu0)
		})
	}
}

// BenchmarkWinograd compares the two tile sizes on the residual 3×3 layer.
func BenchmarkWinograd(b *testing.B) {
	p := ConvParams{N: 1, CIn: 256, H: 8, W: 8, COut: 256, KH: 3, KW: 3, Stride: 1, Pad: 1}
	for _, m := range []int{2, 4} {
		b.Run(fmt.Sprintf("F%dx%d/res_3x3_256to256_8x8", m, m), func(b *testing.B) {
			bc := newBenchConv(p)
			bc.c.wino = newWinograd(p, m)
			r := rand.New(rand.NewPCG(1, 1))
			bc.c.SetWeights(randSlice(r, p.COut*p.CIn*9), nil)
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for range b.N {
				bc.c.Forward(bc.dst, bc.src)
			}
			reportFLOPs(b, 2*p.MACs(), cpu0)
		})
	}
}

// BenchmarkVQVAEConvs runs every conv of one encode+decode of the default
// VQ-VAE (64×64×3 image), in order; activations and the quantizer cost
// little beside them.
func BenchmarkVQVAEConvs(b *testing.B) {
	var layers []benchConv
	var flops int64
	for _, l := range modelLayers {
		bc := newBenchConv(l.p)
		for range l.times {
			layers = append(layers, bc)
			flops += 2 * l.p.MACs()
		}
	}
	b.Run(fmt.Sprintf("threads=%d", Threads()), func(b *testing.B) {
		cpu0 := cpuSeconds()
		for range b.N {
			for _, l := range layers {
				l.c.Forward(l.dst, l.src)
			}
		}
		reportFLOPs(b, flops, cpu0)
	})
}
