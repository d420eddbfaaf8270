//go:build !wasm

package kernels

import "math"

// leakyFactor is slope when v < 0, else 1, without a branch: the sign bit
// selects the factor's bits (-0 takes slope, and -0·slope is -0, as the
// branch leaves it; a NaN stays a NaN either way).
func leakyFactor(v, slope float32) float32 {
	const one = 0x3f800000 // float32 bits of 1
	m := uint32(int32(math.Float32bits(v)) >> 31)
	return math.Float32frombits(one ^ (m & (one ^ math.Float32bits(slope))))
}
