package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"

	"ctvae/data"
	"ctvae/internal/configfile"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/weights"
	"ctvae/weights/checkpoint"
)

func init() {
	register(command{name: "convert", summary: "convert an official PyTorch checkpoint (.ckpt, .pt) or a safetensors file to a ctvae weights file", run: runConvert})
}

// runConvert reads the input, resolves the config (--config wins over the
// checkpoint's own, and a disagreement is printed), checks every tensor
// against the parameter table and writes the model file.
func runConvert(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("convert", stderr)
	in := fs.String("ckpt", "", "input (required): a PyTorch Lightning checkpoint (.ckpt), a torch.save'd state_dict (.pt), or a safetensors file to re-validate and re-type")
	configPath := fs.String("config", "", "model config: the official YAML experiment file (its model_params) or our JSON; wins over the config stored in the input")
	out := fs.String("out", "", "output .safetensors file (required)")
	dtype := fs.String("dtype", "", "on-disk dtype: f32, f16 or bf16 (default: the input's when its model tensors share one, else f32)")
	dataset := fs.String("dataset", "", "data set the model was trained on (dsprites, shapes3d): records its factor and action names")
	preprocess := fs.String("preprocess", "", "input preprocessing the model expects: official-pad42 or none (default: official-pad42 for PyTorch checkpoints, the file's own for safetensors)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("--ckpt and --out are required")
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	b, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	m, err := checkpoint.ReadModel(b)
	if err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	fmt.Fprintf(stdout, "read %s: %s, %d model tensors (%s)\n", *in, m.About, len(m.Tensors), dtypeSummary(m.Tensors))
	for _, d := range m.Dropped {
		fmt.Fprintf(stdout, "dropped: %s\n", d)
	}

	cfg, err := convertConfig(*configPath, m, stdout)
	if err != nil {
		return err
	}
	meta, err := convertMeta(m, cfg, *dataset, *preprocess, stdout)
	if err != nil {
		return err
	}
	dt, err := convertDType(*dtype, m.Tensors)
	if err != nil {
		return err
	}
	p := make(nn.Params, len(m.Tensors))
	for _, t := range m.Tensors {
		p[t.Name] = tensor.FromData(t.Data, t.Shape...)
	}
	enc, err := modelfile.Encode(cfg, p, meta, dt)
	if err != nil {
		return fmt.Errorf("%s does not match the config: %w", *in, err)
	}
	// Building the model checks what Encode does not: names against the
	// action count, preprocessing against the image size.
	if _, _, err := modelfile.Load(enc, ctvae.Options{}); err != nil {
		return fmt.Errorf("the converted model does not load: %w", err)
	}
	if err := os.WriteFile(*out, enc, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %d parameters, %d bytes (%s), sha256 %s\n", *out, len(p), countParams(p), len(enc), dt, weights.Checksum(enc))
	return nil
}

// ---- config ----

// convertConfig resolves the model config: --config when given, else the
// input's own (a checkpoint's hyper_parameters, a safetensors file's
// metadata). When both exist and differ, --config is used and the
// differences are printed: the user named that file on purpose, and the
// parameter table check still catches a config that does not fit.
func convertConfig(path string, m *checkpoint.Model, stdout io.Writer) (ctvae.Config, error) {
	own, where, ownErr := inputConfig(m)
	if path == "" {
		if ownErr != nil {
			return ctvae.Config{}, ownErr
		}
		if where == "" {
			return ctvae.Config{}, errors.New("the input holds no model config (no hyper_parameters with model_params, no config metadata): pass --config with the official YAML (e.g. configs/ct_mcq_vae.yaml) or a JSON config")
		}
		fmt.Fprintf(stdout, "config: from the %s\n  %s\n", where, own.JSON())
		return own, nil
	}
	cfg, err := readConfig(path)
	if err != nil {
		return ctvae.Config{}, err
	}
	fmt.Fprintf(stdout, "config: from --config %s\n  %s\n", path, cfg.JSON())
	switch {
	case ownErr != nil:
		fmt.Fprintf(stdout, "config: the input's own config is unusable and ignored: %v\n", ownErr)
	case where != "":
		if diff := configDiff(cfg, own); len(diff) > 0 {
			fmt.Fprintf(stdout, "config: --config differs from the %s (using --config): %s\n", where, strings.Join(diff, "; "))
		}
	}
	return cfg, nil
}

// inputConfig returns the config stored in the input and where it was
// found; where is "" when there is none.
func inputConfig(m *checkpoint.Model) (cfg ctvae.Config, where string, err error) {
	if m.Kind == checkpoint.KindSafetensors {
		raw, ok := m.Metadata[weights.KeyConfig]
		if !ok {
			return ctvae.Config{}, "", nil
		}
		cfg, err := ctvae.ParseConfig([]byte(raw))
		if err != nil {
			return ctvae.Config{}, "", fmt.Errorf("safetensors metadata %q: %w", weights.KeyConfig, err)
		}
		return cfg, "safetensors metadata", nil
	}
	hp := m.HyperParameters
	if hp == nil {
		return ctvae.Config{}, "", nil
	}
	where = "checkpoint's hyper_parameters.model_params"
	params, ok := hp["model_params"].(map[string]any)
	if !ok {
		// A module saved with save_hyperparameters() stores its kwargs.
		if _, kw := hp["in_channels"]; !kw {
			return ctvae.Config{}, "", nil
		}
		params, where = hp, "checkpoint's hyper_parameters"
	}
	cfg, err = configfile.FromParams(params)
	if err != nil {
		return ctvae.Config{}, "", fmt.Errorf("%s: %w", where, err)
	}
	return cfg, where, nil
}

// configDiff lists the config fields on which a and b differ.
func configDiff(a, b ctvae.Config) []string {
	var ma, mb map[string]any
	if json.Unmarshal(a.JSON(), &ma) != nil || json.Unmarshal(b.JSON(), &mb) != nil {
		panic("ctvae convert: a config does not round-trip through JSON")
	}
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	var diff []string
	for k := range keys {
		if !reflect.DeepEqual(ma[k], mb[k]) {
			diff = append(diff, fmt.Sprintf("%s %s vs %s", k, jsonOr(ma[k]), jsonOr(mb[k])))
		}
	}
	sort.Strings(diff)
	return diff
}

func jsonOr(v any) string {
	if v == nil {
		return "(unset)"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ---- metadata ----

// convertMeta gathers the names and preprocessing: flags first, then a
// safetensors input's own metadata, then the defaults.
func convertMeta(m *checkpoint.Model, cfg ctvae.Config, dataset, preprocess string, stdout io.Writer) (ctvae.Meta, error) {
	var meta ctvae.Meta
	var err error
	if m.Kind == checkpoint.KindSafetensors {
		if meta, err = modelfile.MetaOf(&weights.File{Metadata: m.Metadata}); err != nil {
			return meta, err
		}
	}
	if dataset != "" {
		meta.Dataset, meta.Factors, meta.Actions = dataset, nil, nil
		if cfg.HasCausal() {
			if meta.Factors, meta.Actions, err = datasetNames(dataset, cfg.ActionDim); err != nil {
				return meta, err
			}
		} else if _, err := data.New(dataset); err != nil {
			return meta, err
		}
	}
	why := "as given"
	switch {
	case preprocess != "":
		if preprocess != weights.PreprocessNone && preprocess != weights.PreprocessOfficialPad42 {
			return meta, fmt.Errorf("--preprocess %q, want %q or %q", preprocess, weights.PreprocessOfficialPad42, weights.PreprocessNone)
		}
		meta.Preprocess = preprocess
	case m.Kind != checkpoint.KindSafetensors:
		meta.Preprocess = weights.PreprocessOfficialPad42
		why = "default for PyTorch checkpoints: the official data module pads 42 px a side and resizes to 64; --preprocess none for models trained on full frames"
	case meta.Preprocess != "":
		why = "from the safetensors metadata"
	default:
		meta.Preprocess = weights.PreprocessNone
		why = "the safetensors file names none"
	}
	fmt.Fprintf(stdout, "preprocess: %s (%s)\n", meta.Preprocess, why)
	if meta.Dataset != "" {
		fmt.Fprintf(stdout, "dataset: %s, actions: %s\n", meta.Dataset, orDash(strings.Join(meta.Actions, " ")))
	}
	return meta, nil
}

// convertDType picks the output dtype: the flag, else the input's when its
// model tensors share one, else F32.
func convertDType(flag string, ts []*weights.Tensor) (weights.DType, error) {
	if flag != "" {
		return parseDType(flag)
	}
	dt := ts[0].DType
	for _, t := range ts {
		if t.DType != dt {
			return weights.F32, nil
		}
	}
	if dt.Size() == 0 {
		return weights.F32, nil
	}
	return dt, nil
}

// dtypeSummary counts the tensors per stored dtype, e.g. "62 F32".
func dtypeSummary(ts []*weights.Tensor) string {
	n := map[weights.DType]int{}
	for _, t := range ts {
		n[t.DType]++
	}
	var parts []string
	for dt, c := range n {
		parts = append(parts, fmt.Sprintf("%d %s", c, dt))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}
