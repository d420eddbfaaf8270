package simd128

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"ctvae/runtime/causal"
	"ctvae/runtime/kernels"
)

// CompareOutput runs out and kernels.WinogradOutputGo on the same random
// products (a·a matrices of count channels × tn tiles, ξ stride xiStride)
// and reports the first output that differs in any bit, or a write past
// the count·tn·16 outputs.
func CompareOutput(out kernels.WinogradOutputKernel, r *rand.Rand, a, count, tn, xiStride int) error {
	m := make([]float32, (a*a-1)*xiStride+count*tn)
	for i := range m {
		m[i] = r.Float32()*2 - 1
	}
	n := count * tn * 16
	want := make([]float32, n+8)
	for i := range want {
		want[i] = r.Float32()
	}
	got := append([]float32(nil), want...)
	kernels.WinogradOutputGo(m, xiStride, count, tn, a, want[:n])
	out(m, xiStride, count, tn, a, got[:n])
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("simd128: output transform a %d, %d channels × %d tiles: element %d (channel %d, tile %d, row %d, column %d) is %g, the Go code gives %g",
				a, count, tn, i, i/(tn*16), i/16%tn, i%16/4, i%4, got[i], want[i])
		}
	}
	return nil
}

// CompareInput runs in and kernels.WinogradInputGo on the same random
// padded planes (cin channels, tn tiles at random patch offsets) and
// reports the first V value that differs in any bit, or a write outside
// the packed values.
func CompareInput(in kernels.WinogradInputKernel, r *rand.Rand, a, cin, tn int) error {
	wp := a + 3 + r.IntN(9)
	rows := a + 2 + r.IntN(6)
	plane := rows*wp + r.IntN(5)
	pad := make([]float32, cin*plane)
	for i := range pad {
		pad[i] = r.Float32()*2 - 1
	}
	offs := make([]int32, tn)
	for t := range offs {
		offs[t] = int32(r.IntN(rows-a+1)*wp + r.IntN(wp-a+1))
	}
	vsz := kernels.PackedBSize(cin, tn) + r.IntN(5)
	n := (a*a-1)*vsz + kernels.PackedBSize(cin, tn)
	want := make([]float32, n+8)
	for i := range want {
		want[i] = r.Float32()
	}
	got := append([]float32(nil), want...)
	kernels.WinogradInputGo(pad, plane, cin, offs, wp, want[:n], vsz, a)
	in(pad, plane, cin, offs, wp, got[:n], vsz, a)
	for i := range want {
		if got[i] != want[i] {
			return fmt.Errorf("simd128: input transform a %d, %d channels × %d tiles: value %d (ξ %d) is %g, the Go code gives %g",
				a, cin, tn, i, i/vsz, got[i], want[i])
		}
	}
	return nil
}

// CompareSums runs edges and pairs against causal.EdgeSumsGo and
// causal.PairSumsGo on random rows of length n (every split q of the
// paired part and both tail signs, count edges and targets; the edges over
// one head, then over heads heads with random splits) and reports the
// first sum that differs in any bit.
func CompareSums(edges causal.EdgeSums, pairs causal.PairSums, r *rand.Rand, n, count, heads int) error {
	vec := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = r.Float32()*2 - 1
		}
		return v
	}
	x, y, e, t := vec((8+heads)*n+3), vec(heads*count*n), vec(heads*n), vec(count)
	rows := make([]int32, count)
	for i := range rows {
		rows[i] = int32(r.IntN(8*n + 4))
	}
	compareEdges := func(q []int, neg []bool) error {
		want, got := vec(len(q)*count), vec(len(q)*count)
		copy(got, want)
		causal.EdgeSumsGo(x, rows, y, e, t, n, q, neg, want)
		edges(x, rows, y, e, t, n, q, neg, got)
		for i := range want {
			if got[i] != want[i] {
				return fmt.Errorf("simd128: edge sums n %d, q %v, neg %v: head %d edge %d is %g, the Go code gives %g", n, q, neg, i/count, i%count, got[i], want[i])
			}
		}
		return nil
	}
	x0, x1 := vec(n), vec(n)
	for q := 0; 2*q <= n; q++ {
		for _, neg := range []bool{false, true} {
			if err := compareEdges([]int{q}, []bool{neg}); err != nil {
				return err
			}
			w0, w1, g0, g1 := vec(count), vec(count), vec(count), vec(count)
			copy(g0, w0)
			copy(g1, w1)
			causal.PairSumsGo(x0, x1, y, n, count, q, neg, w0, w1)
			pairs(x0, x1, y, n, count, q, neg, g0, g1)
			for i := range w0 {
				if g0[i] != w0[i] || g1[i] != w1[i] {
					return fmt.Errorf("simd128: pair sums n %d, q %d, neg %v: target %d is %g, %g; the Go code gives %g, %g", n, q, neg, i, g0[i], g1[i], w0[i], w1[i])
				}
			}
		}
	}
	q, neg := make([]int, heads), make([]bool, heads)
	for h := range q {
		q[h], neg[h] = r.IntN(n/2+1), r.IntN(2) == 1
	}
	return compareEdges(q, neg)
}

// CompareSoftmax runs softmax then causal.SoftmaxEdgesGo for the heads it
// left, against causal.SoftmaxEdgesGo alone, on random scores [edges,
// heads]; special puts a NaN, an infinity or a score 800 below the rest in
// one random head, which the kernel must leave to Go from its group on.
// It reports the first weight that differs in any bit (NaNs match NaNs)
// and a kernel that does fewer heads than it must.
func CompareSoftmax(softmax causal.EdgeSoftmax, r *rand.Rand, edges, heads int, special float32) error {
	sc := make([]float32, edges*heads)
	for i := range sc {
		sc[i] = float32(r.NormFloat64() * 3)
	}
	bad := -1
	if special != 0 {
		bad = r.IntN(heads)
		sc[r.IntN(edges)*heads+bad] = special
	}
	want, got := slices.Clone(sc), slices.Clone(sc)
	mx, sum, buf := make([]float32, heads), make([]float32, heads), make([]float64, edges*heads)
	causal.SoftmaxEdgesGo(want, edges, heads, 0, mx, sum, buf)
	done := softmax(got, edges, heads)
	full := heads // every head but for 2 or 3
	if heads == 2 || heads == 3 {
		full = 0
	}
	wantDone := full
	if bad >= 0 && bad < wantDone {
		wantDone = bad / 4 * 4 // the whole groups before the bad head's (or all, for one in the tail)
	}
	if special == -800 && edges == 1 {
		wantDone = full // alone, the low score is its head's maximum
	}
	if done != wantDone {
		return fmt.Errorf("simd128: softmax of %d edges × %d heads (special %g in head %d) did %d heads, want %d", edges, heads, special, bad, done, wantDone)
	}
	causal.SoftmaxEdgesGo(got, edges, heads, done, mx, sum, buf)
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
			return fmt.Errorf("simd128: softmax of %d edges × %d heads (special %g in head %d): weight %d (edge %d, head %d) is %g, the Go code gives %g",
				edges, heads, special, bad, i, i/heads, i%heads, got[i], want[i])
		}
	}
	return nil
}

// CompareEltwise runs eltwise against kernels.EltwiseGo on n random floats
// (negative and positive, zeros of both signs) in every mode: with and
// without the add and the LeakyReLU (slopes 0, 0.01, 0.2), in place and
// not; it reports the first result that differs in any bit or a write past
// dst.
func CompareEltwise(eltwise kernels.EltwiseKernel, r *rand.Rand, n int) error {
	vec := func() []float32 {
		v := make([]float32, n+3)
		for i := range v {
			switch r.IntN(10) {
			case 0:
				v[i] = 0
			case 1:
				v[i] = float32(math.Copysign(0, -1))
			default:
				v[i] = float32(r.NormFloat64())
			}
		}
		return v
	}
	x, y := vec(), vec()
	for _, slope := range []float32{0, 0.01, 0.2} {
		for _, leaky := range []bool{false, true} {
			for _, add := range []bool{false, true} {
				for _, inPlace := range []bool{false, true} {
					yy := y
					if !add {
						yy = nil
					}
					want, got := vec(), vec()
					copy(got, want)
					if inPlace {
						copy(want, x)
						copy(got, x)
						kernels.EltwiseGo(want[:n], want, yy, leaky, slope)
						eltwise(got[:n], got, yy, leaky, slope)
					} else {
						kernels.EltwiseGo(want[:n], x, yy, leaky, slope)
						eltwise(got[:n], x, yy, leaky, slope)
					}
					for i := range want {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							return fmt.Errorf("simd128: element-wise pass of %d (add %v, leaky %v slope %g, in place %v): value %d is %g, the Go code gives %g",
								n, add, leaky, slope, inPlace, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
	return nil
}

// CompareGather runs gather against causal.GatherGo, both groupings, on
// count random edges into d columns of rows with the given stride, and
// reports the first output that differs in any bit or a write past out.
func CompareGather(gather causal.Gather, r *rand.Rand, count, d, stride int) error {
	rows := 1 + r.IntN(70)
	x := make([]float32, (rows-1)*stride+d)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	w, src := make([]float32, count), make([]int32, count)
	for e := range w {
		w[e], src[e] = r.Float32(), int32(r.IntN(rows))
	}
	for _, fours := range []bool{false, true} {
		want, got := make([]float32, d+3), make([]float32, d+3)
		for i := range want {
			want[i] = float32(i) // the sentinels past d must stay
			got[i] = float32(i)
		}
		causal.GatherGo(want[:d], w, src, x, stride, fours)
		gather(got[:d], w, src, x, stride, fours)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				return fmt.Errorf("simd128: gather of %d edges into %d columns (stride %d, fours %v): value %d is %g, the Go code gives %g",
					count, d, stride, fours, i, got[i], want[i])
			}
		}
	}
	return nil
}
