//go:build !amd64 || purego

package train

func gatScore(xl, xr, le, att []float64, w float64) float64 {
	s1, s2 := gatScoreGo(xl, xr, le, att, w)
	return gatLA*s1 + gatLB*s2
}

func gatEdgeGrad(de, w float64, xl, xr, le, att, datt, dxl, dxr, dle []float64) float64 {
	return gatEdgeGradGo(de, w, xl, xr, le, att, datt, dxl, dxr, dle)
}

func axpyDot(a float64, d, x, y []float64) float64 { return axpyDotGo(a, d, x, y) }

func axpy(a float64, x, y []float64) { axpyGo(a, x, y) }

func absPairSum(w, u, v []float64) float64 { return absPairSumGo(w, u, v) }

func signSums(dz float64, u, v, S, T, G []float64) { signSumsGo(dz, u, v, S, T, G) }
