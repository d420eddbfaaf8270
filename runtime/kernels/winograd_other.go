//go:build !amd64 || purego

package kernels

// useAVXWeights: no vector weight transform outside amd64 (see
// winograd_amd64.go).
const useAVXWeights = false

func winoWeightsF4x4(k *[9][4]float64, gb *[6][3][4]float64, u *float32, usz int) {
	panic("kernels: winoWeightsF4x4 without amd64")
}

// useAVXInput: no vector input transform outside amd64.
const useAVXInput = false

func (w *winograd) inputChannelsVec(c0, c1 int) {
	panic("kernels: inputChannelsVec without amd64")
}

// outputTiles8: no vector output transform outside amd64.
func (w *winograd) outputTiles8(mo []float32, t int, y *[8][16]float32) bool { return false }

func winoWeightsF42x4(k *[4][4]float64, gb *[6][3][4]float64, u *float32, usz int) {
	panic("kernels: winoWeightsF42x4 without amd64")
}
