// Package data generates the procedural datasets the project trains and
// evaluates on: dSprites and a Shapes3D-style room, every image rendered on
// demand from its ground-truth factors, plus the paper's 70/15/15 image split
// and its one-factor-one-step transition protocol.
//
// Nothing is downloaded or materialised: an image index maps to a factor
// vector (mixed radix, last factor fastest, the order of the original
// datasets), and Render draws that image into a caller-provided slice. The
// package uses the standard library only and builds for js/wasm, where the
// browser UI renders gallery samples with it.
package data

import (
	"fmt"
	"sort"
	"strings"
)

// Factor is one ground-truth factor of variation: its name and how many
// values it takes (values are 0..Size-1).
type Factor struct {
	Name string
	Size int
}

// Dataset is a procedurally rendered image set with known factors. Images
// are float32 in [0,1], layout [C, S, S] with S = Size().
type Dataset interface {
	Name() string
	Factors() []Factor
	// NumActions is 2F: factor f increased is action f, decreased is F+f.
	NumActions() int
	// ActionNames are "name+" for actions 0..F-1 and "name-" for F..2F-1.
	ActionNames() []string
	Channels() int
	Size() int
	// Len is the number of images, the product of the factor sizes.
	Len() int
	FactorsOf(index int) ([]int, error)
	IndexOf(factors []int) (int, error)
	// Render writes image index into dst, which must hold Channels()*Size()*Size()
	// values. It does not allocate.
	Render(dst []float32, index int) error
}

// Names lists the datasets New knows, sorted.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var constructors = map[string]func() Dataset{
	"dsprites": func() Dataset { return NewDSprites() },
	"shapes3d": func() Dataset { return NewShapes3D() },
}

// New returns the dataset called name ("dsprites" or "shapes3d").
func New(name string) (Dataset, error) {
	c, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("data: unknown dataset %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	return c(), nil
}

// ===== factor space: index <-> factor vector =====

// space is the mixed-radix index arithmetic shared by the datasets. The last
// factor varies fastest, as in the original dSprites and Shapes3D arrays, so
// an index here names the same factor vector as in the original files.
type space struct {
	name    string
	factors []Factor
	actions []string
	n       int
}

func newSpace(name string, factors []Factor) space {
	s := space{name: name, factors: factors, n: 1}
	for _, f := range factors {
		s.n *= f.Size
	}
	for _, dir := range []string{"+", "-"} {
		for _, f := range factors {
			s.actions = append(s.actions, f.Name+dir)
		}
	}
	return s
}

func (s *space) Name() string { return s.name }

// Factors returns a copy so callers cannot change the dataset's definition.
func (s *space) Factors() []Factor { return append([]Factor(nil), s.factors...) }

func (s *space) NumActions() int { return 2 * len(s.factors) }

func (s *space) ActionNames() []string { return append([]string(nil), s.actions...) }

func (s *space) Len() int { return s.n }

func (s *space) FactorsOf(index int) ([]int, error) {
	if err := s.checkIndex(index); err != nil {
		return nil, err
	}
	v := make([]int, len(s.factors))
	s.decode(v, index)
	return v, nil
}

func (s *space) IndexOf(factors []int) (int, error) {
	if err := s.checkFactors(factors); err != nil {
		return 0, err
	}
	return s.encode(factors), nil
}

func (s *space) checkIndex(index int) error {
	if index < 0 || index >= s.n {
		return fmt.Errorf("data: %s: image index %d out of range [0, %d)", s.name, index, s.n)
	}
	return nil
}

func (s *space) checkFactors(v []int) error {
	if len(v) != len(s.factors) {
		return fmt.Errorf("data: %s: got %d factor values, want %d (%s)", s.name, len(v), len(s.factors), s.factorList())
	}
	for i, f := range s.factors {
		if v[i] < 0 || v[i] >= f.Size {
			return fmt.Errorf("data: %s: factor %s = %d out of range [0, %d)", s.name, f.Name, v[i], f.Size)
		}
	}
	return nil
}

func (s *space) checkDst(dst []float32, channels, size int) error {
	if want := channels * size * size; len(dst) != want {
		return fmt.Errorf("data: %s: destination holds %d values, want %d (%dx%dx%d)", s.name, len(dst), want, channels, size, size)
	}
	return nil
}

func (s *space) factorList() string {
	parts := make([]string, len(s.factors))
	for i, f := range s.factors {
		parts[i] = fmt.Sprintf("%s %d", f.Name, f.Size)
	}
	return strings.Join(parts, ", ")
}

// decode writes the factor vector of a valid index into v (len F).
func (s *space) decode(v []int, index int) {
	for i := len(s.factors) - 1; i >= 0; i-- {
		size := s.factors[i].Size
		v[i] = index % size
		index /= size
	}
}

// encode is the inverse of decode for a valid factor vector.
func (s *space) encode(v []int) int {
	index := 0
	for i, f := range s.factors {
		index = index*f.Size + v[i]
	}
	return index
}

// FactorIndex returns the position of the factor called name in ds.Factors().
func FactorIndex(ds Dataset, name string) (int, error) {
	fs := ds.Factors()
	names := make([]string, len(fs))
	for i, f := range fs {
		if f.Name == name {
			return i, nil
		}
		names[i] = f.Name
	}
	return 0, fmt.Errorf("data: %s has no factor %q (factors: %s)", ds.Name(), name, strings.Join(names, ", "))
}

// ImageLen is the number of float32 values of one image of ds.
func ImageLen(ds Dataset) int { return ds.Channels() * ds.Size() * ds.Size() }
