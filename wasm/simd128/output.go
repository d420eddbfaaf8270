package simd128

import "math"

// Output-transform parameter block, after the tiles one: the arguments of
// one kernels.WinogradOutputKernel call (addresses and strides in bytes).
const (
	paramOutM     = paramWords*4 + iota*4 // M[ξ=0][o=0][t=0]
	paramOutXS                            // bytes between consecutive ξ
	paramOutCount                         // output channels
	paramOutTN                            // tiles per channel (a multiple of 4)
	paramOutY                             // y[0]
	paramOutEnd   = paramOutY + 4
)

// More opcodes (simd128).
const (
	simdShuffle  = 0x0d // i8x16.shuffle: 16 lane bytes follow
	simdF32x4Sub = 0xe5
)

// Locals of outF6/outF5 (i32 then v128).
const (
	oP = iota
	oM
	oXS
	oCount
	oTN
	oY
	oO
	oG
	oAddr
	oYPtr
	oNumI32
)

// v128 locals, offsets from oNumI32.
const (
	vM   = 0         // 36: M[ξ] for 4 tiles
	vTmp = vM + 36   // 24: Aᵀ M, tmp[r·6 + j]
	vY   = vTmp + 24 // 16: Y[r·4 + c]
	vS   = vY + 16   // 4: s12, d12, s34, d34
	vT   = vS + 4    // 4: transpose scratch
	vR   = vT + 4    // 4: one output row of each tile
	vNum = vR + 4
)

func vl(i int) uint32 { return uint32(oNumI32 + i) }

// vconst pushes a v128 with four lanes of f.
func (c *code) vconst(f float32) {
	c.simd(simdConst)
	b := math.Float32bits(f)
	for range 4 {
		c.op(byte(b), byte(b>>8), byte(b>>16), byte(b>>24))
	}
}

// vbin emits dst = x op y for v128 locals.
func (c *code) vbin(op uint32, dst, x, y uint32) {
	c.get(x)
	c.get(y)
	c.simd(op)
	c.set(dst)
}

// vscaled pushes k·x (Go's k*x: the multiply, k first).
func (c *code) vscaled(k float32, x uint32) {
	c.vconst(k)
	c.get(x)
	c.simd(simdF32x4Mul)
}

// at emits Aᵀ·x for one column x (a = 6: kernels' at6, a = 5: at5),
// operation for operation as the Go code, into y0..y3.
func (c *code) at(a int, x []uint32, y [4]uint32) {
	s12, d12, s34, d34 := vl(vS), vl(vS+1), vl(vS+2), vl(vS+3)
	c.vbin(simdF32x4Add, s12, x[1], x[2])
	c.vbin(simdF32x4Sub, d12, x[1], x[2])
	third := x[3] // at5 uses x3 where at6 uses s34 / d34
	sum3, dif3 := third, third
	if a == 6 {
		c.vbin(simdF32x4Add, s34, x[3], x[4])
		c.vbin(simdF32x4Sub, d34, x[3], x[4])
		sum3, dif3 = s34, d34
	}
	// y0 = x0 + s12 + (s34 | x3)
	c.get(x[0])
	c.get(s12)
	c.simd(simdF32x4Add)
	c.get(sum3)
	c.simd(simdF32x4Add)
	c.set(y[0])
	// y1 = d12 + 2·(d34 | x3)
	c.get(d12)
	c.vscaled(2, dif3)
	c.simd(simdF32x4Add)
	c.set(y[1])
	// y2 = s12 + 4·(s34 | x3)
	c.get(s12)
	c.vscaled(4, sum3)
	c.simd(simdF32x4Add)
	c.set(y[2])
	// y3 = d12 + 8·(d34 | x3) + (x5 | x4)
	c.get(d12)
	c.vscaled(8, dif3)
	c.simd(simdF32x4Add)
	c.get(x[a-1])
	c.simd(simdF32x4Add)
	c.set(y[3])
}

// shuffle emits dst = i8x16.shuffle(x, y) picking the f32 lanes l (0-3
// from x, 4-7 from y).
func (c *code) shuffle(dst, x, y uint32, l [4]byte) {
	c.get(x)
	c.get(y)
	c.simd(simdShuffle)
	for _, q := range l {
		c.op(4*q, 4*q+1, 4*q+2, 4*q+3)
	}
	c.set(dst)
}

// transpose emits the 4×4 transpose of the f32 lanes of src into dst
// (dst[j] lane i = src[i] lane j), through the scratch locals w (dst may
// not overlap src or w).
func (c *code) transpose(dst, src, w [4]uint32) {
	c.shuffle(w[0], src[0], src[1], [4]byte{0, 4, 1, 5})
	c.shuffle(w[1], src[0], src[1], [4]byte{2, 6, 3, 7})
	c.shuffle(w[2], src[2], src[3], [4]byte{0, 4, 1, 5})
	c.shuffle(w[3], src[2], src[3], [4]byte{2, 6, 3, 7})
	c.shuffle(dst[0], w[0], w[2], [4]byte{0, 1, 4, 5})
	c.shuffle(dst[1], w[0], w[2], [4]byte{2, 3, 6, 7})
	c.shuffle(dst[2], w[1], w[3], [4]byte{0, 1, 4, 5})
	c.shuffle(dst[3], w[1], w[3], [4]byte{2, 3, 6, 7})
}

// outBody is the code of outF6 (a = 6) or outF5 (a = 5): for every output
// channel and group of 4 tiles (one v128 of M per ξ, lanes = tiles), the
// column pass, the row pass, then a 4×4 transpose per output row so each
// tile's rows land contiguously in y.
func outBody(a int) code {
	c := newBody(oNumI32, vNum, oP, []param{{oM, paramOutM}, {oXS, paramOutXS}, {oCount, paramOutCount},
		{oTN, paramOutTN}, {oY, paramOutY}})
	// for o := 0; o < count; o++ { for g := 0; g < tn; g += 4 { ... } }
	c.i32(0)
	c.set(oO)
	c.loopUntil(oO, 0, oCount)
	c.i32(0)
	c.set(oG)
	c.loopUntil(oG, 0, oTN)
	// addr = m + (o·tn + g)·4; yptr = y + (o·tn + g)·64
	c.get(oO)
	c.get(oTN)
	c.op(opI32Mul)
	c.get(oG)
	c.op(opI32Add)
	c.op(opLocalTee)
	c.u32(oYPtr)
	c.i32(2)
	c.op(opI32Shl)
	c.get(oM)
	c.op(opI32Add)
	c.set(oAddr)
	c.get(oYPtr)
	c.i32(6)
	c.op(opI32Shl)
	c.get(oY)
	c.op(opI32Add)
	c.set(oYPtr)
	for xi := 0; xi < a*a; xi++ {
		if xi > 0 {
			c.get(oAddr)
			c.get(oXS)
			c.op(opI32Add)
			c.set(oAddr)
		}
		c.get(oAddr)
		c.simd(simdLoad, 2, 0)
		c.set(vl(vM + xi))
	}
	// tmp[r][j] = Aᵀ·(column j of M)
	for j := 0; j < a; j++ {
		col := make([]uint32, a)
		for i := range col {
			col[i] = vl(vM + i*a + j)
		}
		c.at(a, col, [4]uint32{vl(vTmp + j), vl(vTmp + 6 + j), vl(vTmp + 12 + j), vl(vTmp + 18 + j)})
	}
	// Y[r][·] = Aᵀ·(row r of tmp)
	for r := 0; r < 4; r++ {
		row := make([]uint32, a)
		for j := range row {
			row[j] = vl(vTmp + 6*r + j)
		}
		c.at(a, row, [4]uint32{vl(vY + 4*r), vl(vY + 4*r + 1), vl(vY + 4*r + 2), vl(vY + 4*r + 3)})
	}
	// Row r of tile q is lane q of Y[r][0..3]: transpose and store it at
	// yptr + q·64 + r·16.
	t := [4]uint32{vl(vT), vl(vT + 1), vl(vT + 2), vl(vT + 3)}
	rows := [4]uint32{vl(vR), vl(vR + 1), vl(vR + 2), vl(vR + 3)}
	for r := 0; r < 4; r++ {
		c.transpose(rows, [4]uint32{vl(vY + 4*r), vl(vY + 4*r + 1), vl(vY + 4*r + 2), vl(vY + 4*r + 3)}, t)
		for q := range rows {
			c.get(oYPtr)
			c.get(rows[q])
			c.simd(simdStore, 2, uint32(q*64+r*16))
		}
	}
	c.next(oG, 4)
	c.next(oO, 1)
	c.op(opEnd)
	return c
}
