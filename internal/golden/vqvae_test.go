package golden

import (
	"fmt"
	"math"
	"testing"

	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

// Relative tolerance for float layers against PyTorch: both compute in
// float32 but sum in different orders (GEMM blocking, Winograd), so values
// drift by a few ulps per layer; 1e-4 relative with a 1e-3 absolute floor
// leaves room for that and nothing else.
const (
	layerRelTol = 1e-4
	layerFloor  = 1e-3
)

func mustOpen(t *testing.T, name string) *File {
	t.Helper()
	f, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// Deep layers at the default config (256 channels, dot products of length
// 2304, Winograd F(4x4,3x3) in the 3x3 convolutions) accumulate float32
// rounding over a dozen layers: measured max |diff| is 4.8e-5 of the tensor's
// largest magnitude for z_e. Values there are compared against that scale.
const deepScaledTol = 2e-4

// compareScaled checks max|got-want| <= tol * max|want|.
func compareScaled(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	if d, at := MaxRelDiff(got, want, scale); d > tol {
		if at < 0 {
			t.Errorf("%s: %d values, want %d", what, len(got), len(want))
			return
		}
		t.Errorf("%s: max difference %.3g of the largest magnitude %g at %d (got %g, want %g), tolerance %g", what, d, scale, at, got[at], want[at], tol)
	}
}

func mustTensor(t *testing.T, f *File, name string) []float32 {
	t.Helper()
	x, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return x.Data
}

func compare(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if d, at := MaxRelDiff(got, want, layerFloor); d > layerRelTol {
		if at < 0 {
			t.Errorf("%s: %d values, want %d", what, len(got), len(want))
			return
		}
		t.Errorf("%s: max relative difference %.3g at %d (got %g, want %g), tolerance %g", what, d, at, got[at], want[at], layerRelTol)
	}
}

func codesEqual(t *testing.T, what string, got []int32, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d codes, want %d", what, len(got), len(want))
	}
	for i := range got {
		if float32(got[i]) != want[i] {
			t.Fatalf("%s: code %d is %d, want %g (codes must be identical)", what, i, got[i], want[i])
		}
	}
}

func vqvaeFromGolden(t *testing.T, f *File, batch int) *vqvae.Model {
	t.Helper()
	cfg, err := ctvae.ParseConfig([]byte(f.Metadata["config"]))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Params()
	if err != nil {
		t.Fatal(err)
	}
	vp := p
	if cfg.HasCausal() {
		// Keep only the VQ-VAE's tensors: the model under test here is the VQ-VAE.
		vp = nn.Params{}
		for _, s := range vqvae.Specs(cfg.Config) {
			vp[s.Name] = p[s.Name]
		}
	}
	m, err := vqvae.New(cfg.Config, vp, batch)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func checkVQVAE(t *testing.T, name string, perLayer bool) {
	cmp := compare
	if !perLayer {
		cmp = func(t *testing.T, what string, got, want []float32) { compareScaled(t, what, got, want, deepScaledTol) }
	}
	f := mustOpen(t, name)
	x := mustTensor(t, f, "io.x")
	xt, _ := f.Tensor("io.x")
	m := vqvaeFromGolden(t, f, xt.Shape[0])
	codes := make([]int32, m.CodesLen())
	m.Encode(x, codes)
	if perLayer {
		for i, out := range m.EncoderOutputs() {
			compare(t, fmt.Sprintf("encoder.%d", i), out, mustTensor(t, f, fmt.Sprintf("io.encoder.%d", i)))
		}
	}
	cmp(t, "z_e", m.ZE(), mustTensor(t, f, "io.z_e"))
	codesEqual(t, "codes", codes, mustTensor(t, f, "io.codes"))
	img := make([]float32, m.ImageLen())
	m.Decode(codes, img)
	if zq, ok := f.Get("io.z_q"); ok {
		cmp(t, "z_q", m.ZQ(), zq.Data)
	}
	if perLayer {
		for i, out := range m.DecoderOutputs() {
			compare(t, fmt.Sprintf("decoder.%d", i), out, mustTensor(t, f, fmt.Sprintf("io.decoder.%d", i)))
		}
	}
	cmp(t, "recon", img, mustTensor(t, f, "io.recon"))
}

func TestVQVAETinyTwoCodebooksGolden(t *testing.T) { checkVQVAE(t, "vqvae_tiny_k2.safetensors", true) }

func TestVQVAEDefaultGolden(t *testing.T) {
	if testing.Short() {
		t.Skip("default config in -short mode")
	}
	checkVQVAE(t, "vqvae_default.safetensors", false)
}

func TestPreprocessOfficialGolden(t *testing.T) {
	f := mustOpen(t, "preprocess_pad42.safetensors")
	x := mustTensor(t, f, "io.x")
	got := make([]float32, len(x))
	ctvae.PreprocessOfficial(got, x, 3, 64)
	// Same float32 formula as torch's bilinear kernel: only rounding differs.
	if d, at := MaxRelDiff(got, mustTensor(t, f, "io.y"), 1e-3); d > 1e-5 {
		t.Errorf("preprocess: max relative difference %.3g at %d", d, at)
	}
}
