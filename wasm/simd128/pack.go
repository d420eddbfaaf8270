package simd128

// Pack parameter block, after the sums one: the arguments of one
// kernels.PackKernel call (addresses and lda in bytes).
const (
	paramPackDst    = paramSumEnd + iota*4 // dst[0]
	paramPackA                             // a[0]
	paramPackLDA                           // bytes between rows of a
	paramPackPanels                        // panels of 4 rows
	paramPackKB                            // kb
	paramPackEnd    = paramPackKB + 4
)

const opF32Store = 0x38

// Locals of pack4 (i32 then v128).
const (
	pP = iota
	pDst
	pA
	pLDA
	pPanels
	pKB
	pIP
	pK
	pOut
	pR0     // pR0..pR0+3: the panel's four rows
	pNumI32 = pR0 + 4
)

// pack4 is kernels.PackKernel: each panel's rows, four columns at a time,
// transposed into the panel (a last kb%4 columns one float at a time).
func packBody() code {
	c := newBody(pNumI32, 12, pP, []param{{pDst, paramPackDst}, {pA, paramPackA}, {pLDA, paramPackLDA},
		{pPanels, paramPackPanels}, {pKB, paramPackKB}}) // v128: 4 loaded, 4 scratch, 4 transposed
	v := func(i int) uint32 { return uint32(pNumI32 + i) }
	c.i32(0)
	c.set(pIP)
	c.get(pDst)
	c.set(pOut)
	c.loopUntil(pIP, 0, pPanels)
	// r_i = a + (ip·4 + i)·lda
	for i := 0; i < 4; i++ {
		c.get(pIP)
		c.i32(2)
		c.op(opI32Shl)
		if i > 0 {
			c.i32(int32(i))
			c.op(opI32Add)
		}
		c.get(pLDA)
		c.op(opI32Mul)
		c.get(pA)
		c.op(opI32Add)
		c.set(uint32(pR0 + i))
	}
	c.i32(0)
	c.set(pK)
	// while k+4 <= kb: a 4×4 block (k counts floats)
	c.loopUntil(pK, 3, pKB)
	for i := 0; i < 4; i++ {
		c.get(uint32(pR0 + i))
		c.get(pK)
		c.i32(2)
		c.op(opI32Shl, opI32Add)
		c.simd(simdLoad, 2, 0)
		c.set(v(i))
	}
	cols := [4]uint32{v(8), v(9), v(10), v(11)}
	c.transpose(cols, [4]uint32{v(0), v(1), v(2), v(3)}, [4]uint32{v(4), v(5), v(6), v(7)})
	for q := range cols {
		c.get(pOut)
		c.get(cols[q])
		c.simd(simdStore, 2, uint32(16*q))
	}
	c.get(pOut)
	c.i32(64)
	c.op(opI32Add)
	c.set(pOut)
	c.next(pK, 4)
	// the last columns: out[r] = row_r[k]
	c.loopUntil(pK, 0, pKB)
	for i := 0; i < 4; i++ {
		c.get(pOut)
		c.get(uint32(pR0 + i))
		c.get(pK)
		c.i32(2)
		c.op(opI32Shl, opI32Add)
		c.op(opF32Load)
		c.u32(2)
		c.u32(0)
		c.op(opF32Store)
		c.u32(2)
		c.u32(uint32(4 * i))
	}
	c.get(pOut)
	c.i32(16)
	c.op(opI32Add)
	c.set(pOut)
	c.next(pK, 1)
	c.next(pIP, 1)
	c.op(opEnd)
	return c
}
