// Package ctvae is the whole CT-VAE: the VQ-VAE and the causal-transition
// layer built from one parameter set, with Reconstruct, Intervene, Traverse and
// Retrieve. It computes on tensors and bytes; files and URLs live in callers.
package ctvae

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

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
// and invalid values are errors naming the problem.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("ctvae: config JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Config{}, fmt.Errorf("ctvae: config JSON: trailing data after the object")
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
