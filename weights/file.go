// Package weights reads and writes safetensors files: the one container for
// model weights and golden test data.
//
// A safetensors file is an 8-byte little-endian header length n, n bytes of
// JSON header {name: {"dtype", "shape", "data_offsets"}, "__metadata__":
// {string: string}}, then the raw little-endian tensor data. Offsets are
// relative to the start of the data region.
//
// Every file is treated as hostile. Read applies the reference
// implementation's rules and is stricter where the reference is lenient
// (dtypes, rank, duplicate keys):
//   - the header is at most MaxHeaderSize bytes, starts with '{', is valid
//     UTF-8 and strict JSON (no duplicate keys at any level, no unknown fields
//     in a tensor entry, only whitespace after the object);
//   - tensor names are non-empty, ranks are at most MaxRank, dimensions are
//     non-negative and their product cannot overflow an int;
//   - end-start of each tensor equals dtype size x product(shape);
//   - the tensors tile the data region exactly: sorted by offset they are
//     contiguous, with no overlap, no gap and no trailing bytes.
//
// Memory use is bounded by the input: a tensor's float32 storage is allocated
// only after its byte range has been checked, so Read allocates at most about
// twice len(b) (F16 and BF16 widen to float32).
package weights

import (
	"slices"
	"strings"
)

// MaxHeaderSize caps the JSON header, as the reference implementation does,
// so that a corrupt length cannot make a reader buffer gigabytes.
const MaxHeaderSize = 100_000_000

// MaxRank caps tensor ranks. The model needs at most 4; 8 leaves room for
// golden data while keeping hostile headers from describing absurd shapes.
const MaxRank = 8

// DType is the on-disk element type of a tensor, spelled as in the header.
type DType string

// The supported dtypes. Everything else (integer, F64, FP8 types) is rejected:
// the runtime computes in float32 and these three convert to it exactly.
const (
	F32  DType = "F32"
	F16  DType = "F16"
	BF16 DType = "BF16"
)

// Size is the number of bytes per element, or 0 for an unsupported dtype.
func (d DType) Size() int {
	switch d {
	case F32:
		return 4
	case F16, BF16:
		return 2
	}
	return 0
}

// File is a parsed safetensors file.
type File struct {
	// Metadata is the header's "__metadata__" map; Read never leaves it nil.
	Metadata map[string]string
	// Tensors are sorted by name after Read; Write sorts its own copy.
	Tensors []*Tensor
}

// Tensor is one named array, always held as float32 in memory.
type Tensor struct {
	Name  string
	Shape []int
	// Data has product(Shape) elements in row-major order.
	Data []float32
	// DType is the dtype the tensor was read from; Write ignores it and
	// stores every tensor in the dtype it is given.
	DType DType
}

// Get returns the tensor called name. It searches linearly: files hold a few
// hundred tensors at most and callers look each one up once.
func (f *File) Get(name string) (*Tensor, bool) {
	for _, t := range f.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return nil, false
}

// Names returns the tensor names in the order of f.Tensors.
func (f *File) Names() []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	return names
}

// numel returns the product of shape, or ok=false if a dimension is negative
// or the product of the non-zero dimensions overflows an int. Zero dimensions
// are skipped so that no order of multiplication anywhere can overflow.
func numel(shape []int) (n int, ok bool) {
	n = 1
	zero := false
	for _, d := range shape {
		switch {
		case d < 0:
			return 0, false
		case d == 0:
			zero = true
		case n > maxInt/d:
			return 0, false
		default:
			n *= d
		}
	}
	if zero {
		return 0, true
	}
	return n, true
}

const maxInt = int(^uint(0) >> 1)

// sortedByName returns the tensors of f ordered by name, as the reference
// writer orders a single-dtype file.
func sortedByName(ts []*Tensor) []*Tensor {
	s := slices.Clone(ts)
	slices.SortFunc(s, func(a, b *Tensor) int { return strings.Compare(a.Name, b.Name) })
	return s
}
