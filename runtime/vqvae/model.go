package vqvae

import (
	"fmt"

	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
)

// layer is one top-level module of the encoder or decoder Sequential.
type layer interface {
	Forward(src []float32) []float32
	Reload()
}

// leaky is the parameter-free LeakyReLU module (encoder 2+L+R-1, decoder R+1).
type leaky struct{ out []float32 }

func (l *leaky) Forward(src []float32) []float32 {
	copy(l.out, src)
	kernels.LeakyReLU(l.out, nn.LeakySlope)
	return l.out
}
func (l *leaky) Reload() {}

// Model is a VQ-VAE bound to its weights, with buffers for a fixed batch size.
// A Model is not safe for concurrent use; build one per goroutine.
type Model struct {
	Config Config
	Batch  int

	enc, dec  []layer
	codebooks [][]float32 // K × [NumEmbeddings, D/K]

	zRows  []float32 // [h·w, D/K] one codebook window of one image, row per position
	zq     []float32 // [N, D, h, w]
	codes  []int32   // [N, K, h, w] (Encode's own result, for Reconstruct)
	params nn.Params
}

// New checks params against the table and builds a model for batches of
// exactly batch images. It allocates every buffer the passes need.
func New(cfg Config, params nn.Params, batch int) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if batch < 1 {
		return nil, fmt.Errorf("vqvae: batch size %d, want >= 1", batch)
	}
	if err := nn.Check(Specs(cfg), params); err != nil {
		return nil, fmt.Errorf("vqvae: %w", err)
	}
	m := &Model{Config: cfg, Batch: batch, params: params}
	n, s := batch, cfg.ImgSize
	L, hLast := len(cfg.HiddenDims), cfg.HiddenDims[len(cfg.HiddenDims)-1]

	in := cfg.InChannels
	for i, h := range cfg.HiddenDims {
		cp := kernels.ConvParams{N: n, CIn: in, H: s, W: s, COut: h, KH: 4, KW: 4, Stride: 2, Pad: 1}
		m.enc = append(m.enc, nn.NewConv(moduleName("encoder", i)+".0", params, cp, true, nn.ActLeakyReLU))
		in, s = h, s/2
	}
	cp3 := kernels.ConvParams{N: n, CIn: hLast, H: s, W: s, COut: hLast, KH: 3, KW: 3, Stride: 1, Pad: 1}
	m.enc = append(m.enc, nn.NewConv(moduleName("encoder", L)+".0", params, cp3, true, nn.ActLeakyReLU))
	for r := 0; r < cfg.ResidualLayers; r++ {
		m.enc = append(m.enc, nn.NewResidual(moduleName("encoder", cfg.encResStart()+r), params, n, hLast, s, s))
	}
	m.enc = append(m.enc, &leaky{out: make([]float32, n*hLast*s*s)})
	cp1 := kernels.ConvParams{N: n, CIn: hLast, H: s, W: s, COut: cfg.EmbeddingDim, KH: 1, KW: 1, Stride: 1}
	m.enc = append(m.enc, nn.NewConv(moduleName("encoder", cfg.encFinal())+".0", params, cp1, true, nn.ActLeakyReLU))

	for k := 0; k < cfg.Codebooks; k++ {
		m.codebooks = append(m.codebooks, params[fmt.Sprintf("vq_layer.quantizers.%d.embedding.weight", k)].Data)
	}
	m.zRows = make([]float32, s*s*cfg.CodeDim())
	m.zq = make([]float32, n*cfg.EmbeddingDim*s*s)
	m.codes = make([]int32, n*cfg.Nodes())

	cpd := kernels.ConvParams{N: n, CIn: cfg.EmbeddingDim, H: s, W: s, COut: hLast, KH: 3, KW: 3, Stride: 1, Pad: 1}
	m.dec = append(m.dec, nn.NewConv("decoder.0.0", params, cpd, true, nn.ActLeakyReLU))
	for r := 0; r < cfg.ResidualLayers; r++ {
		m.dec = append(m.dec, nn.NewResidual(moduleName("decoder", 1+r), params, n, hLast, s, s))
	}
	m.dec = append(m.dec, &leaky{out: make([]float32, n*hLast*s*s)})
	for i := L - 1; i >= 0; i-- {
		out, act := cfg.InChannels, nn.ActTanh
		if i > 0 {
			out, act = cfg.HiddenDims[i-1], nn.ActLeakyReLU
		}
		cp := kernels.ConvParams{N: n, CIn: cfg.HiddenDims[i], H: s, W: s, COut: out, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}
		m.dec = append(m.dec, nn.NewConv(moduleName("decoder", cfg.decUpStart()+L-1-i)+".0", params, cp, true, act))
		s *= 2
	}
	return m, nil
}

// Params returns the tensors the model reads (shared, not copied).
func (m *Model) Params() nn.Params { return m.params }

// Reload re-installs every convolution's weights after they changed in place.
func (m *Model) Reload() {
	for _, l := range m.enc {
		l.Reload()
	}
	for _, l := range m.dec {
		l.Reload()
	}
}

// ImageLen is the number of floats of one batch of images, N·C·H·W.
func (m *Model) ImageLen() int {
	return m.Batch * m.Config.InChannels * m.Config.ImgSize * m.Config.ImgSize
}

// CodesLen is the number of codes of one batch, N·K·h·w.
func (m *Model) CodesLen() int { return m.Batch * m.Config.Nodes() }

func (m *Model) checkLens(images, codes int) {
	if images != m.ImageLen() || codes != m.CodesLen() {
		panic("vqvae: buffer length does not match the model's batch")
	}
}

// Encode runs the encoder on x [N, C, H, W] (values in [0,1]) and writes the
// nearest code of every position to codes [N, K, h, w].
func (m *Model) Encode(x []float32, codes []int32) {
	m.checkLens(len(x), len(codes))
	h := x
	for _, l := range m.enc {
		h = l.Forward(h)
	}
	m.quantize(h, codes)
}

// ZE returns the last encoder output z_e [N, D, h, w] (valid after Encode).
func (m *Model) ZE() []float32 { return m.enc[len(m.enc)-1].(*nn.Conv).Out }

// quantize implements the official multi-codebook quantizer, quirk included:
// codebook k reads the overlapping channel window [k, k+D/K), not
// [k·D/K, (k+1)·D/K).
func (m *Model) quantize(ze []float32, codes []int32) {
	c := m.Config
	hw, D, dk := c.LatentSize()*c.LatentSize(), c.EmbeddingDim, c.CodeDim()
	for n := 0; n < m.Batch; n++ {
		for k := 0; k < c.Codebooks; k++ {
			for j := 0; j < dk; j++ {
				ch := ze[(n*D+k+j)*hw : (n*D+k+j+1)*hw]
				for p, v := range ch {
					m.zRows[p*dk+j] = v
				}
			}
			kernels.NearestCode(codes[(n*c.Codebooks+k)*hw:(n*c.Codebooks+k+1)*hw], m.zRows, hw, dk, m.codebooks[k], c.NumEmbeddings)
		}
	}
}

// Lookup writes the quantized latents z_q [N, D, h, w] of codes: codebook k's
// chosen rows fill channels [k·D/K, (k+1)·D/K).
func (m *Model) Lookup(codes []int32, zq []float32) {
	c := m.Config
	hw, D, dk := c.LatentSize()*c.LatentSize(), c.EmbeddingDim, c.CodeDim()
	for n := 0; n < m.Batch; n++ {
		for k := 0; k < c.Codebooks; k++ {
			row := codes[(n*c.Codebooks+k)*hw : (n*c.Codebooks+k+1)*hw]
			for p, code := range row {
				if code < 0 || int(code) >= c.NumEmbeddings {
					panic("vqvae: code out of range")
				}
				e := m.codebooks[k][int(code)*dk : int(code+1)*dk]
				for j, v := range e {
					zq[(n*D+k*dk+j)*hw+p] = v
				}
			}
		}
	}
}

// Decode writes the image [N, C, H, W] (Tanh output) decoded from codes.
// Codes must be in [0, NumEmbeddings): callers validate user input first.
func (m *Model) Decode(codes []int32, img []float32) {
	m.checkLens(len(img), len(codes))
	m.Lookup(codes, m.zq)
	h := m.zq
	for _, l := range m.dec {
		h = l.Forward(h)
	}
	copy(img, h)
}

// Reconstruct encodes and decodes x into img, leaving the codes in Codes().
func (m *Model) Reconstruct(x, img []float32) {
	m.Encode(x, m.codes)
	m.Decode(m.codes, img)
}

// Codes returns the codes of the last Reconstruct.
func (m *Model) Codes() []int32 { return m.codes }

// ZQ returns the quantized latents of the last Decode.
func (m *Model) ZQ() []float32 { return m.zq }

// EncoderOutputs returns the output buffer of every top-level encoder module,
// in module order (valid after Encode); used by golden tests.
func (m *Model) EncoderOutputs() [][]float32 { return outputs(m.enc) }

// DecoderOutputs is EncoderOutputs for the decoder (valid after Decode).
func (m *Model) DecoderOutputs() [][]float32 { return outputs(m.dec) }

func outputs(ls []layer) [][]float32 {
	out := make([][]float32, len(ls))
	for i, l := range ls {
		switch l := l.(type) {
		case *nn.Conv:
			out[i] = l.Out
		case *nn.Residual:
			out[i] = l.Out
		case *leaky:
			out[i] = l.out
		}
	}
	return out
}

// MACs is the multiply-accumulate count of Encode+Decode for the batch.
func (m *Model) MACs() int64 {
	var t int64
	for _, ls := range [][]layer{m.enc, m.dec} {
		for _, l := range ls {
			switch l := l.(type) {
			case *nn.Conv:
				t += l.Plan.Params().MACs()
			case *nn.Residual:
				t += l.MACs()
			}
		}
	}
	c := m.Config
	t += int64(m.Batch * c.Nodes() * c.NumEmbeddings * c.CodeDim())
	return t
}
