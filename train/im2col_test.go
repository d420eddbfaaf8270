package train

import (
	"math/rand/v2"
	"testing"
)

// TestIm2colMatchesNaive ties im2col, and gather.im2col to it, to the
// definition over strides, paddings, kernel and image sizes (odd and even),
// with a row stride.
func TestIm2colMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	for range 300 {
		g := geom{C: 1 + r.IntN(3), H: 1 + r.IntN(9), W: 1 + r.IntN(9), K: 1 + r.IntN(4), S: 1 + r.IntN(3), P: r.IntN(3)}
		g.OH, g.OW = (g.H+2*g.P-g.K)/g.S+1, (g.W+2*g.P-g.K)/g.S+1
		if g.OH < 1 || g.OW < 1 {
			continue
		}
		x := make([]float32, g.C*g.H*g.W)
		for i := range x {
			x[i] = r.Float32() + 1
		}
		ld := g.OH*g.OW + r.IntN(3)
		col := make([]float32, g.C*g.K*g.K*ld)
		for i := range col {
			col[i] = -1
		}
		g.im2col(col, ld, x)
		// The table version writes the same.
		col2 := make([]float32, len(col))
		for i := range col2 {
			col2[i] = -1
		}
		newGather(g).im2col(col2, ld, x)
		for i := range col {
			if col2[i] != col[i] {
				t.Fatalf("%+v ld=%d: gather col[%d] = %v, im2col %v", g, ld, i, col2[i], col[i])
			}
		}
		for c := 0; c < g.C; c++ {
			for ky := 0; ky < g.K; ky++ {
				for kx := 0; kx < g.K; kx++ {
					row := ((c*g.K+ky)*g.K + kx) * ld
					for y := 0; y < g.OH; y++ {
						for xx := 0; xx < g.OW; xx++ {
							var want float32
							iy, ix := y*g.S-g.P+ky, xx*g.S-g.P+kx
							if iy >= 0 && iy < g.H && ix >= 0 && ix < g.W {
								want = x[(c*g.H+iy)*g.W+ix]
							}
							if got := col[row+y*g.OW+xx]; got != want {
								t.Fatalf("%+v ld=%d: col[c=%d ky=%d kx=%d y=%d x=%d] = %v, want %v", g, ld, c, ky, kx, y, xx, got, want)
							}
						}
					}
					for q := g.OH * g.OW; q < ld; q++ {
						if col[row+q] != -1 {
							t.Fatalf("%+v ld=%d: im2col wrote past a row", g, ld)
						}
					}
				}
			}
		}
	}
}
