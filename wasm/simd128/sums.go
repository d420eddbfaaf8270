package simd128

// Causal-layer sums parameter block, after the input one: the arguments
// of one causal.EdgeSums or causal.PairSums call (addresses and lengths in
// bytes unless said).
const (
	paramSumX      = paramInEnd + iota*4 // EdgeSums: x; PairSums: x0
	paramSumRows                         // EdgeSums: rows (int32, floats); PairSums: x1
	paramSumY                            // y
	paramSumE                            // EdgeSums: e
	paramSumT                            // EdgeSums: t
	paramSumN                            // n·4
	paramSumM                            // PairSums: 2q·4, the paired part
	paramSumNeg                          // PairSums: 1, the tail is subtracted
	paramSumS                            // EdgeSums: s; PairSums: s0
	paramSumS1                           // PairSums: s1
	paramSumCount                        // EdgeSums: groups of 4 edges; PairSums: targets (a multiple of 4)
	paramSumHeads                        // EdgeSums: heads
	paramSumQTab                         // EdgeSums: int32 [heads], each head's 2q·4
	paramSumNegTab                       // EdgeSums: int32 [heads], 1: that head's tail is subtracted
	paramSumEnd    = paramSumNegTab + 4
)

const (
	opF32Load = 0x2a

	simdF32x4Splat       = 0x13
	simdF32x4ReplaceLane = 0x20
	simdF32x4Abs         = 0xe0
	simdF32x4Neg         = 0xe1
)

// Locals of edges4 and pairs8 (i32 then v128).
const (
	sP = iota
	sX
	sRows
	sY
	sE
	sT
	sN
	sM
	sNeg
	sS
	sS1
	sCount
	sG
	sK
	sYG    // pairs8: the group's first target row
	sHeads // edges4: the heads, their index and tables
	sHd
	sQTab
	sNegTab
	sQ0     // sQ0..sQ0+3: the four edges' rows (edges4) or targets' rows (pairs8)
	sNumI32 = sQ0 + 4
)

// v128 locals, offsets from sNumI32.
const (
	uT   = 0 // edges4: the four attributes
	uA0  = 1 // accumulators: edges4 a·0, a·1, r; pairs8 a, b, t, u
	uA1  = 2
	uR   = 3
	uU   = 4
	uX   = 5      // 4: loaded rows
	uC   = uX + 4 // 4: transposed: lanes = edges or targets at k..k+3
	uW   = uC + 4 // 4: transpose scratch
	uZ   = uW + 4 // 4: absolute values
	uTmp = uZ + 4 // accumulate's operand
	uNum = uTmp + 1
)

func ul(i int) uint32 { return uint32(sNumI32 + i) }

// gather pushes (rows[0][k], ..., rows[3][k]): four f32 loads at
// local(sQ0+i) + k (k a local, in bytes).
func (c *code) gather(k uint32) {
	for i := 0; i < 4; i++ {
		c.get(uint32(sQ0 + i))
		c.get(k)
		c.op(opI32Add)
		c.op(opF32Load)
		c.u32(2)
		c.u32(0)
		if i == 0 {
			c.simd(simdF32x4Splat)
		} else {
			c.simd(simdF32x4ReplaceLane)
			c.op(byte(i))
		}
	}
}

// transpose4 loads v128 at local(sQ0+i) + k for the four rows and
// transposes them into uC..uC+3 (lane i = row i, at k, k+1, k+2, k+3).
func (c *code) transpose4(k uint32) {
	for i := 0; i < 4; i++ {
		c.get(uint32(sQ0 + i))
		c.get(k)
		c.op(opI32Add)
		c.simd(simdLoad, 2, 0)
		c.set(ul(uX + i))
	}
	c.transpose([4]uint32{ul(uC), ul(uC + 1), ul(uC + 2), ul(uC + 3)},
		[4]uint32{ul(uX), ul(uX + 1), ul(uX + 2), ul(uX + 3)}, [4]uint32{ul(uW), ul(uW + 1), ul(uW + 2), ul(uW + 3)})
}

// splatAt pushes splat(f32 at local(base) + local(k) + off).
func (c *code) splatAt(base, k, off uint32) {
	c.get(base)
	c.get(k)
	c.op(opI32Add)
	c.simd(simdLoad32Splat, 2, off)
}

// edgeTerm pushes |x + y[k+off] + e[k+off]·t| for the v128 x already
// pushed (absSumEdge4's term: (x + y) + e·t).
func (c *code) edgeTerm(off uint32) {
	c.splatAt(sY, sK, off)
	c.vadd()
	c.splatAt(sE, sK, off)
	c.get(ul(uT))
	c.vmul()
	c.vadd()
	c.simd(simdF32x4Abs)
}

// signed pushes -x when the tail is subtracted (sNeg), else x.
func (c *code) signed(x uint32) {
	c.get(x)
	c.simd(simdF32x4Neg)
	c.get(x)
	c.get(sNeg)
	c.op(opSelect)
}

// accumulate emits acc = acc + (top): the v128 on the stack is added.
func (c *code) accumulate(acc uint32) {
	c.set(ul(uTmp))
	c.get(acc)
	c.get(ul(uTmp))
	c.vadd()
	c.set(acc)
}

// edgesBody is edges4: causal.EdgeSums with lanes = the four edges of a
// group, each lane summed exactly as absSumEdge4 sums that edge, head
// after head.
func edgesBody() code {
	c := newBody(sNumI32, uNum, sP, []param{{sX, paramSumX}, {sRows, paramSumRows}, {sY, paramSumY}, {sE, paramSumE},
		{sT, paramSumT}, {sN, paramSumN}, {sS, paramSumS}, {sCount, paramSumCount},
		{sHeads, paramSumHeads}, {sQTab, paramSumQTab}, {sNegTab, paramSumNegTab}})
	c.i32(0)
	c.set(sHd)
	c.loopUntil(sHd, 0, sHeads)
	// m, neg = the head's entries of the tables
	for _, tab := range [][2]uint32{{sQTab, sM}, {sNegTab, sNeg}} {
		c.get(sHd)
		c.i32(2)
		c.op(opI32Shl)
		c.get(tab[0])
		c.op(opI32Add)
		c.op(opI32Load)
		c.u32(2)
		c.u32(0)
		c.set(tab[1])
	}
	c.i32(0)
	c.set(sG)
	c.loopUntil(sG, 0, sCount)
	// q_i = x + rows[4g+i]·4; T = t[4g..4g+3]
	c.pointers4(sQ0, sG, 4, sRows, sX)
	c.get(sG)
	c.i32(4)
	c.op(opI32Shl)
	c.get(sT)
	c.op(opI32Add)
	c.simd(simdLoad, 2, 0)
	c.set(ul(uT))
	c.zeroLocals(ul(uA0), ul(uA1), ul(uR))
	c.i32(0)
	c.set(sK)
	// while k+12 < m: four k at once (a0 gets k, k+1; a1 gets k+2, k+3)
	c.loopUntil(sK, 12, sM)
	c.transpose4(sK)
	for u := 0; u < 4; u++ {
		c.get(ul(uC + u))
		c.edgeTerm(uint32(4 * u))
		c.set(ul(uZ + u))
	}
	c.pair(simdF32x4Sub, ul(uZ), ul(uZ+1))
	c.accumulate(ul(uA0))
	c.pair(simdF32x4Sub, ul(uZ+2), ul(uZ+3))
	c.accumulate(ul(uA1))
	c.next(sK, 16)
	// if k+4 < m: one more pair into a0
	c.ifBelow(sK, 4, sM)
	c.gather(sK)
	c.edgeTerm(0)
	c.set(ul(uZ))
	c.bump(sK, 4)
	c.gather(sK)
	c.edgeTerm(0)
	c.set(ul(uZ + 1))
	c.pair(simdF32x4Sub, ul(uZ), ul(uZ+1))
	c.accumulate(ul(uA0))
	c.op(opEnd)
	// the tail: r += |...| for k in [m, n)
	c.get(sM)
	c.set(sK)
	c.loopUntil(sK, 0, sN)
	c.gather(sK)
	c.edgeTerm(0)
	c.accumulate(ul(uR))
	c.next(sK, 4)
	// s = (a0 + a1) + (neg ? -r : r)
	c.get(sG)
	c.i32(4)
	c.op(opI32Shl)
	c.get(sS)
	c.op(opI32Add)
	c.pair(simdF32x4Add, ul(uA0), ul(uA1))
	c.signed(ul(uR))
	c.vadd()
	c.simd(simdStore, 2, 0)
	c.next(sG, 1)
	// the next head: x, y and e n further, s a row of groups further
	for _, l := range []uint32{sX, sY, sE} {
		c.get(l)
		c.get(sN)
		c.op(opI32Add)
		c.set(l)
	}
	c.get(sS)
	c.get(sCount)
	c.i32(4)
	c.op(opI32Shl)
	c.op(opI32Add)
	c.set(sS)
	c.next(sHd, 1)
	c.op(opEnd)
	return c
}

// pairTerm pushes |splat(xrow[k+off]) + C| for the v128 local C.
func (c *code) pairTerm(xrow, off, C uint32) {
	c.splatAt(xrow, sK, off)
	c.get(C)
	c.vadd()
	c.simd(simdF32x4Abs)
}

// pairsBody is pairs8: causal.PairSums with lanes = four targets, each
// lane summed exactly as absSum8 sums that pair.
func pairsBody() code {
	// sX = x0, sRows = x1 (see the parameter block)
	c := newBody(sNumI32, uNum, sP, []param{{sX, paramSumX}, {sRows, paramSumRows}, {sY, paramSumY},
		{sN, paramSumN}, {sM, paramSumM}, {sNeg, paramSumNeg}, {sS, paramSumS}, {sS1, paramSumS1}, {sCount, paramSumCount}})
	c.i32(0)
	c.set(sG)
	c.loopUntil(sG, 0, sCount)
	// q_i = y + (g+i)·n
	for i := 0; i < 4; i++ {
		c.get(sG)
		if i > 0 {
			c.i32(int32(i))
			c.op(opI32Add)
		}
		c.get(sN)
		c.op(opI32Mul)
		c.get(sY)
		c.op(opI32Add)
		c.set(uint32(sQ0 + i))
	}
	c.zeroLocals(ul(uA0), ul(uA1), ul(uR), ul(uU)) // a, b, t, u
	c.i32(0)
	c.set(sK)
	// while k+12 < m: the pairs (k, k+1) and (k+2, k+3)
	c.loopUntil(sK, 12, sM)
	c.transpose4(sK)
	for _, p := range []uint32{0, 2} {
		for _, r := range []struct{ row, acc uint32 }{{sX, ul(uA0)}, {sRows, ul(uA1)}} {
			c.pairTerm(r.row, 4*p, ul(uC+int(p)))
			c.pairTerm(r.row, 4*p+4, ul(uC+int(p)+1))
			c.vsub()
			c.accumulate(r.acc)
		}
	}
	c.next(sK, 16)
	// if k+4 < m: the last pair
	c.ifBelow(sK, 4, sM)
	c.gather(sK)
	c.set(ul(uC))
	c.bump(sK, 4)
	c.gather(sK)
	c.set(ul(uC + 1))
	c.get(sK)
	c.i32(4)
	c.op(opI32Sub)
	c.set(sK)
	for _, r := range []struct{ row, acc uint32 }{{sX, ul(uA0)}, {sRows, ul(uA1)}} {
		c.pairTerm(r.row, 0, ul(uC))
		c.pairTerm(r.row, 4, ul(uC+1))
		c.vsub()
		c.accumulate(r.acc)
	}
	c.op(opEnd)
	// the tail: t += |x0[k] + y[k]|, u += |x1[k] + y[k]| for k in [m, n)
	c.get(sM)
	c.set(sK)
	c.loopUntil(sK, 0, sN)
	c.gather(sK)
	c.set(ul(uC))
	c.pairTerm(sX, 0, ul(uC))
	c.accumulate(ul(uR))
	c.pairTerm(sRows, 0, ul(uC))
	c.accumulate(ul(uU))
	c.next(sK, 4)
	// s0 = a ± t, s1 = b ± u
	for _, o := range []struct{ dst, acc, tail uint32 }{{sS, ul(uA0), ul(uR)}, {sS1, ul(uA1), ul(uU)}} {
		c.get(sG)
		c.i32(2)
		c.op(opI32Shl)
		c.get(o.dst)
		c.op(opI32Add)
		c.get(o.acc)
		c.signed(o.tail) // a - t is a + (-t), bit for bit
		c.vadd()
		c.simd(simdStore, 2, 0)
	}
	c.next(sG, 4)
	c.op(opEnd)
	return c
}
