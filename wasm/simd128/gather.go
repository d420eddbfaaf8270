package simd128

// Gather parameter block, after the row-add one: the arguments of one
// causal.Gather call on its whole groups of four columns.
const (
	paramGatOut    = paramAddEnd + iota*4 // out[0]
	paramGatW                             // w[0]
	paramGatSrc                           // src[0] (int32 rows)
	paramGatX                             // x[0]
	paramGatStride                        // stride·4: bytes between rows of x
	paramGatCount                         // edges
	paramGatCols16                        // bytes of columns done 16 at a time: len(out)/16·64
	paramGatCols4                         // bytes of columns done at all: len(out)/4·16
	paramGatFours                         // 1: gatherRows4's grouping
	paramGatEnd    = paramGatFours + 4
)

// Locals of gather (i32 then v128).
const (
	gP = iota
	gOut
	gW
	gSrc
	gX
	gStride
	gCount
	gCols16
	gCols4
	gFours
	gCol    // byte offset of the current columns
	gE      // edge
	gWE     // w + 4e
	gR0     // gR0..gR0+3: rows of the edges e..e+3 at the current columns
	gNumI32 = gR0 + 4
)

// v128 locals, offsets from gNumI32.
const (
	hAcc = 0 // hAcc..hAcc+3: the sums of up to four column vectors
	hW   = 4 // hW..hW+3: the four edges' weights, splat
	hNum = 8
)

func hl(i int) uint32 { return uint32(gNumI32 + i) }

// rowPointer sets local dst = x + src[e+k]·stride + col.
func (c *code) rowPointer(dst uint32, k int) {
	c.get(gE)
	c.i32(2)
	c.op(opI32Shl)
	c.get(gSrc)
	c.op(opI32Add)
	c.op(opI32Load)
	c.u32(2)
	c.u32(uint32(4 * k))
	c.get(gStride)
	c.op(opI32Mul)
	c.get(gX)
	c.op(opI32Add)
	c.get(gCol)
	c.op(opI32Add)
	c.set(dst)
}

// weightSplat sets local dst = splat(w[e+k]).
func (c *code) weightSplat(dst uint32, k int) {
	c.get(gWE)
	c.simd(simdLoad32Splat, 2, uint32(4*k))
	c.set(dst)
}

// weighted pushes w·row[v] for the weight local w and row pointer local r.
func (c *code) weighted(w, r uint32, v int) {
	c.get(w)
	c.get(r)
	c.simd(simdLoad, 2, uint32(16*v))
	c.vmul()
}

// gatherColumns emits the sums of vectors column vectors at gCol over
// every edge, stored into out.
func (c *code) gatherColumns(vectors int) {
	for v := 0; v < vectors; v++ {
		c.zero()
		c.set(hl(hAcc + v))
	}
	c.i32(0)
	c.set(gE)
	c.get(gW)
	c.set(gWE)
	// with fours: whole groups of four edges, (w0 x0 + w1 x1) + (w2 x2 + w3 x3)
	c.get(gFours)
	c.op(opIf, blockVoid)
	c.loopUntil(gE, 3, gCount)
	for k := 0; k < 4; k++ {
		c.rowPointer(gR0+uint32(k), k)
		c.weightSplat(hl(hW+k), k)
	}
	for v := 0; v < vectors; v++ {
		c.get(hl(hAcc + v))
		c.weighted(hl(hW), gR0, v)
		c.weighted(hl(hW+1), gR0+1, v)
		c.vadd()
		c.weighted(hl(hW+2), gR0+2, v)
		c.weighted(hl(hW+3), gR0+3, v)
		c.vadd()
		c.vadd()
		c.vadd()
		c.set(hl(hAcc + v))
	}
	c.bump(gWE, 16)
	c.next(gE, 4)
	c.op(opEnd)
	// the edges left, one at a time
	c.loopUntil(gE, 0, gCount)
	c.rowPointer(gR0, 0)
	c.weightSplat(hl(hW), 0)
	for v := 0; v < vectors; v++ {
		c.get(hl(hAcc + v))
		c.weighted(hl(hW), gR0, v)
		c.vadd()
		c.set(hl(hAcc + v))
	}
	c.bump(gWE, 4)
	c.next(gE, 1)
	for v := 0; v < vectors; v++ {
		c.get(gOut)
		c.get(gCol)
		c.op(opI32Add)
		c.get(hl(hAcc + v))
		c.simd(simdStore, 2, uint32(16*v))
	}
}

// gatherBody is gather: causal.Gather with lanes = columns, sixteen
// columns (four vectors) per pass over the edges, then four at a time;
// each lane sums its column in the Go order.
func gatherBody() code {
	c := newBody(gNumI32, hNum, gP, []param{{gOut, paramGatOut}, {gW, paramGatW}, {gSrc, paramGatSrc}, {gX, paramGatX},
		{gStride, paramGatStride}, {gCount, paramGatCount}, {gCols16, paramGatCols16}, {gCols4, paramGatCols4},
		{gFours, paramGatFours}})
	c.i32(0)
	c.set(gCol)
	c.loopUntil(gCol, 0, gCols16)
	c.gatherColumns(4)
	c.next(gCol, 64)
	c.loopUntil(gCol, 0, gCols4)
	c.gatherColumns(1)
	c.next(gCol, 16)
	c.op(opEnd)
	return c
}
