package configfile

import (
	"strings"
	"testing"
)

// The shape of the official configs/ct_mcq_vae.yaml, with the values of
// MODEL.md's default configuration.
const officialYAML = `model_params:
  name: 'CTMCQVAE'
  in_channels: 3
  embedding_dim: 128
  action_dim: 12
  hidden_dims: [64, 128, 256]
  num_embeddings: 64
  img_size: 64
  codebooks: 1
  beta: 0.1   # commitment
  gamma: 1.5
  c_alpha: 0.01
  c_beta: 0.4
  c_delta: 0.01
  c_epsilon: 0.1
  noise: "off"

data_params:
  data_path: "Data/"
  dataset_name: "Shapes3D"
  mode: ["base","base","action","causal"]

exp_params:
  LR: 0.0005
  find_unused_parameters: False

trainer_params:
  gpus:
    - 0
    - 1
`

func TestOfficialYAML(t *testing.T) {
	c, err := Parse([]byte(officialYAML))
	if err != nil {
		t.Fatal(err)
	}
	if c.InChannels != 3 || c.EmbeddingDim != 128 || c.ActionDim != 12 || len(c.HiddenDims) != 3 || c.HiddenDims[2] != 256 ||
		c.Beta != 0.1 || c.Noise != "off" || c.Codebooks != 1 {
		t.Errorf("parsed %+v", c)
	}
	// Absent from the YAML: the official code's values apply.
	if len(c.CausalHiddenDims) != 2 || c.CausalHiddenDims[0] != 800 || c.CausalHiddenDims[1] != 100 || c.ResidualLayers != 6 {
		t.Errorf("causal_hidden_dims %v residual_layers %d, want [800 100] and 6", c.CausalHiddenDims, c.ResidualLayers)
	}
	doc, err := ParseYAML([]byte(officialYAML))
	if err != nil {
		t.Fatal(err)
	}
	gpus := doc["trainer_params"].(map[string]any)["gpus"].([]any)
	if len(gpus) != 2 || gpus[1] != int64(1) {
		t.Errorf("block list: %v", gpus)
	}
}

func TestJSONAlsoAccepted(t *testing.T) {
	c, err := Parse([]byte(`{"in_channels":1,"img_size":64,"hidden_dims":[32,64],"embedding_dim":16,"num_embeddings":32,"codebooks":1,"residual_layers":2}`))
	if err != nil || c.InChannels != 1 {
		t.Fatalf("%v %+v", err, c)
	}
}

func TestBadConfigs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty config"},
		{"model_params:\n\tin_channels: 3\n", "tab character"},
		{"model_params:\n  in_channels: 3\n  in_channels: 4\n", `duplicate key "in_channels"`},
		{"model_params:\n  name: 'BetaVAE'\n", "not a VQ-VAE or CT-VAE"},
		{"model_params:\n  in_channels: 3\n  foo: 1\n", `unknown field "foo"`},
		{"model_params:\n  hidden_dims: [64, 128\n", "unterminated list"},
		{"model_params:\n  x: &anchor 1\n", "unsupported YAML value"},
		{"model_params: 3\n", "not a mapping"},
		{"a: 1\n    b: 2\n", "unexpected indentation"},
		{"just text\n", "want `key: value`"},
		{"model_params:\n  in_channels: 3\n  img_size: 64\n  hidden_dims: [64]\n  embedding_dim: 8\n  num_embeddings: 4\n  codebooks: 3\n", "codebooks"},
		{strings.Repeat(" ", MaxSize+1), "more than the"},
	} {
		if _, err := Parse([]byte(c.in)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): %v, want %q", c.in, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(officialYAML))
	f.Add([]byte(`{"in_channels":3}`))
	f.Add([]byte("a:\n  - 1\n  - 'x'\nb: [1, \"2\", c]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b)
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("Parse returned an invalid config: %v", verr)
			}
		}
	})
}
