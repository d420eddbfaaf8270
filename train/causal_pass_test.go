package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestLinearHeadsMatchesNaive ties the GEMM form of the per-head linear
// layers (forward and backward) to their loop twins over random shapes and
// head selections.
func TestLinearHeadsMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vec := func(k int) []float64 {
		v := make([]float64, k)
		for i := range v {
			v[i] = r.Float64()*2 - 1
		}
		return v
	}
	for trial := range 40 {
		n, fin, c, H := 1+r.IntN(70), 1+r.IntN(90), 1+r.IntN(20), 1+r.IntN(6)
		heads := r.Perm(H)[:1+r.IntN(H)]
		nh := len(heads)
		w, b, in := vec(H*c*fin), vec(H*c), vec(n*fin)
		y, yn := make([]float64, n*nh*c), make([]float64, n*nh*c)
		linearHeads(y, w, b, in, n, fin, c, heads)
		linearHeadsNaive(yn, w, b, in, n, fin, c, heads)
		dy := vec(n * nh * c)
		if trial%3 == 0 {
			dy[r.IntN(len(dy))] = 0 // the naive twin skips zeros
		}
		dw, db, din := vec(H*c*fin), vec(H*c), vec(n*fin)
		dwn, dbn, dinn := append([]float64(nil), dw...), append([]float64(nil), db...), append([]float64(nil), din...)
		withIn := trial%2 == 0
		if !withIn {
			din, dinn = nil, nil
		}
		linearHeadsBackward(dw, db, din, w, in, dy, n, fin, c, heads)
		linearHeadsBackwardNaive(dwn, dbn, dinn, w, in, dy, n, fin, c, heads)
		for _, cmp := range []struct {
			name      string
			got, want []float64
		}{{"y", y, yn}, {"dw", dw, dwn}, {"db", db, dbn}, {"din", din, dinn}} {
			for i := range cmp.want {
				if d := math.Abs(cmp.got[i] - cmp.want[i]); d > 1e-12*(1+math.Abs(cmp.want[i]))*float64(fin+n) {
					t.Fatalf("trial %d (n %d fin %d c %d heads %v) %s[%d]: %g, naive %g", trial, n, fin, c, heads, cmp.name, i, cmp.got[i], cmp.want[i])
				}
			}
		}
	}
}
