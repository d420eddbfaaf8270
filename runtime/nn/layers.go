package nn

import (
	"fmt"

	"ctvae/runtime/kernels"
	"ctvae/runtime/tensor"
)

// Activation applied in place after a layer.
type Activation int

const (
	ActNone Activation = iota
	ActLeakyReLU
	ActReLU
	ActTanh
)

// LeakySlope is the LeakyReLU slope used everywhere in the VQ-VAE.
const LeakySlope = 0.01

// Apply runs the activation in place.
func (a Activation) Apply(x []float32) {
	switch a {
	case ActNone:
	case ActLeakyReLU:
		kernels.LeakyReLU(x, LeakySlope)
	case ActReLU:
		kernels.ReLU(x)
	case ActTanh:
		kernels.Tanh(x)
	default:
		panic("nn: unknown activation")
	}
}

// ConvSpecs returns the table rows of a Conv2d (weight [out,in,k,k]) or, when
// transposed, a ConvTranspose2d (weight [in,out,k,k]) named prefix.weight and,
// with bias, prefix.bias. Fan-in follows torch's _calculate_fan_in_and_fan_out:
// weight.size(1)·k·k, which for a transposed conv is out·k·k.
func ConvSpecs(prefix string, in, out, k int, bias, transposed bool) []Spec {
	shape := []int{out, in, k, k}
	fanIn := in * k * k
	if transposed {
		shape = []int{in, out, k, k}
		fanIn = out * k * k
	}
	s := []Spec{{Name: prefix + ".weight", Shape: shape, Init: InitUniformFanIn, FanIn: fanIn}}
	if bias {
		s = append(s, Spec{Name: prefix + ".bias", Shape: []int{out}, Init: InitUniformFanIn, FanIn: fanIn})
	}
	return s
}

// Conv is a convolution layer with its output buffer and activation.
type Conv struct {
	Name string
	Plan *kernels.Conv
	Act  Activation
	Out  []float32 // [N, COut, OH, OW]
	w, b *tensor.Tensor
}

// NewConv binds prefix.weight (and prefix.bias when bias) from p to a planned
// convolution. Shapes must already have been checked against the table.
func NewConv(prefix string, p Params, cp kernels.ConvParams, bias bool, act Activation) *Conv {
	c := &Conv{Name: prefix, Plan: kernels.NewConv(cp), Act: act, w: mustGet(p, prefix+".weight")}
	if bias {
		c.b = mustGet(p, prefix+".bias")
	}
	c.Out = make([]float32, cp.N*cp.COut*cp.OutH()*cp.OutW())
	c.Reload()
	return c
}

// Reload re-installs the weights in the plan after they changed (training).
func (c *Conv) Reload() {
	var b []float32
	if c.b != nil {
		b = c.b.Data
	}
	c.Plan.SetWeights(c.w.Data, b)
}

// Forward computes Out = act(conv(src)).
func (c *Conv) Forward(src []float32) []float32 {
	c.Plan.Forward(c.Out, src)
	c.Act.Apply(c.Out)
	return c.Out
}

// Residual is the official ResidualLayer: x + Conv1x1(ReLU(Conv3x3(x))),
// both convolutions without bias and no activation after the sum.
type Residual struct {
	Name       string
	conv3, one *Conv
	Out        []float32
}

// ResidualSpecs returns prefix.resblock.0.weight [c,c,3,3] and
// prefix.resblock.2.weight [c,c,1,1].
func ResidualSpecs(prefix string, c int) []Spec {
	return append(ConvSpecs(prefix+".resblock.0", c, c, 3, false, false),
		ConvSpecs(prefix+".resblock.2", c, c, 1, false, false)...)
}

// NewResidual builds a residual layer on [n, c, h, w] inputs.
func NewResidual(prefix string, p Params, n, c, h, w int) *Residual {
	cp3 := kernels.ConvParams{N: n, CIn: c, H: h, W: w, COut: c, KH: 3, KW: 3, Stride: 1, Pad: 1}
	cp1 := kernels.ConvParams{N: n, CIn: c, H: h, W: w, COut: c, KH: 1, KW: 1, Stride: 1}
	r := &Residual{
		Name:  prefix,
		conv3: NewConv(prefix+".resblock.0", p, cp3, false, ActReLU),
		one:   NewConv(prefix+".resblock.2", p, cp1, false, ActNone),
		Out:   make([]float32, n*c*h*w),
	}
	return r
}

// Reload re-installs both convolutions' weights.
func (r *Residual) Reload() { r.conv3.Reload(); r.one.Reload() }

// Forward computes Out = src + conv1x1(relu(conv3x3(src))).
func (r *Residual) Forward(src []float32) []float32 {
	h := r.one.Forward(r.conv3.Forward(src))
	kernels.Add(r.Out[:len(src)], src, h)
	return r.Out
}

func mustGet(p Params, name string) *tensor.Tensor {
	t, ok := p[name]
	if !ok {
		panic(fmt.Sprintf("nn: parameter %q missing after Check", name))
	}
	return t
}

// MACs is the multiply-accumulate count of both convolutions.
func (r *Residual) MACs() int64 {
	return r.conv3.Plan.Params().MACs() + r.one.Plan.Params().MACs()
}
