// Package ctvae is the whole CT-VAE: the VQ-VAE and the causal-transition
// layer built from one parameter set, with Reconstruct, Intervene, Traverse and
// Retrieve. It computes on tensors and bytes; files and URLs live in callers.
package ctvae

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"ctvae/runtime/causal"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
)

// Config is the full model configuration with the official model_params names.
// ActionDim 0 means a VQ-VAE without the causal layer (an MCQ-VAE checkpoint).
type Config struct {
	vqvae.Config
	ActionDim        int    `json:"action_dim,omitempty"`
	CausalHiddenDims []int  `json:"causal_hidden_dims,omitempty"`
	Noise            string `json:"noise,omitempty"`

	// Loss weights (training only; MODEL.md "Losses"). Zero means the
	// official default, see Losses.
	Beta     float64 `json:"beta,omitempty"`
	Gamma    float64 `json:"gamma,omitempty"`
	CAlpha   float64 `json:"c_alpha,omitempty"`
	CBeta    float64 `json:"c_beta,omitempty"`
	CDelta   float64 `json:"c_delta,omitempty"`
	CEpsilon float64 `json:"c_epsilon,omitempty"`
}

// LossWeights are the loss coefficients of MODEL.md.
type LossWeights struct {
	Beta, Gamma, CAlpha, CBeta, CDelta, CEpsilon float64
}

// Losses returns the config's loss weights, the official defaults (beta 0.1,
// gamma 1.5, c_alpha 0.01, c_beta 0.4, c_delta 0.01, c_epsilon 0.1) where
// the config leaves a weight at zero.
func (c Config) Losses() LossWeights {
	or := func(v, d float64) float64 {
		if v == 0 {
			return d
		}
		return v
	}
	return LossWeights{Beta: or(c.Beta, 0.1), Gamma: or(c.Gamma, 1.5), CAlpha: or(c.CAlpha, 0.01),
		CBeta: or(c.CBeta, 0.4), CDelta: or(c.CDelta, 0.01), CEpsilon: or(c.CEpsilon, 0.1)}
}

// DefaultConfig is the official Shapes3D CT-VAE (configs/ct_mcq_vae.yaml).
func DefaultConfig() Config {
	return Config{Config: vqvae.DefaultConfig(), ActionDim: 12, CausalHiddenDims: []int{800, 100}}
}

// HasCausal reports whether the config includes the causal-transition layer.
func (c Config) HasCausal() bool { return c.ActionDim > 0 }

// Validate checks both parts of the config.
func (c Config) Validate() error {
	if err := c.Config.Validate(); err != nil {
		return fmt.Errorf("ctvae: %w", err)
	}
	for _, w := range []struct {
		name string
		v    float64
	}{{"beta", c.Beta}, {"gamma", c.Gamma}, {"c_alpha", c.CAlpha}, {"c_beta", c.CBeta}, {"c_delta", c.CDelta}, {"c_epsilon", c.CEpsilon}} {
		if w.v < 0 || math.IsNaN(w.v) || math.IsInf(w.v, 0) {
			return fmt.Errorf("ctvae: config %s = %v, want a finite weight >= 0", w.name, w.v)
		}
	}
	if !c.HasCausal() {
		if c.ActionDim < 0 {
			return fmt.Errorf("ctvae: config action_dim = %d, want >= 0", c.ActionDim)
		}
		return nil
	}
	if c.ActionDim%2 != 0 {
		return fmt.Errorf("ctvae: config action_dim = %d, want an even number (2 actions, + and -, per factor)", c.ActionDim)
	}
	if err := c.causalConfig().Validate(); err != nil {
		return fmt.Errorf("ctvae: %w", err)
	}
	return nil
}

// ParseConfig decodes a JSON config strictly: unknown fields, trailing data
// and invalid values are errors naming the problem. Fields the official
// model_params leave out take the official code's values: residual_layers 6
// and codebooks 1 when absent, causal_hidden_dims [800, 100] when absent
// from a config with actions.
func ParseConfig(b []byte) (Config, error) {
	c := Config{Config: vqvae.Config{ResidualLayers: 6, Codebooks: 1}}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("ctvae: config JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, fmt.Errorf("ctvae: config JSON: trailing data after the object")
	}
	if c.ActionDim > 0 && c.CausalHiddenDims == nil {
		c.CausalHiddenDims = []int{800, 100}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// JSON encodes the config as stored in weight files' metadata.
func (c Config) JSON() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic("ctvae: config does not marshal: " + err.Error())
	}
	return b
}

// Specs is the parameter table of the whole model: the VQ-VAE's, then the
// causal layer's when the config has one.
func Specs(c Config) []nn.Spec {
	s := vqvae.Specs(c.Config)
	if c.HasCausal() {
		s = append(s, causalSpecs(c)...)
	}
	return s
}

// causalConfig derives the causal layer's shape: one node per code, one-hot
// over the codebook.
func (c Config) causalConfig() causal.Config {
	return causal.Config{Nodes: c.Nodes(), NodeDim: c.NumEmbeddings, ActionDim: c.ActionDim,
		HiddenDims: c.CausalHiddenDims, Noise: c.Noise}
}

func causalSpecs(c Config) []nn.Spec { return causal.Specs(c.causalConfig()) }
