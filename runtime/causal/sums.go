package causal

// The pairwise absolute-value sums (the discoverers' rows and the GATv2
// edge scores) and the attention softmax are the layer's hottest loops.
// They run batched through functions that an embedder may replace with
// faster ones giving the same bits (the wasm engine installs WebAssembly
// SIMD versions: lanes = the four edges or targets of a batch, or four
// heads, each computed in the Go order).

// EdgeSums computes absSumEdge4 for groups of four edges and each head
// h < len(q) (the heads' channels are n apart in x, y and e): for g <
// len(t)/4 and lane i,
//
//	s[h·len(t) + 4g+i] = Σ_k sgn_k |x[rows[4g+i] + h·n + k] + y[h·n + k] + e[h·n + k]·t[4g+i]|  (k < n)
//
// in absSumEdge4's order (signs, q[h] and neg[h] as there). len(t) is a
// multiple of 4, len(rows) = len(t), len(s) >= len(q)·len(t).
type EdgeSums func(x []float32, rows []int32, y, e, t []float32, n int, q []int, neg []bool, s []float32)

// PairSums computes absSum8 for rows x0, x1 against the targets y[j·n:
// (j+1)·n], j < count (a multiple of 4): s0[j] and s1[j] are absSum(x0,
// y_j) and absSum(x1, y_j) in absSum8's order.
type PairSums func(x0, x1, y []float32, n, count, q int, neg bool, s0, s1 []float32)

// EdgeSoftmax turns a prefix of the heads of edge scores sc [edges,
// heads] (edges >= 1, heads >= 1) into attention weights exactly as
// SoftmaxEdgesGo, and returns how many heads it did (k: heads [0, k)); the
// layer does the rest in Go. A kernel may stop early, e.g. where an
// exponential leaves the range it handles.
type EdgeSoftmax func(sc []float32, edges, heads int) int

// Gather sets out[c] = Σ_e w[e]·x[src[e]·stride + c] for c < len(out),
// summed from zero in GatherGo's order: edge by edge (gatherRows), or with
// fours, each whole group of four edges as (w0·x0 + w1·x1) + (w2·x2 +
// w3·x3), then the rest edge by edge (gatherRows4). The aggregations of
// both GATv2 layers.
type Gather func(out, w []float32, src []int32, x []float32, stride int, fours bool)

// Kernels are the layer's replaceable loops; a nil field means the Go one.
type Kernels struct {
	EdgeSums EdgeSums
	PairSums PairSums
	Softmax  EdgeSoftmax
	Gather   Gather
}

var (
	edgeSums    EdgeSums    = EdgeSumsGo
	pairSums    PairSums    = PairSumsGo
	edgeSoftmax EdgeSoftmax = noSoftmax
	gather      Gather      = GatherGo
)

// SetKernels installs faster kernels giving the same bits (a nil field
// restores the Go one: EdgeSumsGo, PairSumsGo, GatherGo, no softmax
// heads done outside SoftmaxEdgesGo). Not safe to call while layers run.
func SetKernels(k Kernels) {
	edgeSums, pairSums, edgeSoftmax, gather = k.EdgeSums, k.PairSums, k.Softmax, k.Gather
	if edgeSums == nil {
		edgeSums = EdgeSumsGo
	}
	if pairSums == nil {
		pairSums = PairSumsGo
	}
	if edgeSoftmax == nil {
		edgeSoftmax = noSoftmax
	}
	if gather == nil {
		gather = GatherGo
	}
}

// GatherGo is the Go Gather.
func GatherGo(out, w []float32, src []int32, x []float32, stride int, fours bool) {
	if fours {
		gatherRows4(out, w, src, x, stride)
	} else {
		gatherRows(out, w, src, x, stride)
	}
}

func noSoftmax([]float32, int, int) int { return 0 }

// EdgeSumsGo is the Go EdgeSums.
func EdgeSumsGo(x []float32, rows []int32, y, e, t []float32, n int, q []int, neg []bool, s []float32) {
	for h := range q {
		o := h * n
		yh, eh, sh := y[o:o+n], e[o:o+n], s[h*len(t):(h+1)*len(t)]
		for g := 0; g+4 <= len(t); g += 4 {
			r0, r1, r2, r3 := int(rows[g])+o, int(rows[g+1])+o, int(rows[g+2])+o, int(rows[g+3])+o
			sh[g], sh[g+1], sh[g+2], sh[g+3] = absSumEdge4(x[r0:r0+n], x[r1:r1+n], x[r2:r2+n], x[r3:r3+n], yh, eh, t[g], t[g+1], t[g+2], t[g+3], q[h], neg[h])
		}
	}
}

// PairSumsGo is the Go PairSums.
func PairSumsGo(x0, x1, y []float32, n, count, q int, neg bool, s0, s1 []float32) {
	for j := 0; j+4 <= count; j += 4 {
		a := absSum8(x0, x1, y[j*n:(j+1)*n], y[(j+1)*n:(j+2)*n], y[(j+2)*n:(j+3)*n], y[(j+3)*n:(j+4)*n], q, neg)
		copy(s0[j:j+4], a[:4])
		copy(s1[j:j+4], a[4:])
	}
}
