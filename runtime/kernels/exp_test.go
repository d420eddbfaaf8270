package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpMatchesMath holds Exp to math.Exp within 4 float64 ulps (relative
// 9e-16) over the whole range, at the reduction's boundaries and at the
// special values, and checks that float32 results (as the softmaxes use
// them) practically never differ.
func TestExpMatchesMath(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	xs := []float64{0, -0.0, 1, -1, 0.5, -0.5, math.Ln2 / 2, -math.Ln2 / 2, 708.9, 709, 709.1, 709.8, 710, -708, -708.1, -745, -746,
		math.Inf(1), math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64, 1e-300, -1e-300}
	for k := -1020; k <= 1020; k += 7 {
		xs = append(xs, float64(k)*math.Ln2, float64(k)*math.Ln2+math.Ln2/2, float64(k)*math.Ln2-math.Ln2/2)
	}
	for range 200000 {
		xs = append(xs, r.Float64()*1418-709, r.NormFloat64()*10)
	}
	f32diff := 0
	for _, x := range xs {
		got, want := Exp(x), math.Exp(x)
		switch {
		case math.IsNaN(want):
			if !math.IsNaN(got) {
				t.Fatalf("Exp(%v) = %v, want NaN", x, got)
			}
			continue
		case math.IsInf(want, 0) || want == 0:
			if got != want {
				t.Fatalf("Exp(%v) = %v, want %v", x, got, want)
			}
			continue
		}
		if math.Abs(got-want) > 9e-16*want {
			t.Fatalf("Exp(%v) = %v, math.Exp %v: relative error %.3g", x, got, want, math.Abs(got-want)/want)
		}
		if float32(got) != float32(want) {
			f32diff++
		}
	}
	if f32diff > len(xs)/10000 {
		t.Fatalf("float32(Exp) differs from float32(math.Exp) for %d of %d arguments", f32diff, len(xs))
	}
	t.Logf("float32 results differ for %d of %d arguments", f32diff, len(xs))
}

// TestExpInPlaceMatchesExp: ExpInPlace is Exp bit for bit, special values
// and both ends of the range included.
func TestExpInPlaceMatchesExp(t *testing.T) {
	r := rand.New(rand.NewPCG(35, 36))
	xs := []float64{0, math.Copysign(0, -1), 708.9, 709, 709.1, 710, -708, -708.1, -745, -746,
		math.Inf(1), math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64}
	for range 100000 {
		xs = append(xs, r.Float64()*1418-709, r.NormFloat64()*10, -r.Float64()*30)
	}
	got := append([]float64(nil), xs...)
	ExpInPlace(got)
	for i, x := range xs {
		if want := Exp(x); math.Float64bits(got[i]) != math.Float64bits(want) && !(math.IsNaN(want) && math.IsNaN(got[i])) {
			t.Fatalf("ExpInPlace(%v) = %v, Exp %v", x, got[i], want)
		}
	}
}

var expSink float64

// BenchmarkExp compares Exp with math.Exp on softmax-like arguments.
func BenchmarkExp(b *testing.B) {
	r := rand.New(rand.NewPCG(33, 34))
	xs := make([]float64, 4096)
	for i := range xs {
		xs[i] = -r.Float64() * 20
	}
	for _, f := range []struct {
		name string
		exp  func(float64) float64
	}{{"kernels", Exp}, {"math", math.Exp}} {
		b.Run(f.name, func(b *testing.B) {
			var s float64
			for range b.N {
				for _, x := range xs {
					s += f.exp(x)
				}
			}
			expSink = s
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(xs)), "ns/exp")
		})
	}
}
