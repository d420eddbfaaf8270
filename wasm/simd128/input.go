package simd128

// Input-transform parameter block, after the output one: the arguments
// of one kernels.WinogradInputKernel call (addresses and strides in bytes).
const (
	paramInPad   = paramOutEnd + iota*4 // pad[0]
	paramInPlane                        // bytes between channel planes
	paramInCIn                          // channels
	paramInOffs                         // offs[0] (int32 float offsets)
	paramInTN                           // tiles (len(offs), a multiple of 4)
	paramInWP                           // bytes between patch rows
	paramInV                            // v[0]
	paramInVSZ                          // bytes between consecutive ξ in v
	paramInEnd   = paramInVSZ + 4

	paramTotalWords = paramGatEnd / 4
)

const (
	opSelect = 0x1b
	opI32And = 0x71

	simdLoad32Zero = 0x5c
	simdLoad64Zero = 0x5d

	kcPanel = 256 // kernels' k block: V's channels come in blocks of 256 (see kernels.PackedBAt)
)

// Locals of inF6/inF5 (i32 then v128).
const (
	iP = iota
	iPad
	iPlane
	iCIn
	iOffs
	iTN
	iWP
	iV
	iVSZ
	iC
	iP0
	iKB
	iVC
	iPadC
	iG
	iRO
	iAddr
	iQ0     // iQ0..iQ0+3: the four tiles' patches
	iNumI32 = iQ0 + 4
)

// v128 locals, offsets from iNumI32.
const (
	wD   = 0       // 36: d[i·a + j], lanes = tiles
	wT   = wD + 36 // 36: Bᵀ d, tmp[i·a + j]
	wR   = wT + 36 // 4: a patch row's columns 0-3, per tile
	wS   = wR + 4  // 4: its columns 4-5
	wX   = wS + 4  // 4: transpose scratch
	wY   = wX + 4  // 6: one row's results
	wSub = wY + 6  // 2: subexpressions
	wNum = wSub + 2
)

func wl(i int) uint32 { return uint32(iNumI32 + i) }

// Stack-machine helpers for the transforms: each pushes one v128.
func (c *code) vadd()                       { c.simd(simdF32x4Add) }
func (c *code) vsub()                       { c.simd(simdF32x4Sub) }
func (c *code) vmul()                       { c.simd(simdF32x4Mul) }
func (c *code) kmul(k float32)              { c.vconst(k); c.vmul() } // top·k, as Go's k*x (commutative)
func (c *code) pair(op uint32, x, y uint32) { c.get(x); c.get(y); c.simd(op) }

// scaledDiff emits dst = (ka·a - kb·b) + e, Go's ka*a - kb*b + e.
func (c *code) scaledDiff(dst uint32, ka float32, a uint32, kb float32, b, e uint32) {
	c.get(a)
	c.kmul(ka)
	c.get(b)
	c.kmul(kb)
	c.vsub()
	c.get(e)
	c.vadd()
	c.set(dst)
}

// affine emits dst = ((a op b)·k op2 d) + e, Go's k*(a op b) op2 d + e.
func (c *code) affine(dst uint32, op, a, b uint32, k float32, op2, d, e uint32) {
	c.pair(op, a, b)
	c.kmul(k)
	c.get(d)
	c.simd(op2)
	c.get(e)
	c.vadd()
	c.set(dst)
}

// bt emits Bᵀ·x for one column x (a = 6: kernels' bt6, a = 5: bt5),
// operation for operation as the Go code, into y[0..a-1].
func (c *code) bt(a int, x []uint32, y []uint32) {
	if a == 6 {
		// y0 = 4*x0 - 5*x2 + x4
		c.scaledDiff(y[0], 4, x[0], 5, x[2], x[4])
		// y1 = -4*(x1+x2) + x3 + x4
		c.affine(y[1], simdF32x4Add, x[1], x[2], -4, simdF32x4Add, x[3], x[4])
		// y2 = 4*(x1-x2) - x3 + x4
		c.affine(y[2], simdF32x4Sub, x[1], x[2], 4, simdF32x4Sub, x[3], x[4])
		// y3 = 2*(x3-x1) - x2 + x4
		c.affine(y[3], simdF32x4Sub, x[3], x[1], 2, simdF32x4Sub, x[2], x[4])
		// y4 = 2*(x1-x3) - x2 + x4
		c.affine(y[4], simdF32x4Sub, x[1], x[3], 2, simdF32x4Sub, x[2], x[4])
		// y5 = 4*x1 - 5*x3 + x5
		c.scaledDiff(y[5], 4, x[1], 5, x[3], x[5])
		return
	}
	// y0 = 2*(x0-x2) - x1 + x3
	c.affine(y[0], simdF32x4Sub, x[0], x[2], 2, simdF32x4Sub, x[1], x[3])
	// y1 = x3 - 2*x1 - x2
	c.get(x[3])
	c.get(x[1])
	c.kmul(2)
	c.vsub()
	c.get(x[2])
	c.vsub()
	c.set(y[1])
	// y2 = 2*x1 - 3*x2 + x3
	c.scaledDiff(y[2], 2, x[1], 3, x[2], x[3])
	// y3 = x3 - x1
	c.pair(simdF32x4Sub, x[3], x[1])
	c.set(y[3])
	// y4 = 2*(x1-x3) - x2 + x4
	c.affine(y[4], simdF32x4Sub, x[1], x[3], 2, simdF32x4Sub, x[2], x[4])
}

// inBody is the code of inF6 (a = 6) or inF5 (a = 5): for every channel
// and group of 4 tiles, each patch row is loaded per tile (columns 0-3 and
// 4-5) and transposed so that lanes are tiles, then the column and row
// passes of Bᵀ d B, and each V[ξ] stored as the group's 4 packed values.
func inBody(a int) code {
	c := newBody(iNumI32, wNum, iP, []param{{iPad, paramInPad}, {iPlane, paramInPlane}, {iCIn, paramInCIn},
		{iOffs, paramInOffs}, {iTN, paramInTN}, {iWP, paramInWP}, {iV, paramInV}, {iVSZ, paramInVSZ}})
	c.i32(0)
	c.set(iC)
	c.loopUntil(iC, 0, iCIn)
	// p0 = c &^ 255; kb = min(256, cin-p0); vc = v + (p0·tn + (c-p0)·4)·4;
	// padc = pad + c·plane
	c.get(iC)
	c.i32(^int32(kcPanel - 1))
	c.op(opI32And)
	c.set(iP0)
	c.get(iCIn)
	c.get(iP0)
	c.op(opI32Sub)
	c.op(opLocalTee)
	c.u32(iKB)
	c.i32(kcPanel)
	c.get(iKB)
	c.i32(kcPanel)
	c.op(opI32LtU, opSelect) // select(x, 256, x < 256)
	c.set(iKB)
	c.get(iP0)
	c.get(iTN)
	c.op(opI32Mul)
	c.get(iC)
	c.get(iP0)
	c.op(opI32Sub)
	c.i32(2)
	c.op(opI32Shl, opI32Add)
	c.i32(2)
	c.op(opI32Shl)
	c.get(iV)
	c.op(opI32Add)
	c.set(iVC)
	c.get(iC)
	c.get(iPlane)
	c.op(opI32Mul)
	c.get(iPad)
	c.op(opI32Add)
	c.set(iPadC)
	c.i32(0)
	c.set(iG)
	c.loopUntil(iG, 0, iTN)
	// q_k = padc + offs[g+k]·4
	c.pointers4(iQ0, iG, 2, iOffs, iPadC)
	c.i32(0)
	c.set(iRO)
	for i := 0; i < a; i++ {
		if i > 0 {
			c.get(iRO)
			c.get(iWP)
			c.op(opI32Add)
			c.set(iRO)
		}
		for k := 0; k < 4; k++ {
			c.get(uint32(iQ0 + k))
			c.get(iRO)
			c.op(opI32Add)
			c.op(opLocalTee)
			c.u32(iAddr)
			c.simd(simdLoad, 2, 0)
			c.set(wl(wR + k))
			c.get(iAddr)
			if a == 6 {
				c.simd(simdLoad64Zero, 2, 16)
			} else {
				c.simd(simdLoad32Zero, 2, 16)
			}
			c.set(wl(wS + k))
		}
		// Columns 0-3: a 4×4 transpose of the tiles' rows.
		x := [4]uint32{wl(wX), wl(wX + 1), wl(wX + 2), wl(wX + 3)}
		d := func(j int) uint32 { return wl(wD + i*a + j) }
		c.transpose([4]uint32{d(0), d(1), d(2), d(3)}, [4]uint32{wl(wR), wl(wR + 1), wl(wR + 2), wl(wR + 3)}, x)
		// Columns 4 (and 5): lanes 0 (and 1) of the tiles' tails.
		s := [4]uint32{wl(wS), wl(wS + 1), wl(wS + 2), wl(wS + 3)}
		c.shuffle(x[0], s[0], s[1], [4]byte{0, 4, 1, 5})
		c.shuffle(x[1], s[2], s[3], [4]byte{0, 4, 1, 5})
		c.shuffle(d(4), x[0], x[1], [4]byte{0, 1, 4, 5})
		if a == 6 {
			c.shuffle(d(5), x[0], x[1], [4]byte{2, 3, 6, 7})
		}
	}
	// tmp[·][j] = Bᵀ·(column j of d)
	for j := 0; j < a; j++ {
		col, out := make([]uint32, a), make([]uint32, a)
		for i := range col {
			col[i], out[i] = wl(wD+i*a+j), wl(wT+i*a+j)
		}
		c.bt(a, col, out)
	}
	// V[i·a + l] = (Bᵀ·(row i of tmp))[l], stored at vc + g·kb·4 + ξ·vsz
	c.get(iG)
	c.get(iKB)
	c.op(opI32Mul)
	c.i32(2)
	c.op(opI32Shl)
	c.get(iVC)
	c.op(opI32Add)
	c.set(iAddr)
	for i := 0; i < a; i++ {
		row, out := make([]uint32, a), make([]uint32, a)
		for j := range row {
			row[j], out[j] = wl(wT+i*a+j), wl(wY+j)
		}
		c.bt(a, row, out)
		for l := 0; l < a; l++ {
			if i > 0 || l > 0 {
				c.get(iAddr)
				c.get(iVSZ)
				c.op(opI32Add)
				c.set(iAddr)
			}
			c.get(iAddr)
			c.get(out[l])
			c.simd(simdStore, 2, 0)
		}
	}
	c.next(iG, 4)
	c.next(iC, 1)
	c.op(opEnd)
	return c
}
