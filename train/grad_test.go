package train

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

// Finite-difference checks: every backward against central differences
// (f(θ+ε) - f(θ-ε)) / 2ε of a float32 forward whose loss is summed in
// float64. With ε = 1e-2 on O(1) values, truncation is ~1e-4 relative, but
// float32 rounding inside the layers (sums of hundreds of products, ~1e-5
// of the loss) divided by 2ε reaches ~1e-3 of the small gradients, so
// gradients must agree to fdTol relative to max(|fd|, |grad|, fdFloor);
// observed worst 1.3e-3, while the bugs this caught gave errors of 0.1 to 2.
// A coordinate whose perturbation crosses a (Leaky)ReLU kink or flips a
// code is not smooth there and is skipped.
const (
	fdEps   = 1e-2
	fdTol   = 5e-3
	fdFloor = 1e-3
)

func randFill(r *rand.Rand, x []float32, scale float64) {
	for i := range x {
		x[i] = float32((2*r.Float64() - 1) * scale)
	}
}

// dot64 is Σ r·y in float64: a random linear read-out turns any layer into
// a scalar loss whose output gradient is r.
func dot64(r, y []float32) float64 {
	var s float64
	for i := range y {
		s += float64(r[i]) * float64(y[i])
	}
	return s
}

// fdCheck compares grad[i] with the central difference of loss over
// theta[i] for up to 12 random coordinates, skipping non-smooth ones
// (smooth reports whether the ±ε forward passes kept every kink and code).
func fdCheck(t *testing.T, name string, r *rand.Rand, theta, grad []float32, loss func() float64, smooth func() bool) float64 {
	t.Helper()
	worst := 0.0
	checked := 0
	for try := 0; try < 40 && checked < 12; try++ {
		i := r.IntN(len(theta))
		old := theta[i]
		// A bias moves a whole channel and often crosses a kink at ε; a
		// smaller step keeps more coordinates smooth at some rounding cost.
		for _, eps := range []float64{fdEps, fdEps / 5} {
			e := float32(eps)
			theta[i] = old + e
			lp := loss()
			ok := smooth()
			theta[i] = old - e
			lm := loss()
			ok = ok && smooth()
			theta[i] = old
			if !ok {
				continue
			}
			fd := (lp - lm) / float64(2*e)
			err := math.Abs(float64(grad[i])-fd) / math.Max(fdFloor, max(math.Abs(fd), math.Abs(float64(grad[i]))))
			worst = max(worst, err)
			if err > fdTol {
				t.Errorf("%s[%d]: backward %.6g, finite difference %.6g at ε %g (rel err %.2g > %.g)", name, i, grad[i], fd, eps, err, fdTol)
			}
			checked++
			break
		}
	}
	if checked < 3 {
		t.Errorf("%s: only %d smooth coordinates checked", name, checked)
	}
	t.Logf("%s: max rel err %.2g over %d coordinates", name, worst, checked)
	return worst
}

// signs records the sign pattern of the activations of every layer so the
// check can tell whether a perturbation crossed a kink.
func signs(bufs ...[]float32) []bool {
	var s []bool
	for _, b := range bufs {
		for _, v := range b {
			s = append(s, v > 0)
		}
	}
	return s
}

func sameSigns(a, b []bool) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestConvBackwardFiniteDifferences(t *testing.T) {
	kernels.SetThreads(1)
	cases := []struct {
		name string
		cp   kernels.ConvParams
		act  nn.Activation
	}{
		{"down4x4s2", kernels.ConvParams{N: 2, CIn: 3, H: 8, W: 8, COut: 4, KH: 4, KW: 4, Stride: 2, Pad: 1}, nn.ActLeakyReLU},
		{"conv3x3", kernels.ConvParams{N: 2, CIn: 3, H: 5, W: 5, COut: 4, KH: 3, KW: 3, Stride: 1, Pad: 1}, nn.ActReLU},
		{"conv1x1", kernels.ConvParams{N: 2, CIn: 3, H: 4, W: 4, COut: 5, KH: 1, KW: 1, Stride: 1}, nn.ActNone},
		{"up4x4s2", kernels.ConvParams{N: 2, CIn: 4, H: 4, W: 4, COut: 3, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}, nn.ActTanh},
		// 16 channels: the adjoint runs through the runtime's 4×4 stride-2
		// Winograd plans; odd sizes have no adjoint plan (GEMM + col2im).
		{"down4x4s2wino", kernels.ConvParams{N: 1, CIn: 16, H: 6, W: 6, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1}, nn.ActLeakyReLU},
		{"up4x4s2wino", kernels.ConvParams{N: 1, CIn: 16, H: 3, W: 3, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}, nn.ActLeakyReLU},
		{"down4x4s2odd", kernels.ConvParams{N: 2, CIn: 3, H: 7, W: 7, COut: 4, KH: 4, KW: 4, Stride: 2, Pad: 1}, nn.ActLeakyReLU},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			specs := nn.ConvSpecs("l", tc.cp.CIn, tc.cp.COut, tc.cp.KH, true, tc.cp.Transposed)
			params := nn.InitParams(specs, 3)
			grads := newGrads(specs)
			c := newConv("l", params, grads, tc.cp, true, tc.act, true, nil)
			x := make([]float32, tc.cp.N*tc.cp.CIn*tc.cp.H*tc.cp.W)
			randFill(r, x, 1)
			ro := make([]float32, len(c.out))
			randFill(r, ro, 1)
			loss := func() float64 { c.reload(); return dot64(ro, c.forward(x)) }
			loss()
			base := signs(c.out)
			smooth := func() bool { return tc.act == nn.ActTanh || tc.act == nn.ActNone || sameSigns(base, signs(c.out)) }
			dy := append([]float32(nil), ro...)
			dx := append([]float32(nil), c.backward(dy)...)
			fdCheck(t, "x", r, x, dx, loss, smooth)
			fdCheck(t, "weight", r, params["l.weight"].Data, grads["l.weight"].Data, loss, smooth)
			fdCheck(t, "bias", r, params["l.bias"].Data, grads["l.bias"].Data, loss, smooth)
		})
	}
}

func TestResidualBackwardFiniteDifferences(t *testing.T) {
	kernels.SetThreads(1)
	r := rand.New(rand.NewPCG(4, 5))
	specs := nn.ResidualSpecs("res", 3)
	params := nn.InitParams(specs, 6)
	grads := newGrads(specs)
	l := newResidual("res", params, grads, 2, 3, 5, 5, nil)
	x := make([]float32, 2*3*5*5)
	randFill(r, x, 1)
	ro := make([]float32, len(x))
	randFill(r, ro, 1)
	loss := func() float64 { l.reload(); return dot64(ro, l.forward(x)) }
	loss()
	base := signs(l.c3.out)
	smooth := func() bool { return sameSigns(base, signs(l.c3.out)) }
	dx := append([]float32(nil), l.backward(append([]float32(nil), ro...))...)
	fdCheck(t, "x", r, x, dx, loss, smooth)
	fdCheck(t, "resblock.0", r, params["res.resblock.0.weight"].Data, grads["res.resblock.0.weight"].Data, loss, smooth)
	fdCheck(t, "resblock.2", r, params["res.resblock.2.weight"].Data, grads["res.resblock.2.weight"].Data, loss, smooth)
}

// tinyVQ is a small VQ-VAE config for gradient checks and smoke tests.
func tinyVQ() vqvae.Config {
	return vqvae.Config{InChannels: 2, ImgSize: 8, HiddenDims: []int{4, 6}, EmbeddingDim: 3,
		NumEmbeddings: 5, Codebooks: 1, ResidualLayers: 1}
}

// TestVQNetBackwardFiniteDifferences checks the whole VQ-VAE loss (recon +
// both VQ terms through the straight-through estimator) against finite
// differences for a sample of every parameter tensor.
func TestVQNetBackwardFiniteDifferences(t *testing.T) {
	kernels.SetThreads(1)
	cfg := tinyVQ()
	const n, beta = 2, 0.25
	specs := vqvae.Specs(cfg)
	params := nn.InitParams(specs, 7)
	// Spread the codebook like z_e so several codes are in use.
	randFill(rand.New(rand.NewPCG(8, 9)), params["vq_layer.quantizers.0.embedding.weight"].Data, 0.3)
	grads := newGrads(specs)
	v := newVQNet(cfg, params, grads, n, false)
	r := rand.New(rand.NewPCG(10, 11))
	x := make([]float32, n*cfg.InChannels*cfg.ImgSize*cfg.ImgSize)
	for i := range x {
		x[i] = r.Float32()
	}
	nImg := len(x)
	nLat := n * cfg.EmbeddingDim * cfg.LatentSize() * cfg.LatentSize()
	// The straight-through estimator differentiates a surrogate in which the
	// decoder reads z_e + sg(z_q - z_e) and each VQ term sees only its own
	// argument. Per parameter group the loss whose finite difference the
	// backward must match is then (c = z_q - z_e frozen at θ0):
	//   encoder   recon(decode(z_e(θ) + c)) + beta·|z_q - z_e(θ)|²/nLat
	//   codebook  |z_q(θ) - z_e|²/nLat       (the decoder sees a constant)
	//   decoder   recon(decode(z_q))         (the VQ terms are constants)
	var frozenShift []float32
	type part int
	const (
		encPart part = iota
		codePart
		decPart
	)
	lossFor := func(which part) float64 {
		v.reload()
		ze := v.encode(x)
		v.lookup(v.codes)
		var vqd float64
		for i := range ze {
			d := float64(v.zq[i]) - float64(ze[i])
			vqd += d * d
		}
		if which == codePart {
			return vqd / float64(nLat)
		}
		if which == encPart {
			for i := range v.zq {
				v.zq[i] = ze[i] + frozenShift[i]
			}
		}
		out := v.decode()
		var se float64
		for i, y := range out {
			d := float64(y) - float64(x[i])
			se += d * d
		}
		if which == encPart {
			return se/float64(nImg) + beta*vqd/float64(nLat)
		}
		return se / float64(nImg)
	}
	lossFor(decPart)
	frozenShift = make([]float32, len(v.zq))
	for i := range frozenShift {
		frozenShift[i] = v.zq[i] - v.ze()[i]
	}
	baseCodes := append([]int32(nil), v.codes...)
	kinks := func() []bool {
		var bufs [][]float32
		for _, ls := range [][]layer{v.enc, v.dec} {
			for _, l := range ls {
				switch l := l.(type) {
				case *conv:
					bufs = append(bufs, l.out)
				case *residual:
					bufs = append(bufs, l.c3.out)
				case *leaky:
					bufs = append(bufs, l.out)
				}
			}
		}
		return signs(bufs...)
	}
	baseKinks := kinks()
	smooth := func() bool {
		for i, c := range v.codes {
			if c != baseCodes[i] {
				return false
			}
		}
		return sameSigns(baseKinks, kinks())
	}
	for _, g := range grads {
		clear(g.Data)
	}
	s := v.step(x, x, beta, nImg, nLat)
	if want := lossFor(decPart) * float64(nImg); math.Abs(s.SqErr-want) > 1e-6*want {
		t.Fatalf("step squared error %.9g, forward %.9g", s.SqErr, want)
	}
	if want := lossFor(codePart) * float64(nLat); math.Abs(s.VQDist-want) > 1e-6*want {
		t.Fatalf("step VQ distance %.9g, forward %.9g", s.VQDist, want)
	}
	r2 := rand.New(rand.NewPCG(12, 13))
	for _, sp := range specs {
		which := decPart
		switch {
		case strings.HasPrefix(sp.Name, "encoder"):
			which = encPart
		case strings.HasPrefix(sp.Name, "vq_layer"):
			which = codePart
		}
		fdCheck(t, sp.Name, r2, params[sp.Name].Data, grads[sp.Name].Data, func() float64 { return lossFor(which) }, smooth)
	}
}
