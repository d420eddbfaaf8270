// Package golden reads the golden files written by gen.py (an independent
// PyTorch implementation of docs/MODEL.md) for the tests in this directory,
// and compares numbers with the tolerances stated at each call site.
package golden

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/weights"
)

// Dir is where the golden files live, relative to this package.
const Dir = "testdata"

// File is a parsed golden file.
type File struct {
	Name string
	*weights.File
}

// Open reads testdata/name.
func Open(name string) (*File, error) {
	b, err := os.ReadFile(filepath.Join(Dir, name))
	if err != nil {
		return nil, fmt.Errorf("golden: %w (regenerate with `make goldens`)", err)
	}
	f, err := weights.Read(b)
	if err != nil {
		return nil, fmt.Errorf("golden: %s: %w", name, err)
	}
	return &File{Name: name, File: f}, nil
}

// Tensor returns the tensor called name or an error naming the file.
func (f *File) Tensor(name string) (*weights.Tensor, error) {
	t, ok := f.Get(name)
	if !ok {
		return nil, fmt.Errorf("golden: %s has no tensor %q", f.Name, name)
	}
	return t, nil
}

// Params returns the model parameters: the stored tensors without the "io."
// prefix, or, for "weights": "formula" files, the formula weights of
// README.md regenerated from the metadata.
func (f *File) Params() (nn.Params, error) {
	p := nn.Params{}
	if f.Metadata["weights"] == "formula" {
		var bounds map[string]float64
		var shapes map[string][]int
		if err := json.Unmarshal([]byte(f.Metadata["weight_bounds"]), &bounds); err != nil {
			return nil, fmt.Errorf("golden: %s: weight_bounds: %w", f.Name, err)
		}
		if err := json.Unmarshal([]byte(f.Metadata["weight_shapes"]), &shapes); err != nil {
			return nil, fmt.Errorf("golden: %s: weight_shapes: %w", f.Name, err)
		}
		for name, shape := range shapes {
			s, ok := bounds[name]
			if !ok {
				return nil, fmt.Errorf("golden: %s: no bound for %q", f.Name, name)
			}
			t := tensor.New(shape...)
			FormulaWeights(t.Data, name, s)
			p[name] = t
		}
		return p, nil
	}
	for _, t := range f.Tensors {
		if len(t.Name) > 3 && t.Name[:3] == "io." {
			continue
		}
		p[t.Name] = tensor.FromData(t.Data, t.Shape...)
	}
	return p, nil
}

// FormulaWeights fills dst with README.md's formula weights of tensor name:
// u = ((i·2654435761 + fnv1a32(name)) mod 2^32) / 2^32, w = float32((2u-1)·s).
func FormulaWeights(dst []float32, name string, s float64) {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	for i := range dst {
		u := float64(uint32(uint64(i)*2654435761+uint64(h))) / (1 << 32)
		dst[i] = float32((2*u - 1) * s)
	}
}

// MaxRelDiff returns the largest |got-want| / max(|want|, floor) and its index.
// floor keeps values near zero from dominating: they are compared absolutely.
func MaxRelDiff(got, want []float32, floor float64) (float64, int) {
	if len(got) != len(want) {
		return math.Inf(1), -1
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i])-float64(want[i])) / math.Max(math.Abs(float64(want[i])), floor)
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}
