package kernels

// ---------------------------------------------------------------------------
// Blocked GEMM (GotoBLAS structure).
//
// A is packed into panels of mr rows and B into panels of nr columns, both
// k-major and zero-padded to whole panels, so the micro-kernel always runs a
// full mr×nr register tile with no edge cases and no bounds checks. k is cut
// into blocks of kc so an A panel and a B panel sit in L1; n is cut into
// blocks of nc so a packed B block sits in L2.
//
// Every C element is summed in the same order whatever the thread split, so
// results do not depend on the number of threads.
// ---------------------------------------------------------------------------

const (
	kc = 256 // k block: mr×kc + kc×nr floats fit in L1 (~7 KiB)
	nc = 512 // n block: the packed B block (kc×nc floats, 512 KiB) fits in L2
)

// packedASize is the length of a fully packed m×k A (see packA).
func packedASize(m, k int) int { return roundUp(m, mr) * k }

func roundUp(x, q int) int { return (x + q - 1) / q * q }

// packA packs op(A) (m×k) whole. For the k block starting at p0 (length kb)
// the panels start at p0*mpad; panel ip holds rows ip*mr.. as
// dst[p0*mpad + ip*mr*kb + p*mr + r] = opA[ip*mr+r, p0+p], zero past row m.
func packA(dst []float32, transA bool, m, k int, a []float32, lda int) {
	mpad := roundUp(m, mr)
	for p0 := 0; p0 < k; p0 += kc {
		kb := min(kc, k-p0)
		blk := dst[p0*mpad : p0*mpad+mpad*kb]
		i0 := 0
		if full := m / mr; packKernel != nil && !transA && full > 0 {
			packKernel(blk[:full*mr*kb], a[p0:], lda, full, kb)
			i0 = full * mr
		}
		for ; i0 < mpad; i0 += mr {
			pan := blk[i0*kb : (i0+mr)*kb]
			for r := 0; r < mr; r++ {
				i := i0 + r
				if i >= m {
					for p := 0; p < kb; p++ {
						pan[p*mr+r] = 0
					}
					continue
				}
				if !transA && r == 0 && i0+mr <= m && (mr == 4 || mr == 8) {
					packRows(pan, a[i*lda+p0:], lda, kb)
					break // the panel's mr rows at once
				}
				if transA {
					for p := 0; p < kb; p++ {
						pan[p*mr+r] = a[(p0+p)*lda+i]
					}
				} else {
					row := a[i*lda+p0 : i*lda+p0+kb]
					for p, v := range row {
						pan[p*mr+r] = v
					}
				}
			}
		}
	}
}

// packRows packs mr = 4 or 8 whole rows of length kb (row r at a[r·lda:])
// into one panel, pan[p·mr + r], a panel row per step: one element at a
// time costs a loop iteration each (a jump table dispatch under wasm).
func packRows(pan, a []float32, lda, kb int) {
	r0 := a[:kb]
	r1 := a[lda : lda+kb]
	r2 := a[2*lda : 2*lda+kb]
	r3 := a[3*lda : 3*lda+kb]
	if mr == 4 {
		pan = pan[:4*kb]
		for p, v := range r0 {
			q := pan[4*p : 4*p+4 : 4*p+4]
			q[0], q[1], q[2], q[3] = v, r1[p], r2[p], r3[p]
		}
		return
	}
	r4 := a[4*lda : 4*lda+kb]
	r5 := a[5*lda : 5*lda+kb]
	r6 := a[6*lda : 6*lda+kb]
	r7 := a[7*lda : 7*lda+kb]
	pan = pan[:8*kb]
	for p, v := range r0 {
		q := pan[8*p : 8*p+8 : 8*p+8]
		q[0], q[1], q[2], q[3] = v, r1[p], r2[p], r3[p]
		q[4], q[5], q[6], q[7] = r4[p], r5[p], r6[p], r7[p]
	}
}

// packB packs the kb×nb block of op(B) at (p0, j0) into panels of nr
// columns: dst[jp*nr*kb + p*nr + q] = opB[p0+p, j0+jp*nr+q], zero past nb.
func packB(dst []float32, transB bool, p0, kb, j0, nb int, b []float32, ldb int) {
	npad := roundUp(nb, nr)
	for jp := 0; jp < npad; jp += nr {
		pan := dst[jp*kb : (jp+nr)*kb]
		w := min(nr, nb-jp)
		if transB {
			for q := 0; q < nr; q++ {
				if q >= w {
					for p := 0; p < kb; p++ {
						pan[p*nr+q] = 0
					}
					continue
				}
				col := b[(j0+jp+q)*ldb+p0 : (j0+jp+q)*ldb+p0+kb]
				for p, v := range col {
					pan[p*nr+q] = v
				}
			}
			continue
		}
		if w == nr {
			for p := 0; p < kb; p++ {
				copyNR(pan[p*nr:p*nr+nr], b[(p0+p)*ldb+j0+jp:(p0+p)*ldb+j0+jp+nr])
			}
			continue
		}
		for p := 0; p < kb; p++ {
			row := b[(p0+p)*ldb+j0+jp : (p0+p)*ldb+j0+jp+w]
			t := pan[p*nr : p*nr+nr]
			for q := range t {
				if q < w {
					t[q] = row[q]
				} else {
					t[q] = 0
				}
			}
		}
	}
}

// gemmArgs is one GEMM on a packed A: C = A·op(B) + beta·C for the panel
// rows [ip0, ip1) of A and the columns [j0, j1) of C. It is also the task
// handed to the worker pool, which splits it along m or n.
type gemmArgs struct {
	ap     []float32 // packed A (packA layout)
	m, k   int
	n      int
	transB bool
	b      []float32
	ldb    int
	bp     []float32 // op(B) packed whole by PackB (then b is unused), or nil
	beta   float32
	c      []float32
	ldc    int
	splitN bool // the pool splits n (in nr panels) instead of m (in mr panels)
}

// runRange runs the panels [lo, hi) of the split dimension.
func (g *gemmArgs) runRange(lo, hi int, ws *workspace) {
	if g.splitN {
		g.run(0, roundUp(g.m, mr)/mr, lo*nr, min(hi*nr, g.n), ws)
	} else {
		g.run(lo, hi, 0, g.n, ws)
	}
}

// run computes the A panels [ip0, ip1) against columns [j0, j1).
func (g *gemmArgs) run(ip0, ip1, j0, j1 int, ws *workspace) {
	if g.bp != nil {
		g.runPackedB(ip0, ip1, j0, j1, ws)
		return
	}
	mpad := roundUp(g.m, mr)
	var tile [mr * nr]float32
	for jc := j0; jc < j1; jc += nc {
		nb := min(nc, j1-jc)
		for p0 := 0; p0 < g.k; p0 += kc {
			kb := min(kc, g.k-p0)
			bp := ws.b[:roundUp(nb, nr)*kb]
			packB(bp, g.transB, p0, kb, jc, nb, g.b, g.ldb)
			beta := g.beta
			if p0 > 0 {
				beta = 1
			}
			g.block(g.ap[p0*mpad:p0*mpad+mpad*kb], bp, kb, ip0, ip1, jc, jc, jc+nb, beta, &tile, ws)
		}
	}
}

// block multiplies the packed A panels ip0..ip1 of one k block (blk, kb
// deep) by the packed B panels of columns lo..hi (bp starts at column jc)
// into C, whole tiles straight from the register tile, edges through tile.
func (g *gemmArgs) block(blk, bp []float32, kb, ip0, ip1, jc, lo, hi int, beta float32, tile *[mr * nr]float32, ws *workspace) {
	if panelKernel == nil || (beta != 0 && beta != 1) {
		g.blockTiles(blk, bp, kb, ip0, ip1, jc, lo, hi, beta, tile)
		return
	}
	// The installed kernel computes whole tiles: the full ones straight
	// into C in one call; a last short A panel and a last narrow B panel
	// (zero-padded when packed) into ws.edge, whose in-range part is then
	// stored (=, or += when beta is 1, as the Go kernel's edge tiles).
	fullA := max(min(ip1, g.m/mr)-ip0, 0)
	fullB := (hi - lo) / nr
	jFull := lo + fullB*nr
	add := beta == 1
	if fullA > 0 && fullB > 0 {
		panelKernel(blk[ip0*mr*kb:(ip0+fullA)*mr*kb], bp[(lo-jc)*kb:(jFull-jc)*kb],
			g.c[ip0*mr*g.ldc+lo:], kb, fullA, fullB, g.ldc, add)
	}
	if jFull < hi && fullA > 0 {
		ws.edge = grow(ws.edge, fullA*mr*nr)
		panelKernel(blk[ip0*mr*kb:(ip0+fullA)*mr*kb], bp[(jFull-jc)*kb:(jFull-jc+nr)*kb], ws.edge, kb, fullA, 1, nr, false)
		storeEdge(g.c[ip0*mr*g.ldc+jFull:], g.ldc, fullA*mr, hi-jFull, ws.edge, nr, add)
	}
	if ip := ip0 + fullA; ip < ip1 { // the last A panel, short of rows
		panels := (hi - lo + nr - 1) / nr
		ws.edge = grow(ws.edge, mr*panels*nr)
		panelKernel(blk[ip*mr*kb:(ip+1)*mr*kb], bp[(lo-jc)*kb:(lo-jc+panels*nr)*kb], ws.edge, kb, 1, panels, panels*nr, false)
		storeEdge(g.c[ip*mr*g.ldc+lo:], g.ldc, g.m-ip*mr, hi-lo, ws.edge, panels*nr, add)
	}
}

// storeEdge stores the rows×cols corner of s (rows ls apart) into c (rows
// ldc apart): c = s, or c += s when add.
func storeEdge(c []float32, ldc, rows, cols int, s []float32, ls int, add bool) {
	for r := 0; r < rows; r++ {
		row, src := c[r*ldc:r*ldc+cols], s[r*ls:r*ls+cols]
		if add {
			for q, v := range src {
				row[q] += v
			}
			continue
		}
		for q, v := range src {
			row[q] = v
		}
	}
}

// blockTiles is block with the Go tile kernel.
func (g *gemmArgs) blockTiles(blk, bp []float32, kb, ip0, ip1, jc, lo, hi int, beta float32, tile *[mr * nr]float32) {
	for ip := ip0; ip < ip1; ip++ {
		apan := blk[ip*mr*kb : (ip+1)*mr*kb]
		i := ip * mr
		mm := min(mr, g.m-i)
		for jp := lo; jp < hi; jp += nr {
			q := (jp - jc) * kb
			if nn := min(nr, hi-jp); mm == mr && nn == nr && (beta == 0 || beta == 1) {
				microC(apan, bp[q:q+nr*kb], g.c[i*g.ldc+jp:], g.ldc, beta == 1)
			} else {
				micro(apan, bp[q:q+nr*kb], tile)
				storeTile(g.c[i*g.ldc+jp:], g.ldc, mm, nn, tile, beta)
			}
		}
	}
}

// runPackedB is run for a B packed whole by PackB: the same blocks and the
// same summation order, without packing. j0 is a multiple of nr.
func (g *gemmArgs) runPackedB(ip0, ip1, j0, j1 int, ws *workspace) {
	mpad := roundUp(g.m, mr)
	var tile [mr * nr]float32
	for jc := j0 / nc * nc; jc < j1; jc += nc {
		lo, hi := max(j0, jc), min(j1, jc+nc)
		nbpad := roundUp(min(nc, g.n-jc), nr)
		for p0 := 0; p0 < g.k; p0 += kc {
			kb := min(kc, g.k-p0)
			bp := g.bp[jc*g.k+p0*nbpad : jc*g.k+p0*nbpad+nbpad*kb]
			beta := g.beta
			if p0 > 0 {
				beta = 1
			}
			g.block(g.ap[p0*mpad:p0*mpad+mpad*kb], bp, kb, ip0, ip1, jc, lo, hi, beta, &tile, ws)
		}
	}
}

// PackedBSize is the length of a k×n op(B) packed whole by PackB.
func PackedBSize(k, n int) int { return roundUp(n, nr) * k }

// PackB packs op(B) (k×n: B, or Bᵀ when transB) whole into dst
// (PackedBSize(k, n) floats) for GEMMPackedB, in the blocks and panels
// GEMM packs one at a time: the block of columns jc.. (nc wide) and k
// rows p0.. (kc long) starts at jc·k + p0·nbpad (nbpad: the block's width
// rounded up to nr), and holds panels of nr columns, k-major, zero past n.
// An operand used many times (weights) is packed once this way.
func PackB(dst []float32, transB bool, k, n int, b []float32, ldb int) {
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		nbpad := roundUp(nb, nr)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			off := jc*k + p0*nbpad
			packB(dst[off:off+nbpad*kb], transB, p0, kb, jc, nb, b, ldb)
		}
	}
}

// packedBAt is the index of opB[p, j] in a k×n op(B) packed by PackB.
func packedBAt(k, n, p, j int) int {
	jc, p0 := j/nc*nc, p/kc*kc
	nbpad := roundUp(min(nc, n-jc), nr)
	kb := min(kc, k-p0)
	return jc*k + p0*nbpad + (j-jc)/nr*nr*kb + (p-p0)*nr + (j-jc)%nr
}

// storeTile writes the mm×nn corner of an mr×nr tile into c as
// c = beta·c + t, ignoring c's old contents when beta is 0 (BLAS semantics).
// storeFullTile stores a whole mr x nr tile into rows of c (stride ldc):
// c[r·ldc + q] = t[r·nr + q], or += when add; for the microC variants
// that compute into a tile first.
func storeFullTile(c []float32, ldc int, t *[mr * nr]float32, add bool) {
	var beta float32
	if add {
		beta = 1
	}
	storeTile(c, ldc, mr, nr, t, beta)
}

func storeTile(c []float32, ldc, mm, nn int, t *[mr * nr]float32, beta float32) {
	if mm == mr && nn == nr && beta == 0 {
		for r := 0; r < mr; r++ {
			copyNR(c[r*ldc:r*ldc+nr], t[r*nr:r*nr+nr])
		}
		return
	}
	for r := 0; r < mm; r++ {
		row := c[r*ldc : r*ldc+nn]
		tr := t[r*nr : r*nr+nn]
		switch beta {
		case 0:
			for q, v := range tr { // not copy: a runtime call for nr floats
				row[q] = v
			}
		case 1:
			for q, v := range tr {
				row[q] += v
			}
		default:
			for q, v := range tr {
				row[q] = beta*row[q] + v
			}
		}
	}
}

// copyNR copies the nr floats of s into d, written out: copy (and an
// array assignment) of so few floats is a call into the runtime's memmove,
// under wasm into the host's memory.copy, and a loop costs a jump table
// dispatch per element under wasm.
func copyNR(d, s []float32) {
	d, s = d[:nr], s[:nr]
	if nr == 4 {
		d[0], d[1], d[2], d[3] = s[0], s[1], s[2], s[3]
		return
	}
	for q := range d {
		d[q] = s[q]
	}
}

// scaleC sets C = beta·C (C = 0 when beta is 0), for k == 0.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = 0
			} else {
				row[j] *= beta
			}
		}
	}
}

// parallelMin is the MAC count below which a GEMM stays on one thread:
// handing work to the pool costs a few microseconds.
const parallelMin = 1 << 17

// gemmPacked runs g on the calling thread and, when it is large enough and
// the pool has threads, splits it across the pool.
func gemmPacked(g *gemmArgs, ws *workspace, t *team) {
	mp := roundUp(g.m, mr) / mr
	np := roundUp(g.n, nr) / nr
	th := threads()
	if th <= 1 || g.m*g.n*g.k < parallelMin || (mp < 2 && np < 2) {
		g.run(0, mp, 0, g.n, ws)
		return
	}
	// Split the dimension with more panels; whole panels keep tiles intact.
	g.splitN = np > mp
	parts := mp
	if g.splitN {
		parts = np
	}
	t.parallel(g, parts, ws)
}

// GEMM computes C = op(A)·op(B) + beta·C; see GEMMNaive for the exact math.
// It packs A into a workspace taken from a free list, so steady-state calls
// allocate nothing; large products use the worker pool (see SetThreads).
func GEMM(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	t := getTeam()
	t.ws.a = grow(t.ws.a, packedASize(m, k))
	packA(t.ws.a, transA, m, k, a, lda)
	t.g = gemmArgs{ap: t.ws.a, m: m, k: k, n: n, transB: transB, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc}
	gemmPacked(&t.g, &t.ws, t)
	t.g = gemmArgs{} // drop references to the caller's slices
	putTeam(t)
}

// GEMMPackedB computes C = op(A)·op(B) + beta·C like GEMM, with op(B)
// (k×n) already packed by PackB.
func GEMMPackedB(transA bool, m, n, k int, a []float32, lda int, bp []float32, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if len(bp) < PackedBSize(k, n) {
		panic("kernels: GEMMPackedB: packed B too short")
	}
	t := getTeam()
	t.ws.a = grow(t.ws.a, packedASize(m, k))
	packA(t.ws.a, transA, m, k, a, lda)
	t.g = gemmArgs{ap: t.ws.a, m: m, k: k, n: n, bp: bp, beta: beta, c: c, ldc: ldc}
	gemmPacked(&t.g, &t.ws, t)
	t.g = gemmArgs{}
	putTeam(t)
}

// grow returns s with length n, reallocating only when its capacity is short.
func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}
