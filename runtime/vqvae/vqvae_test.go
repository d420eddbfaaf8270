package vqvae

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
)

func tinyConfig() Config {
	return Config{InChannels: 3, ImgSize: 16, HiddenDims: []int{4, 8}, EmbeddingDim: 8,
		NumEmbeddings: 6, Codebooks: 2, ResidualLayers: 2}
}

// The default table must carry the official names and shapes of MODEL.md.
func TestSpecsMatchOfficialNames(t *testing.T) {
	specs := Specs(DefaultConfig())
	got := map[string][]int{}
	for _, s := range specs {
		if _, dup := got[s.Name]; dup {
			t.Fatalf("duplicate parameter %q", s.Name)
		}
		got[s.Name] = s.Shape
	}
	want := map[string][]int{
		"encoder.0.0.weight":                     {64, 3, 4, 4},
		"encoder.2.0.bias":                       {256},
		"encoder.3.0.weight":                     {256, 256, 3, 3},
		"encoder.4.resblock.0.weight":            {256, 256, 3, 3},
		"encoder.9.resblock.2.weight":            {256, 256, 1, 1},
		"encoder.11.0.weight":                    {128, 256, 1, 1},
		"encoder.11.0.bias":                      {128},
		"vq_layer.quantizers.0.embedding.weight": {64, 128},
		"decoder.0.0.weight":                     {256, 128, 3, 3},
		"decoder.6.resblock.2.weight":            {256, 256, 1, 1},
		"decoder.8.0.weight":                     {256, 128, 4, 4},
		"decoder.9.0.weight":                     {128, 64, 4, 4},
		"decoder.10.0.weight":                    {64, 3, 4, 4},
		"decoder.10.0.bias":                      {3},
	}
	for name, shape := range want {
		if !slices.Equal(got[name], shape) {
			t.Errorf("%s: shape %v, want %v", name, got[name], shape)
		}
	}
	for _, absent := range []string{"encoder.10.0.weight", "decoder.7.0.weight", "encoder.4.resblock.0.bias"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s must not exist (parameter-free module or bias=False)", absent)
		}
	}
	var enc, dec, cb int
	for _, s := range specs {
		n := tensor.Numel(s.Shape)
		switch {
		case strings.HasPrefix(s.Name, "encoder."):
			enc += n
		case strings.HasPrefix(s.Name, "decoder."):
			dec += n
		default:
			cb += n
		}
	}
	// MODEL.md: encoder 5.21 M, codebook 8 k, decoder 4.89 M parameters.
	if (enc+5000)/10000 != 521 || (dec+5000)/10000 != 489 || cb != 8192 {
		t.Errorf("parameter counts enc %d dec %d codebook %d, want ~5.21M, ~4.89M, 8192", enc, dec, cb)
	}
}

func TestValidateRejectsBadConfigs(t *testing.T) {
	cases := []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.InChannels = 0 }, "in_channels"},
		{func(c *Config) { c.HiddenDims = nil }, "hidden_dims"},
		{func(c *Config) { c.HiddenDims = []int{4, -1} }, "hidden_dims[1]"},
		{func(c *Config) { c.ImgSize = 18 }, "multiple of 2^len(hidden_dims)"},
		{func(c *Config) { c.Codebooks = 3 }, "codebooks"},
		{func(c *Config) { c.NumEmbeddings = 0 }, "num_embeddings"},
		{func(c *Config) { c.ResidualLayers = -1 }, "residual_layers"},
		{func(c *Config) { c.EmbeddingDim = 1 << 20 }, "embedding_dim"},
	}
	for _, tc := range cases {
		c := tinyConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("config %+v: error %v, want one mentioning %q", c, err, tc.want)
		}
	}
	if err := tinyConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestNewReportsEveryBadTensor(t *testing.T) {
	cfg := tinyConfig()
	p := nn.InitParams(Specs(cfg), 1)
	delete(p, "encoder.0.0.weight")
	p["decoder.0.0.bias"] = tensor.New(3)
	p["encoder.99.weight"] = tensor.New(1)
	_, err := New(cfg, p, 1)
	if err == nil {
		t.Fatal("New accepted broken parameters")
	}
	for _, want := range []string{`missing tensor "encoder.0.0.weight"`, `"decoder.0.0.bias": shape [3], want [8]`, `unexpected tensor "encoder.99.weight"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func randomImages(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = rng.Float32()
	}
	return x
}

// Quantization must pick the nearest row of the right channel window, and
// decoding must see exactly the chosen rows.
func TestQuantizerChannelWindowQuirk(t *testing.T) {
	cfg := tinyConfig()
	p := nn.InitParams(Specs(cfg), 2)
	m, err := New(cfg, p, 2)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	x := randomImages(rng, m.ImageLen())
	codes := make([]int32, m.CodesLen())
	m.Encode(x, codes)
	ze := m.ZE()
	hw, D, dk, K := cfg.LatentSize()*cfg.LatentSize(), cfg.EmbeddingDim, cfg.CodeDim(), cfg.Codebooks
	for n := 0; n < 2; n++ {
		for k := 0; k < K; k++ {
			e := p["vq_layer.quantizers."+string(rune('0'+k))+".embedding.weight"].Data
			for pos := 0; pos < hw; pos++ {
				best, bestD := -1, float64(0)
				for c := 0; c < cfg.NumEmbeddings; c++ {
					var d float64
					for j := 0; j < dk; j++ {
						diff := float64(ze[(n*D+k+j)*hw+pos]) - float64(e[c*dk+j])
						d += diff * diff
					}
					if best < 0 || d < bestD {
						best, bestD = c, d
					}
				}
				if got := codes[(n*K+k)*hw+pos]; int(got) != best {
					t.Fatalf("image %d codebook %d position %d: code %d, want %d", n, k, pos, got, best)
				}
			}
		}
	}
	zq := make([]float32, 2*D*hw)
	m.Lookup(codes, zq)
	for n := 0; n < 2; n++ {
		for k := 0; k < K; k++ {
			e := p["vq_layer.quantizers."+string(rune('0'+k))+".embedding.weight"].Data
			for pos := 0; pos < hw; pos++ {
				c := codes[(n*K+k)*hw+pos]
				for j := 0; j < dk; j++ {
					if zq[(n*D+k*dk+j)*hw+pos] != e[int(c)*dk+j] {
						t.Fatal("z_q does not hold the chosen codebook rows")
					}
				}
			}
		}
	}
}

// A batch must give each image the result it gets alone.
func TestBatchMatchesSingle(t *testing.T) {
	cfg := tinyConfig()
	p := nn.InitParams(Specs(cfg), 5)
	m1, _ := New(cfg, p, 1)
	m3, err := New(cfg, p, 3)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	x := randomImages(rng, m3.ImageLen())
	img3 := make([]float32, m3.ImageLen())
	m3.Reconstruct(x, img3)
	per := m1.ImageLen()
	img1 := make([]float32, per)
	for n := 0; n < 3; n++ {
		m1.Reconstruct(x[n*per:(n+1)*per], img1)
		if !slices.Equal(m1.Codes(), m3.Codes()[n*m1.CodesLen():(n+1)*m1.CodesLen()]) {
			t.Fatalf("image %d: batch codes differ from single codes", n)
		}
		for i, v := range img1 {
			if d := v - img3[n*per+i]; d > 1e-5 || d < -1e-5 {
				t.Fatalf("image %d pixel %d: batch %g, single %g", n, i, img3[n*per+i], v)
			}
		}
	}
}

func TestEncodeDecodeAllocateNothing(t *testing.T) {
	cfg := tinyConfig()
	m, err := New(cfg, nn.InitParams(Specs(cfg), 9), 2)
	if err != nil {
		t.Fatal(err)
	}
	x := randomImages(rand.New(rand.NewPCG(1, 1)), m.ImageLen())
	img := make([]float32, m.ImageLen())
	codes := make([]int32, m.CodesLen())
	m.Reconstruct(x, img)
	if a := testing.AllocsPerRun(10, func() { m.Encode(x, codes); m.Decode(codes, img) }); a != 0 {
		t.Errorf("Encode+Decode allocated %v times per run, want 0", a)
	}
}

func TestOutputIsTanhRange(t *testing.T) {
	cfg := tinyConfig()
	m, _ := New(cfg, nn.InitParams(Specs(cfg), 11), 1)
	img := make([]float32, m.ImageLen())
	m.Reconstruct(randomImages(rand.New(rand.NewPCG(2, 2)), m.ImageLen()), img)
	for _, v := range img {
		if v < -1 || v > 1 {
			t.Fatalf("decoder output %g outside Tanh range", v)
		}
	}
}
