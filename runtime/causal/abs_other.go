//go:build !wasm

package causal

import "math"

// abs32 is |x| as a bit mask: native targets move float32 bits between
// register files in one instruction each way, cheaper than the float64
// round trip's two conversions.
func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

// leaky001 is LeakyReLU_0.01(v) = v < 0 ? 0.01 v : v without a branch (the
// signs are random: a branch mispredicts half the time): the sign bit
// selects the factor's bits. Bit-identical to the branch, -0 included.
func leaky001(v float32) float32 {
	const one, slope = 0x3f800000, 0x3c23d70a // float32 bits of 1 and 0.01
	m := uint32(int32(math.Float32bits(v)) >> 31)
	return v * math.Float32frombits(one^(m&(one^slope)))
}
