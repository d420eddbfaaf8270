// Package tensor holds shapes and contiguous float32 storage in row-major
// order. It is the currency between the runtime packages: layers own their
// tensors and kernels read and write the Data slices directly.
package tensor

import (
	"fmt"
	"slices"
)

// Tensor is a dense row-major float32 array. Shape is never mutated after
// construction; Data has exactly Numel(Shape) elements.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New allocates a zeroed tensor. It panics on a negative dimension: shapes
// come from validated configs, so a bad one is a bug.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float32, Numel(shape))}
}

// FromData wraps data without copying. It panics if len(data) does not match.
func FromData(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic("tensor: data length does not match shape")
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}
}

// Numel is the product of the dimensions (1 for a scalar shape).
func Numel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			panic("tensor: negative dimension")
		}
		n *= d
	}
	return n
}

// Len returns the number of elements.
func (t *Tensor) Len() int { return len(t.Data) }

// SameShape reports whether two shapes are equal.
func SameShape(a, b []int) bool { return slices.Equal(a, b) }

// ShapeString formats a shape like [64 3 4 4], the form used in error messages.
func ShapeString(shape []int) string { return fmt.Sprint(shape) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}
