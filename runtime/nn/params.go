// Package nn holds the layers with parameters and the parameter tables that
// define each architecture. Parameter names are the official PyTorch
// state_dict names (see docs/MODEL.md), so official checkpoints map one to one.
package nn

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"ctvae/runtime/tensor"
)

// Init names PyTorch's default initialisation of a parameter.
type Init int

const (
	// InitUniformFanIn draws U(-1/sqrt(FanIn), 1/sqrt(FanIn)): nn.Linear and
	// nn.Conv2d weights (kaiming_uniform with a=sqrt(5)) and biases.
	InitUniformFanIn Init = iota
	// InitUniformCodebook draws U(-1/K, 1/K) with K = Shape[0]: the official
	// VectorQuantizer's embedding init.
	InitUniformCodebook
	// InitGlorot draws U(-a, a), a = sqrt(6/(fan_in+fan_out)) over the last
	// two dims: torch_geometric's glorot for GATv2 lin_l/lin_r/lin_edge/att.
	InitGlorot
	// InitZeros fills zeros (GATv2 biases).
	InitZeros
	// InitPositional is the fixed sinusoidal buffer pos_encoding.pe.
	InitPositional
)

// Spec is one row of a parameter table.
type Spec struct {
	Name  string
	Shape []int
	Init  Init
	// FanIn is the bound's fan-in for InitUniformFanIn.
	FanIn int
}

// Params maps state_dict names to tensors.
type Params map[string]*tensor.Tensor

// Check compares p against the table and reports every missing, extra and
// mis-shaped tensor by name in one error, or returns nil.
func Check(specs []Spec, p Params) error {
	var problems []string
	want := make(map[string]bool, len(specs))
	for _, s := range specs {
		want[s.Name] = true
		t, ok := p[s.Name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing tensor %q %v", s.Name, s.Shape))
		case !slices.Equal(t.Shape, s.Shape):
			problems = append(problems, fmt.Sprintf("tensor %q: shape %v, want %v", s.Name, t.Shape, s.Shape))
		}
	}
	var extra []string
	for name := range p {
		if !want[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("unexpected tensor %q %v", name, p[name].Shape))
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("nn: parameters do not match the architecture (%d problems):\n  %s", len(problems), strings.Join(problems, "\n  "))
}
