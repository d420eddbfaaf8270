//go:build !wasm

package causal

import "math"

// abs32 is |x| as a bit mask: native targets move float32 bits between
// register files in one instruction each way, cheaper than the float64
// round trip's two conversions.
func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }
