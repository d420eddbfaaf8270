package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestNearestCodeMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for range 200 {
		rows, d, K := 1+r.IntN(150), 1+r.IntN(20), 1+r.IntN(70)
		z, e := randSlice(r, rows*d), randSlice(r, K*d)
		want, got := make([]int32, rows), make([]int32, rows+1)
		got[rows] = -7 // guard
		NearestCodeNaive(want, z, rows, d, e, K)
		NearestCode(got[:rows], z, rows, d, e, K)
		if got[rows] != -7 {
			t.Fatalf("rows=%d: wrote past idx", rows)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("rows=%d d=%d K=%d: idx[%d] = %d, want %d", rows, d, K, i, got[i], want[i])
			}
		}
	}
}

// TestNearestCodeTies puts exact duplicates in the codebook: the lowest
// index must win, also across the 4-code blocks and the tail.
func TestNearestCodeTies(t *testing.T) {
	const d = 3
	e := []float32{
		5, 5, 5, // 0
		1, 2, 3, // 1
		0, 0, 0, // 2
		1, 2, 3, // 3 duplicate of 1
		9, 9, 9, // 4
		0, 0, 0, // 5 duplicate of 2 (tail)
	}
	z := []float32{1, 2, 3, 0, 0, 0, 0.5, 1, 1.5}
	for _, K := range []int{4, 6} {
		idx := make([]int32, 3)
		NearestCode(idx, z, 3, d, e, K)
		if idx[0] != 1 || idx[1] != 2 {
			t.Fatalf("K=%d: got %v, want 1 and 2 first (lowest index of tied rows)", K, idx)
		}
	}
	// All codes equal: index 0.
	same := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	idx := make([]int32, 1)
	NearestCode(idx, []float32{3, -2, 0}, 1, d, same, 5)
	if idx[0] != 0 {
		t.Fatalf("identical codes: got %d, want 0", idx[0])
	}
}

func TestNearestCodeAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	z, e, idx := randSlice(r, 100*16), randSlice(r, 64*16), make([]int32, 100)
	if got := testing.AllocsPerRun(10, func() { NearestCode(idx, z, 100, 16, e, 64) }); got != 0 {
		t.Fatalf("NearestCode allocates %v times per call, want 0", got)
	}
}

// activationInputs covers the float32 range, zeros, tiny and huge values.
func activationInputs(r *rand.Rand) []float32 {
	x := []float32{0, float32(math.Copysign(0, -1)), 1e-30, -1e-30, 1e-8, -1e-8, 0.5, -0.5, 9, -9, 20, -20, 88, -88, 100, -100, 1e30, -1e30}
	for range 2000 {
		x = append(x, float32(r.NormFloat64()*4))
	}
	return x
}

// ulpClose reports whether got is within 2 float32 ulps of want (plus a
// 1e-37 absolute slack for values near zero).
func ulpClose(got float32, want float64) bool {
	ulp := math.Abs(float64(math.Nextafter32(float32(want), float32(math.Inf(1)))) - float64(float32(want)))
	return math.Abs(float64(got)-want) <= 2*ulp+1e-37
}

func TestActivationsFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(25, 26))
	x := activationInputs(r)
	funcs := []struct {
		name string
		f    func([]float32)
		ref  func(float64) float64
	}{
		{"Tanh", Tanh, math.Tanh},
		{"Sigmoid", Sigmoid, func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }},
		{"ReLU", ReLU, func(v float64) float64 { return math.Max(v, 0) }},
		{"LeakyReLU", func(s []float32) { LeakyReLU(s, 0.01) }, func(v float64) float64 {
			if v < 0 {
				return float64(float32(v) * 0.01)
			}
			return v
		}},
	}
	for _, fn := range funcs {
		y := append([]float32(nil), x...)
		fn.f(y)
		for i, v := range x {
			if !ulpClose(y[i], fn.ref(float64(v))) {
				t.Fatalf("%s(%v) = %v, want %v", fn.name, v, y[i], fn.ref(float64(v)))
			}
		}
	}
}

func TestSoftmaxFloat64Reference(t *testing.T) {
	r := rand.New(rand.NewPCG(27, 28))
	for range 50 {
		rows, cols := 1+r.IntN(5), 1+r.IntN(40)
		x := make([]float32, rows*cols+1)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 10)
		}
		x[rows*cols] = guard
		orig := append([]float32(nil), x...)
		Softmax(x[:rows*cols], rows, cols)
		if x[rows*cols] != guard {
			t.Fatal("Softmax wrote past its rows")
		}
		for i := 0; i < rows; i++ {
			row := orig[i*cols : (i+1)*cols]
			mx := math.Inf(-1)
			for _, v := range row {
				mx = math.Max(mx, float64(v))
			}
			var s float64
			for _, v := range row {
				s += math.Exp(float64(v) - mx)
			}
			for j, v := range row {
				want := math.Exp(float64(v)-mx) / s
				if got := x[i*cols+j]; math.Abs(float64(got)-want) > 4e-7*want+1e-38 {
					t.Fatalf("rows=%d cols=%d: softmax[%d,%d] = %v, want %v", rows, cols, i, j, got, want)
				}
			}
		}
	}
}

// TestEltwiseMatchesBranch: EltwiseGo's branch-free LeakyReLU against the
// branch, bit for bit (signed zeros, subnormals, infinities; NaNs stay
// NaNs), for the slopes the model uses, with and without the add, and
// through LeakyReLU, ReLU, Add and AddLeakyReLU.
func TestEltwiseMatchesBranch(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	vals := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, float32(math.Inf(1)), float32(math.Inf(-1)), math.MaxFloat32, -math.MaxFloat32}
	for k := 0; k < 10000; k++ {
		vals = append(vals, math.Float32frombits(rng.Uint32()))
	}
	y := make([]float32, len(vals))
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	same := func(what string, i int, got, want float32) {
		t.Helper()
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("%s: value %d (x %g) is %g, want %g", what, i, vals[i], got, want)
		}
	}
	for _, slope := range []float32{0, 0.01, 0.2} {
		got, sum := slices.Clone(vals), make([]float32, len(vals))
		LeakyReLU(got, slope)
		AddLeakyReLU(sum, vals, y, slope)
		for i, v := range vals {
			want := v
			if v < 0 {
				want = v * slope
			}
			same(fmt.Sprintf("LeakyReLU slope %g", slope), i, got[i], want)
			s := v + y[i]
			if s < 0 {
				s *= slope
			}
			same(fmt.Sprintf("AddLeakyReLU slope %g", slope), i, sum[i], s)
		}
	}
	got := slices.Clone(vals)
	ReLU(got)
	Add(got, got, y)
	for i, v := range vals {
		if v < 0 {
			v *= 0
		}
		same("ReLU then Add", i, got[i], v+y[i])
	}
}

// TestEltwiseDispatch: the element-wise passes go through an installed
// kernel, and nil restores the Go one.
func TestEltwiseDispatch(t *testing.T) {
	calls := 0
	SetEltwiseKernel(func(dst, x, y []float32, leaky bool, slope float32) {
		calls++
		EltwiseGo(dst, x, y, leaky, slope)
	})
	x := []float32{-1, 2}
	ReLU(x)
	Add(x, x, x)
	LeakyReLU(x, 0.5)
	AddLeakyReLU(x, x, x, 0.5)
	SetEltwiseKernel(nil)
	ReLU(x)
	if calls != 4 {
		t.Fatalf("the installed kernel ran %d times, want 4", calls)
	}
	if want := []float32{float32(math.Copysign(0, -1)), 8}; math.Float32bits(x[0]) != math.Float32bits(want[0]) || x[1] != want[1] {
		t.Fatalf("x = %v, want %v", x, want)
	}
}
