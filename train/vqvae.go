package train

import (
	"fmt"
	"strconv"
	"sync"

	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/runtime/vqvae"
)

// ---------------------------------------------------------------------------
// The VQ-VAE on one shard: forward, losses and backward (docs/MODEL.md,
// "Losses"):
//
//	recon = MSE(decode(z_q), x)
//	vq    = beta·MSE(sg[z_q], z_e) + MSE(z_q, sg[z_e])
//
// with the straight-through estimator: the decoder's input gradient flows to
// z_e unchanged. Losses are means over the whole batch, so a shard scales
// its gradients by the batch's element counts, not its own.
// ---------------------------------------------------------------------------

// vqNet is the VQ-VAE's layers for a shard of n images, bound to shared
// parameters and to the shard's own gradient buffers.
type vqNet struct {
	cfg      vqvae.Config
	n        int
	enc, dec []layer
	code     []float32 // shared codebook [K, D]
	gcode    []float32 // its gradient
	codes    []int32   // [n, h·w]
	zRows    []float32 // [h·w, D] one image's z_e, row per position
	zq       []float32 // [n, D, h, w]
	dzq      []float32 // gradient at the decoder input
	dout     []float32 // gradient at the decoder output
	all      []*conv   // convs(), once reloadNets needs it
	// frozen: the encoder and codebook do not train (PhaseDecoder), so
	// the backward pass stops at the decoder's input.
	frozen bool
}

// checkTrainable reports what the trainer does not support.
func checkTrainable(c vqvae.Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c.Codebooks != 1 {
		return fmt.Errorf("train: config codebooks = %d, want 1 (the CT-VAE's setting; the multi-codebook quirk is inference-only)", c.Codebooks)
	}
	return nil
}

func modName(part string, i int) string { return part + "." + strconv.Itoa(i) }

// newVQNet builds the layers in the official module order (see
// vqvae.Specs). The first encoder conv needs no input gradient, nor, with a
// frozen encoder, the first decoder conv.
func newVQNet(c vqvae.Config, params, grads nn.Params, n int, frozen bool) *vqNet {
	v := &vqNet{cfg: c, n: n, frozen: frozen}
	scratch := new([]float32)
	s := c.ImgSize
	L, hLast := len(c.HiddenDims), c.HiddenDims[len(c.HiddenDims)-1]
	in := c.InChannels
	for i, h := range c.HiddenDims {
		cp := kernels.ConvParams{N: n, CIn: in, H: s, W: s, COut: h, KH: 4, KW: 4, Stride: 2, Pad: 1}
		v.enc = append(v.enc, newConv(modName("encoder", i)+".0", params, grads, cp, true, nn.ActLeakyReLU, i > 0, scratch))
		in, s = h, s/2
	}
	cp3 := kernels.ConvParams{N: n, CIn: hLast, H: s, W: s, COut: hLast, KH: 3, KW: 3, Stride: 1, Pad: 1}
	v.enc = append(v.enc, newConv(modName("encoder", L)+".0", params, grads, cp3, true, nn.ActLeakyReLU, true, scratch))
	for r := 0; r < c.ResidualLayers; r++ {
		v.enc = append(v.enc, newResidual(modName("encoder", L+1+r), params, grads, n, hLast, s, s, scratch))
	}
	v.enc = append(v.enc, &leaky{out: make([]float32, n*hLast*s*s)})
	cp1 := kernels.ConvParams{N: n, CIn: hLast, H: s, W: s, COut: c.EmbeddingDim, KH: 1, KW: 1, Stride: 1}
	v.enc = append(v.enc, newConv(modName("encoder", L+c.ResidualLayers+2)+".0", params, grads, cp1, true, nn.ActLeakyReLU, true, scratch))

	const cb = "vq_layer.quantizers.0.embedding.weight"
	v.code, v.gcode = params[cb].Data, grads[cb].Data
	hw := s * s
	v.codes = make([]int32, n*hw)
	v.zRows = make([]float32, hw*c.EmbeddingDim)
	v.zq = make([]float32, n*c.EmbeddingDim*hw)

	cpd := kernels.ConvParams{N: n, CIn: c.EmbeddingDim, H: s, W: s, COut: hLast, KH: 3, KW: 3, Stride: 1, Pad: 1}
	v.dec = append(v.dec, newConv("decoder.0.0", params, grads, cpd, true, nn.ActLeakyReLU, !frozen, scratch))
	for r := 0; r < c.ResidualLayers; r++ {
		v.dec = append(v.dec, newResidual(modName("decoder", 1+r), params, grads, n, hLast, s, s, scratch))
	}
	v.dec = append(v.dec, &leaky{out: make([]float32, n*hLast*s*s)})
	for i := L - 1; i >= 0; i-- {
		out, act := c.InChannels, nn.ActTanh
		if i > 0 {
			out, act = c.HiddenDims[i-1], nn.ActLeakyReLU
		}
		cp := kernels.ConvParams{N: n, CIn: c.HiddenDims[i], H: s, W: s, COut: out, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true}
		v.dec = append(v.dec, newConv(modName("decoder", c.ResidualLayers+2+L-1-i)+".0", params, grads, cp, true, act, true, scratch))
		s *= 2
	}
	v.dout = make([]float32, n*c.InChannels*c.ImgSize*c.ImgSize)
	return v
}

// trained lists the layers whose weights change, in module order: a frozen
// encoder's plans are never reloaded.
func (v *vqNet) trained() []layer {
	if v.frozen {
		return v.dec
	}
	return append(append([]layer(nil), v.enc...), v.dec...)
}

func (v *vqNet) reload() {
	for _, l := range v.trained() {
		l.reload()
	}
}

// convs lists the convolutions of the trained layers in module order.
func (v *vqNet) convs() []*conv {
	var out []*conv
	for _, l := range v.trained() {
		switch l := l.(type) {
		case *conv:
			out = append(out, l)
		case *residual:
			out = append(out, l.c3, l.c1)
		}
	}
	return out
}

// reloadNets installs the shared parameters into the plans of every shard's
// net after an update, transforming each layer's weights once: shard s
// transforms the layers l with l mod S = s, in parallel, then every shard
// copies the other layers from their owners (kernels.Conv.CopyWeights).
func reloadNets(nets []*vqNet) {
	S := len(nets)
	if S == 1 {
		nets[0].reload()
		return
	}
	convs := make([][]*conv, S)
	for s, v := range nets {
		if v.all == nil {
			v.all = v.convs()
		}
		convs[s] = v.all
	}
	var wg sync.WaitGroup
	for s := range S {
		wg.Go(func() {
			for l := s; l < len(convs[s]); l += S {
				convs[s][l].reload()
			}
		})
	}
	wg.Wait()
	for s := range S {
		wg.Go(func() {
			for l, c := range convs[s] {
				if l%S != s {
					c.copyFrom(convs[l%S][l])
				}
			}
		})
	}
	wg.Wait()
}

func (v *vqNet) ze() []float32 { return v.enc[len(v.enc)-1].(*conv).out }

// encode runs the encoder and the nearest-code search; it returns z_e.
func (v *vqNet) encode(x []float32) []float32 {
	h := x
	for _, l := range v.enc {
		h = l.forward(h)
	}
	c := v.cfg
	D, hw := c.EmbeddingDim, c.LatentSize()*c.LatentSize()
	for n := 0; n < v.n; n++ {
		for j := 0; j < D; j++ {
			for p, val := range h[(n*D+j)*hw : (n*D+j+1)*hw] {
				v.zRows[p*D+j] = val
			}
		}
		kernels.NearestCode(v.codes[n*hw:(n+1)*hw], v.zRows, hw, D, v.code, c.NumEmbeddings)
	}
	return h
}

// lookup fills z_q from codes [n, h·w].
func (v *vqNet) lookup(codes []int32) {
	c := v.cfg
	D, hw := c.EmbeddingDim, c.LatentSize()*c.LatentSize()
	for n := 0; n < v.n; n++ {
		for p, k := range codes[n*hw : (n+1)*hw] {
			e := v.code[int(k)*D : int(k+1)*D]
			for j, val := range e {
				v.zq[(n*D+j)*hw+p] = val
			}
		}
	}
}

// decode runs the decoder on z_q and returns the image (Tanh output).
func (v *vqNet) decode() []float32 {
	h := v.zq
	for _, l := range v.dec {
		h = l.forward(h)
	}
	return h
}

// vqSums are a shard's unnormalised loss sums.
type vqSums struct {
	SqErr  float64 // Σ (x̂ - target)²
	VQDist float64 // Σ (z_q - z_e)²
}

// step runs forward and backward on x [n, C, S, S] reconstructing target,
// adding gradients scaled for batch means: nImg = N·C·S·S, nLat = N·D·h·w
// over the whole batch. A frozen net adds the decoder's gradients only (the
// VQ distance is still summed, for the log).
func (v *vqNet) step(x, target []float32, beta float64, nImg, nLat int) vqSums {
	ze := v.encode(x)
	v.lookup(v.codes)
	out := v.decode()
	var s vqSums
	gi := float32(2 / float64(nImg))
	for i, y := range out {
		d := y - target[i]
		s.SqErr += float64(d) * float64(d)
		v.dout[i] = gi * d
	}
	d := v.dout
	for i := len(v.dec) - 1; i >= 0; i-- {
		d = v.dec[i].backward(d)
	}
	// d is now ∂recon/∂z_q (nil when frozen); straight through to z_e,
	// plus both VQ terms.
	c := v.cfg
	D, hw := c.EmbeddingDim, c.LatentSize()*c.LatentSize()
	gl := 2 / float64(nLat)
	gCommit, gEmbed := float32(beta*gl), float32(gl)
	dze := d // reuse: the decoder's first dx buffer becomes ∂/∂z_e
	for n := 0; n < v.n; n++ {
		for j := 0; j < D; j++ {
			base := (n*D + j) * hw
			for p := 0; p < hw; p++ {
				diff := v.zq[base+p] - ze[base+p]
				s.VQDist += float64(diff) * float64(diff)
				if v.frozen {
					continue
				}
				dze[base+p] -= gCommit * diff
				v.gcode[int(v.codes[n*hw+p])*D+j] += gEmbed * diff
			}
		}
	}
	if v.frozen {
		return s
	}
	for i := len(v.enc) - 1; i >= 0; i-- {
		dze = v.enc[i].backward(dze)
		if dze == nil {
			break
		}
	}
	return s
}

// newGrads allocates zeroed gradient tensors for every row of specs.
func newGrads(specs []nn.Spec) nn.Params {
	g := make(nn.Params, len(specs))
	for _, s := range specs {
		g[s.Name] = tensor.New(s.Shape...)
	}
	return g
}
