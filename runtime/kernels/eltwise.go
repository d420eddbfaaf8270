package kernels

// The element-wise passes (activations, residual sums, the causal layer's
// row adds) run through one function an embedder may replace with a
// faster one giving the same bits (the wasm engine installs a WebAssembly
// SIMD version).

// EltwiseKernel sets dst[i] = f(x[i] + y[i]) for i < len(dst), or f(x[i])
// when y is nil, with f the LeakyReLU of slope (v < 0 ? v·slope : v) when
// leaky, else the identity, exactly as EltwiseGo. dst may be x.
type EltwiseKernel func(dst, x, y []float32, leaky bool, slope float32)

var eltwiseKernel EltwiseKernel = EltwiseGo

// SetEltwiseKernel installs k for every element-wise pass (nil restores
// EltwiseGo); like SetPanelKernel. Not safe to call while kernels run.
func SetEltwiseKernel(k EltwiseKernel) {
	eltwiseKernel = k
	if k == nil {
		eltwiseKernel = EltwiseGo
	}
}

// EltwiseGo is the Go EltwiseKernel. Its LeakyReLU multiplies by a factor
// chosen without a branch (leakyFactor): signs are random here, and a
// branch mispredicts half the time.
func EltwiseGo(dst, x, y []float32, leaky bool, slope float32) {
	x = x[:len(dst)]
	switch {
	case y == nil && leaky:
		for i, v := range x {
			dst[i] = v * leakyFactor(v, slope)
		}
	case y == nil:
		copy(dst, x)
	case leaky:
		y = y[:len(dst)]
		for i, v := range x {
			v += y[i]
			dst[i] = v * leakyFactor(v, slope)
		}
	default:
		y = y[:len(dst)]
		for i, v := range x {
			dst[i] = v + y[i]
		}
	}
}

// LeakyReLU applies x = x < 0 ? slope·x : x in place (slope in [0,1)).
func LeakyReLU(x []float32, slope float32) { eltwiseKernel(x, x, nil, true, slope) }

// ReLU applies x = max(x, 0) in place, as LeakyReLU with slope 0 (so a
// negative x becomes -0).
func ReLU(x []float32) { LeakyReLU(x, 0) }

// Add sets dst = x + y element-wise (dst may be x or y).
func Add(dst, x, y []float32) { eltwiseKernel(dst, x, y, false, 0) }

// AddLeakyReLU sets dst = LeakyReLU(x + y) element-wise.
func AddLeakyReLU(dst, x, y []float32, slope float32) { eltwiseKernel(dst, x, y, true, slope) }
