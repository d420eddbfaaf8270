package train

import (
	"encoding/json"
	"fmt"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/weights"
)

// ---------------------------------------------------------------------------
// Checkpoints: one safetensors file (F32, so resuming is exact) holding the
// parameters under their own names, Adam's moments under adam.m.<name> and
// adam.v.<name>, and the run's state as JSON under the metadata key
// "train_state". Data order is a function of (seed, epoch), so the position
// (epoch, offset) restores the sampler exactly.
// ---------------------------------------------------------------------------

const (
	keyTrainState  = "train_state"
	checkpointVer  = 1
	adamMPrefix    = "adam.m."
	adamVPrefix    = "adam.v."
	checkpointKind = "ctvae-train-checkpoint"
)

type trainState struct {
	Kind     string          `json:"kind"`
	Version  int             `json:"version"`
	Dataset  string          `json:"dataset"`
	Config   json.RawMessage `json:"config"`
	Options  Options         `json:"options"`
	Step     int64           `json:"step"`
	Epoch    int             `json:"epoch"`
	Offset   int             `json:"offset"`
	AdamStep int64           `json:"adam_step"`
	Seconds  float64         `json:"seconds"`
	Usage    []int64         `json:"usage"`
}

// Checkpoint serialises the whole run; seconds is the training time so far,
// stored so a resumed run reports its total.
func (t *Trainer) Checkpoint(seconds float64) ([]byte, error) {
	st := trainState{Kind: checkpointKind, Version: checkpointVer, Dataset: t.Dataset.Name(),
		Config: t.Config.JSON(), Options: t.Opts, Step: t.Step, Epoch: t.Epoch, Offset: t.Offset,
		AdamStep: t.Adam.Step, Seconds: seconds, Usage: t.Usage}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("train: checkpoint state: %w", err)
	}
	f := &weights.File{Metadata: map[string]string{keyTrainState: string(b)}}
	for _, s := range t.specs {
		f.Tensors = append(f.Tensors, &weights.Tensor{Name: s.Name, Shape: s.Shape, Data: t.Params[s.Name].Data})
	}
	for _, name := range t.Adam.Names {
		m, v := t.Adam.M[name], t.Adam.V[name]
		f.Tensors = append(f.Tensors,
			&weights.Tensor{Name: adamMPrefix + name, Shape: m.Shape, Data: m.Data},
			&weights.Tensor{Name: adamVPrefix + name, Shape: v.Shape, Data: v.Data})
	}
	return weights.Marshal(f, weights.F32)
}

// Resume rebuilds a run from Checkpoint's bytes. It returns the training
// seconds recorded in the checkpoint.
func Resume(b []byte) (*Trainer, float64, error) {
	f, err := weights.Read(b)
	if err != nil {
		return nil, 0, fmt.Errorf("train: checkpoint: %w", err)
	}
	raw, ok := f.Metadata[keyTrainState]
	if !ok {
		return nil, 0, fmt.Errorf("train: checkpoint has no %q metadata: not a training checkpoint", keyTrainState)
	}
	var st trainState
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return nil, 0, fmt.Errorf("train: checkpoint %q metadata: %w", keyTrainState, err)
	}
	if st.Kind != checkpointKind || st.Version != checkpointVer {
		return nil, 0, fmt.Errorf("train: checkpoint kind %q version %d, want %q version %d", st.Kind, st.Version, checkpointKind, checkpointVer)
	}
	cfg, err := ctvae.ParseConfig(st.Config)
	if err != nil {
		return nil, 0, fmt.Errorf("train: checkpoint config: %w", err)
	}
	ds, err := data.New(st.Dataset)
	if err != nil {
		return nil, 0, fmt.Errorf("train: checkpoint: %w", err)
	}
	get := func(name string, shape []int) (*tensor.Tensor, error) {
		w, ok := f.Get(name)
		if !ok {
			return nil, fmt.Errorf("train: checkpoint lacks tensor %q", name)
		}
		if !tensor.SameShape(w.Shape, shape) {
			return nil, fmt.Errorf("train: checkpoint tensor %q has shape %v, want %v", name, w.Shape, shape)
		}
		return tensor.FromData(w.Data, w.Shape...), nil
	}
	params := nn.Params{}
	t, err := newFromState(ds, cfg, st, params, get)
	if err != nil {
		return nil, 0, err
	}
	return t, st.Seconds, nil
}

func newFromState(ds data.Dataset, cfg ctvae.Config, st trainState, params nn.Params, get func(string, []int) (*tensor.Tensor, error)) (*Trainer, error) {
	specs := ctvae.Specs(ctvae.Config{Config: cfg.Config})
	if st.Options.Phase == PhaseCausal || st.Options.Phase == PhaseDecoder {
		specs = ctvae.Specs(cfg)
	}
	for _, s := range specs {
		p, err := get(s.Name, s.Shape)
		if err != nil {
			return nil, err
		}
		params[s.Name] = p
	}
	t, err := New(ds, cfg, st.Options, params)
	if err != nil {
		return nil, err
	}
	for _, name := range t.Adam.Names {
		shape := t.Adam.M[name].Shape
		m, err := get(adamMPrefix+name, shape)
		if err != nil {
			return nil, err
		}
		v, err := get(adamVPrefix+name, shape)
		if err != nil {
			return nil, err
		}
		t.Adam.M[name], t.Adam.V[name] = m, v
	}
	t.Adam.Step = st.AdamStep
	t.Step, t.Epoch, t.Offset = st.Step, st.Epoch, st.Offset
	if len(st.Usage) != len(t.Usage) {
		return nil, fmt.Errorf("train: checkpoint has %d code usage counts, want %d", len(st.Usage), len(t.Usage))
	}
	copy(t.Usage, st.Usage)
	if t.Offset < 0 || t.Offset > t.epochN || t.Epoch < 0 {
		return nil, fmt.Errorf("train: checkpoint position epoch %d offset %d, want offset in [0, %d]", t.Epoch, t.Offset, t.epochN)
	}
	if t.causal == nil {
		t.shuffle()
	}
	return t, nil
}

// ModelFile writes the model file of the run. After the VQ-VAE phase it
// has action_dim 0 (no causal layer yet, so no factor or action names: the
// metadata names must match action_dim); after the causal phase, and the
// decoder phase of a model with a causal layer, it is the whole model with
// the dataset's factor and action names (Meta).
func (t *Trainer) ModelFile(dtype weights.DType) ([]byte, error) {
	if t.causal == nil && t.Opts.Phase != PhaseDecoder {
		cfg := ctvae.Config{Config: t.Config.Config, Beta: t.Config.Beta}
		return modelfile.Encode(cfg, t.Params, t.Meta(), dtype)
	}
	return modelfile.Encode(t.Config, t.Params, t.Meta(), dtype)
}

// Meta is the metadata of the run's model file: the dataset, full-frame
// preprocessing, and the factor and action names when the model file has a
// causal layer.
func (t *Trainer) Meta() ctvae.Meta {
	meta := ctvae.Meta{Dataset: t.Dataset.Name(), Preprocess: weights.PreprocessNone}
	if t.causal == nil && (t.Opts.Phase != PhaseDecoder || !t.Config.HasCausal()) {
		return meta
	}
	for _, f := range t.Dataset.Factors() {
		meta.Factors = append(meta.Factors, f.Name)
	}
	meta.Actions = t.Dataset.ActionNames()
	return meta
}
