// Package modelfile connects weight files to models: it turns safetensors
// bytes into a runnable ctvae.Model (config, names and preprocessing from the
// metadata, every tensor checked against the parameter table) and a model's
// parameters back into bytes. It does no file I/O: callers pass bytes.
package modelfile

import (
	"errors"
	"fmt"

	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/weights"
)

// Info is what a weights file says about itself.
type Info struct {
	Config   ctvae.Config
	Meta     ctvae.Meta
	Checksum string // sha256 of the file bytes, hex
	File     *weights.File
}

// Parse reads a weights file and its metadata without building a model.
func Parse(b []byte) (*Info, error) { return parse(b, "") }

// parse is Parse with the file's sha256 (hex) as the caller knows it, or ""
// to compute it.
func parse(b []byte, checksum string) (*Info, error) {
	f, err := weights.Read(b)
	if err != nil {
		return nil, err
	}
	if _, err := f.CheckFormat(); err != nil {
		return nil, err
	}
	raw, ok := f.Metadata[weights.KeyConfig]
	if !ok {
		return nil, fmt.Errorf("modelfile: the file has no %q metadata: it is not a model file (convert official checkpoints with `ctvae convert`)", weights.KeyConfig)
	}
	cfg, err := ctvae.ParseConfig([]byte(raw))
	if err != nil {
		return nil, fmt.Errorf("modelfile: metadata %q: %w", weights.KeyConfig, err)
	}
	meta, err := MetaOf(f)
	if err != nil {
		return nil, err
	}
	if checksum == "" {
		checksum = weights.Checksum(b)
	}
	return &Info{Config: cfg, Meta: meta, Checksum: checksum, File: f}, nil
}

// MetaOf reads the dataset, factor and action names and the preprocessing
// from a file's metadata; absent keys stay empty, malformed ones are errors.
func MetaOf(f *weights.File) (ctvae.Meta, error) {
	var meta ctvae.Meta
	var err error
	if meta.Dataset, err = optional(f.Dataset()); err != nil {
		return ctvae.Meta{}, err
	}
	if meta.Factors, err = optional(f.Factors()); err != nil {
		return ctvae.Meta{}, err
	}
	if meta.Actions, err = optional(f.Actions()); err != nil {
		return ctvae.Meta{}, err
	}
	if meta.Preprocess, err = optional(f.Preprocess()); err != nil {
		return ctvae.Meta{}, err
	}
	return meta, nil
}

func optional[T any](v T, err error) (T, error) {
	if errors.Is(err, weights.ErrNoMetadata) {
		var zero T
		return zero, nil
	}
	return v, err
}

// Params views the file's tensors as model parameters (no copy).
func Params(f *weights.File) nn.Params {
	p := make(nn.Params, len(f.Tensors))
	for _, t := range f.Tensors {
		p[t.Name] = tensor.FromData(t.Data, t.Shape...)
	}
	return p
}

// Load reads a weights file and builds the model it describes.
func Load(b []byte, opts ctvae.Options) (*ctvae.Model, *Info, error) {
	return LoadChecked(b, "", opts)
}

// LoadChecked is Load for a caller that has already checked the file's
// sha256 (hex, lower case), e.g. a page that checked a download against its
// site's manifest: Info.Checksum is then that value and the file is not
// hashed again (a whole-file sha256, tens of ms in wasm for the larger
// models). The checksum only names the model; the file itself is read and
// validated as by Load. An empty checksum makes it Load.
func LoadChecked(b []byte, checksum string, opts ctvae.Options) (*ctvae.Model, *Info, error) {
	info, err := parse(b, checksum)
	if err != nil {
		return nil, nil, err
	}
	m, err := ctvae.New(info.Config, Params(info.File), info.Meta, opts)
	if err != nil {
		return nil, nil, err
	}
	return m, info, nil
}

// Encode writes a model file: every tensor of the parameter table (an error
// names any that is missing or mis-shaped), the config, the names and the
// preprocessing in the metadata, tensors stored as dtype.
func Encode(cfg ctvae.Config, p nn.Params, meta ctvae.Meta, dtype weights.DType) ([]byte, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	specs := ctvae.Specs(cfg)
	if err := nn.Check(specs, p); err != nil {
		return nil, fmt.Errorf("modelfile: %w", err)
	}
	f := &weights.File{Metadata: map[string]string{}}
	for _, s := range specs {
		t := p[s.Name]
		f.Tensors = append(f.Tensors, &weights.Tensor{Name: s.Name, Shape: t.Shape, Data: t.Data})
	}
	f.SetFormat()
	if err := f.SetConfig(cfg); err != nil {
		return nil, err
	}
	if meta.Dataset != "" {
		f.SetDataset(meta.Dataset)
	}
	if len(meta.Factors) > 0 {
		if err := f.SetFactors(meta.Factors); err != nil {
			return nil, err
		}
	}
	if len(meta.Actions) > 0 {
		if err := f.SetActions(meta.Actions); err != nil {
			return nil, err
		}
	}
	pre := meta.Preprocess
	if pre == "" {
		pre = weights.PreprocessNone
	}
	if err := f.SetPreprocess(pre); err != nil {
		return nil, err
	}
	return weights.Marshal(f, dtype)
}
