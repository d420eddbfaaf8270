// Package vqvae is the multi-codebook VQ-VAE of the CT-VAE: encoder,
// quantizer and decoder with the official module structure and parameter
// names (docs/MODEL.md). It computes; it does no I/O.
package vqvae

import (
	"fmt"
	"strconv"

	"ctvae/runtime/nn"
)

// Config mirrors the official model_params of the VQ-VAE part.
type Config struct {
	InChannels     int   `json:"in_channels"`
	ImgSize        int   `json:"img_size"`
	HiddenDims     []int `json:"hidden_dims"`
	EmbeddingDim   int   `json:"embedding_dim"`
	NumEmbeddings  int   `json:"num_embeddings"`
	Codebooks      int   `json:"codebooks"`
	ResidualLayers int   `json:"residual_layers"`
}

// DefaultConfig is the official Shapes3D configuration (configs/ct_mcq_vae.yaml).
func DefaultConfig() Config {
	return Config{InChannels: 3, ImgSize: 64, HiddenDims: []int{64, 128, 256},
		EmbeddingDim: 128, NumEmbeddings: 64, Codebooks: 1, ResidualLayers: 6}
}

// limits keep a hostile config from asking for absurd allocations.
const (
	maxChannels = 4096
	maxImgSize  = 1024
	maxLayers   = 64
)

// Validate reports the first problem of the config, naming the field.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("vqvae: config %s = %v, want %s", field, v, want)
	}
	switch {
	case c.InChannels < 1 || c.InChannels > 4:
		return bad("in_channels", c.InChannels, "1..4")
	case len(c.HiddenDims) == 0 || len(c.HiddenDims) > 8:
		return bad("hidden_dims", c.HiddenDims, "1..8 entries")
	case c.ImgSize < 2 || c.ImgSize > maxImgSize:
		return bad("img_size", c.ImgSize, "2.."+strconv.Itoa(maxImgSize))
	case c.ImgSize%(1<<len(c.HiddenDims)) != 0:
		return bad("img_size", c.ImgSize, fmt.Sprintf("a multiple of 2^len(hidden_dims) = %d", 1<<len(c.HiddenDims)))
	case c.EmbeddingDim < 1 || c.EmbeddingDim > maxChannels:
		return bad("embedding_dim", c.EmbeddingDim, "1.."+strconv.Itoa(maxChannels))
	case c.NumEmbeddings < 1 || c.NumEmbeddings > 1<<16:
		return bad("num_embeddings", c.NumEmbeddings, "1..65536")
	case c.Codebooks < 1 || c.EmbeddingDim%c.Codebooks != 0:
		return bad("codebooks", c.Codebooks, fmt.Sprintf("a divisor of embedding_dim %d", c.EmbeddingDim))
	case c.ResidualLayers < 0 || c.ResidualLayers > maxLayers:
		return bad("residual_layers", c.ResidualLayers, "0.."+strconv.Itoa(maxLayers))
	}
	for i, h := range c.HiddenDims {
		if h < 1 || h > maxChannels {
			return bad(fmt.Sprintf("hidden_dims[%d]", i), h, "1.."+strconv.Itoa(maxChannels))
		}
	}
	return nil
}

// LatentSize is the side of the code grid: img_size / 2^len(hidden_dims).
func (c Config) LatentSize() int { return c.ImgSize >> len(c.HiddenDims) }

// CodeDim is the width of one codebook row, D/K.
func (c Config) CodeDim() int { return c.EmbeddingDim / c.Codebooks }

// Nodes is the number of codes per image, K·h·w (the causal graph's nodes).
func (c Config) Nodes() int { return c.Codebooks * c.LatentSize() * c.LatentSize() }

// Module indices of the official nn.Sequential encoder and decoder.
func (c Config) encResStart() int          { return len(c.HiddenDims) + 1 }
func (c Config) encFinal() int             { return len(c.HiddenDims) + c.ResidualLayers + 2 }
func (c Config) decUpStart() int           { return c.ResidualLayers + 2 }
func (c Config) encModules() int           { return c.encFinal() + 1 }
func (c Config) decModules() int           { return c.decUpStart() + len(c.HiddenDims) }
func moduleName(part string, i int) string { return part + "." + strconv.Itoa(i) }

// Specs is the parameter table of the VQ-VAE: every tensor of the official
// state_dict with its shape and default initialisation, in module order.
func Specs(c Config) []nn.Spec {
	var s []nn.Spec
	L, hLast := len(c.HiddenDims), c.HiddenDims[len(c.HiddenDims)-1]
	in := c.InChannels
	for i, h := range c.HiddenDims {
		s = append(s, nn.ConvSpecs(moduleName("encoder", i)+".0", in, h, 4, true, false)...)
		in = h
	}
	s = append(s, nn.ConvSpecs(moduleName("encoder", L)+".0", hLast, hLast, 3, true, false)...)
	for r := 0; r < c.ResidualLayers; r++ {
		s = append(s, nn.ResidualSpecs(moduleName("encoder", c.encResStart()+r), hLast)...)
	}
	s = append(s, nn.ConvSpecs(moduleName("encoder", c.encFinal())+".0", hLast, c.EmbeddingDim, 1, true, false)...)
	for k := 0; k < c.Codebooks; k++ {
		s = append(s, nn.Spec{Name: fmt.Sprintf("vq_layer.quantizers.%d.embedding.weight", k),
			Shape: []int{c.NumEmbeddings, c.CodeDim()}, Init: nn.InitUniformCodebook})
	}
	s = append(s, nn.ConvSpecs("decoder.0.0", c.EmbeddingDim, hLast, 3, true, false)...)
	for r := 0; r < c.ResidualLayers; r++ {
		s = append(s, nn.ResidualSpecs(moduleName("decoder", 1+r), hLast)...)
	}
	for i := L - 1; i >= 0; i-- {
		out := c.InChannels
		if i > 0 {
			out = c.HiddenDims[i-1]
		}
		s = append(s, nn.ConvSpecs(moduleName("decoder", c.decUpStart()+L-1-i)+".0", c.HiddenDims[i], out, 4, true, true)...)
	}
	return s
}
