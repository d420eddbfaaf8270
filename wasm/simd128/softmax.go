package simd128

import "math"

// Softmax parameter block, after the pack one: the arguments of one
// causal.EdgeSoftmax call, and its result.
const (
	paramSmxSc     = paramPackEnd + iota*4 // sc[0]
	paramSmxEdges                          // edges (>= 1)
	paramSmxStride                         // heads·4: bytes between edges
	paramSmxGroups                         // heads/4
	paramSmxTail                           // 4 - heads%4, the tail group's first lane to store; 0: no tail
	paramSmxDone                           // written by the module: heads done
	paramSmxEnd    = paramSmxDone + 4
)

// simd128 opcodes of the softmax (f32x4 comparisons and division, f64x2
// arithmetic, the f32/f64 conversions and the integer steps of the scale).
const (
	simdStore32Lane     = 0x5a
	simdF32x4Ne         = 0x42
	simdF32x4Ge         = 0x46
	simdV128AndNot      = 0x4f
	simdV128Or          = 0x50
	simdI32x4AllTrue    = 0xa3
	simdF32x4DemoteZero = 0x5e
	simdF64x2PromoteLow = 0x5f
	simdF64x2Floor      = 0x75
	simdI64x2ExtendLowS = 0xc7
	simdI64x2Shl        = 0xcb
	simdI64x2Add        = 0xce
	simdF32x4Div        = 0xe7
	simdF32x4PMin       = 0xea
	simdF32x4PMax       = 0xeb
	simdF64x2Add        = 0xf0
	simdF64x2Sub        = 0xf1
	simdF64x2Mul        = 0xf2
	simdI32x4TruncF64Z  = 0xfc

	opI32Store = 0x36
	opI32LeU   = 0x4d
	opI32ShrU  = 0x76
)

// The constants of kernels.ExpInPlace.
const (
	expLog2e = 1.44269504088896338700e+00
	expLn2Hi = 6.93147180369123816490e-01
	expLn2Lo = 1.90821492927058770002e-10
)

// Locals of softmax4 (i32 then v128).
const (
	xP = iota
	xSc
	xEdges
	xStride
	xGroups
	xTail
	xG
	xBase
	xPtr
	xEnd
	xNumI32
)

// v128 locals, offsets from xNumI32.
const (
	fMx  = iota // the four heads' maxima
	fMn         // their minima (the range check)
	fNaN        // lanes that saw a NaN score
	fSum        // the exponentials' sums
	fV          // one edge's four s - max
	fLo         // its lanes 0, 1 as float64
	fHi         // its lanes 2, 3 as float64
	fK
	fR
	fR2
	fR4
	fR8
	fNum
)

func fl(i int) uint32 { return uint32(xNumI32 + i) }

// dconst pushes a v128 with two float64 lanes of f.
func (c *code) dconst(f float64) {
	c.simd(simdConst)
	b := math.Float64bits(f)
	for range 2 {
		for s := 0; s < 64; s += 8 {
			c.op(byte(b >> s))
		}
	}
}

// dmulConst pushes top·k and dadd2 top + k in float64 lanes (Go's
// commutative k*x and k + x).
func (c *code) dmulConst(k float64) { c.dconst(k); c.simd(simdF64x2Mul) }
func (c *code) daddConst(k float64) { c.dconst(k); c.simd(simdF64x2Add) }

// dmulAdd replaces the top two float64 pairs a, b by a + b·local(l).
func (c *code) dmulAdd(l int) {
	c.get(fl(l))
	c.simd(simdF64x2Mul)
	c.simd(simdF64x2Add)
}

// dterm pushes a + r·b, kernels.ExpInPlace's q terms.
func (c *code) dterm(a, b float64) {
	c.get(fl(fR))
	c.dmulConst(b)
	c.daddConst(a)
}

// exp2 pushes e^x for the float64 lanes of local x (|x| within
// ExpInPlace's fast range: the caller checked), operation for operation as
// kernels.ExpInPlace.
func (c *code) exp2(x uint32) {
	// k = floor(x·log2e + 0.5)
	c.get(x)
	c.dmulConst(expLog2e)
	c.daddConst(0.5)
	c.simd(simdF64x2Floor)
	c.set(fl(fK))
	// r = (x - k·ln2Hi) - k·ln2Lo
	c.get(x)
	c.get(fl(fK))
	c.dmulConst(expLn2Hi)
	c.simd(simdF64x2Sub)
	c.get(fl(fK))
	c.dmulConst(expLn2Lo)
	c.simd(simdF64x2Sub)
	c.set(fl(fR))
	for _, sq := range [][2]int{{fR2, fR}, {fR4, fR2}, {fR8, fR4}} {
		c.get(fl(sq[1]))
		c.get(fl(sq[1]))
		c.simd(simdF64x2Mul)
		c.set(fl(sq[0]))
	}
	// p = (q0 + q1·r2 + (q2 + q3·r2)·r4) + (q4 + q5·r2 + q6·r4)·r8
	c.get(fl(fR))
	c.daddConst(1) // q0
	c.dterm(1.0/2, 1.0/6)
	c.dmulAdd(fR2)
	c.dterm(1.0/24, 1.0/120)
	c.dterm(1.0/720, 1.0/5040)
	c.dmulAdd(fR2)
	c.dmulAdd(fR4)
	c.dterm(1.0/40320, 1.0/362880)
	c.dterm(1.0/3628800, 1.0/39916800)
	c.dmulAdd(fR2)
	c.get(fl(fR4))
	c.dmulConst(1.0 / 479001600)
	c.simd(simdF64x2Add)
	c.dmulAdd(fR8)
	// · 2^k: the bits (int64(k) + 1023) << 52
	c.get(fl(fK))
	c.simd(simdI32x4TruncF64Z)
	c.simd(simdI64x2ExtendLowS)
	c.simd(simdConst)
	for range 2 {
		c.op(0xff, 0x03, 0, 0, 0, 0, 0, 0) // int64 1023
	}
	c.simd(simdI64x2Add)
	c.i32(52)
	c.simd(simdI64x2Shl)
	c.simd(simdF64x2Mul)
}

// storeI32 stores the i32 on the stack at (address below it) + off.
func (c *code) storeI32(off uint32) {
	c.op(opI32Store)
	c.u32(2)
	c.u32(off)
}

// edgeLoop opens a loop over the edges of the current group: ptr from
// base to end by stride; closeEdgeLoop closes it.
func (c *code) edgeLoop() {
	c.get(xBase)
	c.set(xPtr)
	c.loopUntil(xPtr, 0, xEnd)
}

func (c *code) closeEdgeLoop() {
	c.get(xPtr)
	c.get(xStride)
	c.op(opI32Add)
	c.set(xPtr)
	c.op(opBr, 0, opEnd, opEnd)
}

// loadEdge pushes the current edge's four scores (one, splat, when
// single).
func (c *code) loadEdge(single bool) {
	c.get(xPtr)
	if single {
		c.simd(simdLoad32Splat, 2, 0)
		return
	}
	c.simd(simdLoad, 2, 0)
}

// storeEdge stores the v128 on the stack at the current edge (lane 0 only
// when single); the address must be below it.
func (c *code) storeEdge(single bool) {
	if single {
		c.simd(simdStore32Lane, 2, 0)
		c.op(0)
		return
	}
	c.simd(simdStore, 2, 0)
}

// softmaxBody is softmax4: causal.EdgeSoftmax for groups of four heads
// (lanes), each lane computed as causal.SoftmaxEdgesGo computes its head,
// then the last heads%4 heads as the group of the last four heads (which
// are independent lanes: the ones done before are recomputed, from their
// weights, and not stored). A group whose scores hold a NaN, or whose
// exponentials would leave kernels.ExpInPlace's fast range (the smallest
// s - max below -708, or an infinite maximum), stops the function: the
// heads done so far are reported and the Go code does the rest. With
// single it is softmax1, for one head (stride 4, one group): the same steps
// on one score splat over the lanes, the results taken from lane 0.
func softmaxBody(single bool) code {
	c := newBody(xNumI32, fNum, xP, []param{{xSc, paramSmxSc}, {xEdges, paramSmxEdges}, {xStride, paramSmxStride},
		{xGroups, paramSmxGroups}, {xTail, paramSmxTail}})
	c.get(xP)
	c.i32(0)
	c.storeI32(paramSmxDone)
	c.i32(0)
	c.set(xG)
	c.op(opBlock, blockVoid) // the exit on a bad group
	c.loopUntil(xG, 0, xGroups)
	// base = sc + 16g
	c.get(xG)
	c.i32(4)
	c.op(opI32Shl)
	c.get(xSc)
	c.op(opI32Add)
	c.set(xBase)
	c.softmaxGroup(single, false, 2)
	// done = 4(g+1)
	c.get(xP)
	c.get(xG)
	c.i32(1)
	c.op(opI32Add)
	c.i32(2)
	c.op(opI32Shl)
	c.storeI32(paramSmxDone)
	c.next(xG, 1)
	if !single {
		c.get(xTail)
		c.op(opIf, blockVoid)
		// base = sc + stride - 16: the last four heads
		c.get(xSc)
		c.get(xStride)
		c.op(opI32Add)
		c.i32(16)
		c.op(opI32Sub)
		c.set(xBase)
		c.softmaxGroup(false, true, 1)
		c.get(xP)
		c.get(xStride)
		c.i32(2)
		c.op(opI32ShrU)
		c.storeI32(paramSmxDone)
		c.op(opEnd)
	}
	c.op(opEnd) // the exit block
	c.op(opEnd)
	return c
}

// softmaxGroup emits the softmax of the four heads (or one) at base over
// the edges; a bad group branches out exitDepth blocks. With tail only the
// lanes from local xTail on are stored.
func (c *code) softmaxGroup(single, tail bool, exitDepth byte) {
	store := func() { // the v128 in fV at the current edge
		if !tail {
			c.get(xPtr)
			c.get(fl(fV))
			c.storeEdge(single)
			return
		}
		for lane := byte(1); lane < 4; lane++ {
			c.get(xTail)
			c.i32(int32(lane))
			c.op(opI32LeU, opIf, blockVoid)
			c.get(xPtr)
			c.get(fl(fV))
			c.simd(simdStore32Lane, 2, 4*uint32(lane))
			c.op(lane, opEnd)
		}
	}
	// end = base + edges·stride
	c.get(xEdges)
	c.get(xStride)
	c.op(opI32Mul)
	c.get(xBase)
	c.op(opI32Add)
	c.set(xEnd)
	// Pass 1: max (as Go's v > mx), min and NaN lanes.
	c.vconst(float32(math.Inf(-1)))
	c.set(fl(fMx))
	c.vconst(float32(math.Inf(1)))
	c.set(fl(fMn))
	c.zeroLocals(fl(fNaN))
	c.edgeLoop()
	c.get(fl(fMx))
	c.loadEdge(single)
	c.simd(simdF32x4PMax) // mx < s ? s : mx
	c.set(fl(fMx))
	c.get(fl(fMn))
	c.loadEdge(single)
	c.simd(simdF32x4PMin)
	c.set(fl(fMn))
	c.get(fl(fNaN))
	c.loadEdge(single)
	c.loadEdge(single)
	c.simd(simdF32x4Ne)
	c.simd(simdV128Or)
	c.set(fl(fNaN))
	c.closeEdgeLoop()
	// Every s - max >= min - max (rounding is monotone); stop unless that
	// is >= -708 in every lane (false for NaN, and for an infinite max)
	// and no score was NaN.
	c.get(fl(fMn))
	c.get(fl(fMx))
	c.vsub()
	c.vconst(-708)
	c.simd(simdF32x4Ge)
	c.get(fl(fNaN))
	c.simd(simdV128AndNot)
	c.simd(simdI32x4AllTrue)
	c.op(opI32Eqz, opBrIf, exitDepth)
	// Pass 2: e = float32(exp(float64(s - max))) stored over s; sum += e.
	c.zeroLocals(fl(fSum))
	c.edgeLoop()
	c.loadEdge(single)
	c.get(fl(fMx))
	c.vsub()
	c.set(fl(fV))
	c.get(fl(fV))
	c.simd(simdF64x2PromoteLow)
	c.set(fl(fLo))
	if single {
		c.exp2(fl(fLo))
		c.simd(simdF32x4DemoteZero)
		c.set(fl(fV)) // lane 0 (lane 1 the same; 2, 3 zero)
	} else {
		c.get(fl(fV))
		c.get(fl(fV))
		c.simd(simdShuffle)
		for _, q := range [4]byte{2, 3, 2, 3} {
			c.op(4*q, 4*q+1, 4*q+2, 4*q+3)
		}
		c.simd(simdF64x2PromoteLow)
		c.set(fl(fHi))
		c.exp2(fl(fLo))
		c.simd(simdF32x4DemoteZero)
		c.set(fl(fLo)) // lanes 0, 1 (as float32)
		c.exp2(fl(fHi))
		c.simd(simdF32x4DemoteZero)
		c.set(fl(fHi))
		c.shuffle(fl(fV), fl(fLo), fl(fHi), [4]byte{0, 1, 4, 5})
	}
	store()
	c.get(fl(fSum))
	c.get(fl(fV))
	c.vadd()
	c.set(fl(fSum))
	c.closeEdgeLoop()
	// Pass 3: e / sum.
	c.edgeLoop()
	c.loadEdge(single)
	c.get(fl(fSum))
	c.simd(simdF32x4Div)
	c.set(fl(fV))
	store()
	c.closeEdgeLoop()
}
