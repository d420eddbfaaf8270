//go:build wasm

package causal

import "math"

// abs32 is |x|. Go's wasm backend moves float32 bits through linear memory
// (a store and a load each way), while float64 has an abs instruction: the
// round trip through float64 is exact and stays in registers.
func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }
