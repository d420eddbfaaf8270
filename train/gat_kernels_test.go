package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestGATKernelsMatchGo ties gatScore, gatEdgeGrad, axpyDot, axpy and the
// discoverers' absPairSum and signSums (AVX2
// on amd64, 4 channels a step plus a Go tail) to their Go loops and to the
// LeakyReLU definitions (leakyF, leakyD) over random lengths, signs of de
// included, within float64 rounding.
func TestGATKernelsMatchGo(t *testing.T) {
	r := rand.New(rand.NewPCG(61, 62))
	close := func(got, want, scale float64) bool { return math.Abs(got-want) <= 1e-13*scale }
	for it := 0; it < 300; it++ {
		n := r.IntN(134)
		if it < 8 {
			n = it
		}
		v := func() []float64 { return randF64(r, n) }
		xl, xr, le, att := v(), v(), v(), v()
		w, de, a := r.Float64(), r.Float64()*2-1, r.Float64()*2-1
		// Score: against the leakyF definition.
		var want float64
		for q := range xl {
			want += att[q] * leakyF(xl[q]+xr[q]+le[q]*w, 0.2)
		}
		if got := gatScore(xl, xr, le, att, w); !close(got, want, float64(n+1)) {
			t.Fatalf("n=%d: gatScore = %v, want %v", n, got, want)
		}
		// Edge gradient: against leakyF/leakyD written out.
		bufs := [2][4][]float64{}
		for k := range bufs {
			for m := range bufs[k] {
				bufs[k][m] = make([]float64, n)
			}
		}
		for m := range bufs[0] {
			copy(bufs[0][m], v())
			copy(bufs[1][m], bufs[0][m])
		}
		dw := gatEdgeGrad(de, w, xl, xr, le, att, bufs[0][0], bufs[0][1], bufs[0][2], bufs[0][3])
		var wantDW float64
		for q := range xl {
			z := xl[q] + xr[q] + le[q]*w
			ds := de * att[q] * leakyD(z, 0.2)
			bufs[1][0][q] += de * leakyF(z, 0.2)
			bufs[1][1][q] += ds
			bufs[1][2][q] += ds
			bufs[1][3][q] += ds * w
			wantDW += ds * le[q]
		}
		if !close(dw, wantDW, float64(n+1)) {
			t.Fatalf("n=%d: gatEdgeGrad dw = %v, want %v", n, dw, wantDW)
		}
		for m := range bufs[0] {
			for q := range bufs[0][m] {
				if !close(bufs[0][m][q], bufs[1][m][q], 4) {
					t.Fatalf("n=%d: gatEdgeGrad output %d[%d] = %v, want %v", n, m, q, bufs[0][m][q], bufs[1][m][q])
				}
			}
		}
		// The discoverers' pair loops.
		if got, want := absPairSum(att, xl, xr), absPairSumGo(att, xl, xr); !close(got, want, float64(n+1)) {
			t.Fatalf("n=%d: absPairSum = %v, want %v", n, got, want)
		}
		var ss [2][3][]float64
		for m := range ss[0] {
			ss[0][m] = v()
			ss[1][m] = append([]float64(nil), ss[0][m]...)
		}
		signSums(de, xl, xr, ss[0][0], ss[0][1], ss[0][2])
		signSumsGo(de, xl, xr, ss[1][0], ss[1][1], ss[1][2])
		for m := range ss[0] {
			for q := range ss[0][m] {
				if !close(ss[0][m][q], ss[1][m][q], 4) {
					t.Fatalf("n=%d: signSums output %d[%d] = %v, want %v", n, m, q, ss[0][m][q], ss[1][m][q])
				}
			}
		}
		// axpyDot and axpy.
		y1, y2 := v(), []float64(nil)
		y2 = append(y2, y1...)
		dot := axpyDot(a, xl, xr, y1)
		wantDot := axpyDotGo(a, xl, xr, y2)
		if !close(dot, wantDot, float64(n+1)) {
			t.Fatalf("n=%d: axpyDot = %v, want %v", n, dot, wantDot)
		}
		axpy(a, le, y1)
		axpyGo(a, le, y2)
		for q := range y1 {
			if !close(y1[q], y2[q], 4) {
				t.Fatalf("n=%d: axpy y[%d] = %v, want %v", n, q, y1[q], y2[q])
			}
		}
	}
}
