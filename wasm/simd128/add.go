package simd128

// Element-wise parameter block, after the softmax one: the arguments of
// one kernels.EltwiseKernel call on its whole groups of four floats.
const (
	paramAddDst    = paramSmxEnd + iota*4 // dst[0]
	paramAddX                             // x[0]
	paramAddY                             // y[0]
	paramAddGroups                        // len(dst)/4
	paramAddFlags                         // 1: add y; 2: LeakyReLU after
	paramAddSlope                         // the LeakyReLU's slope (float32 bits)
	paramAddEnd    = paramAddSlope + 4
)

const (
	simdI32x4Splat   = 0x11
	simdF32x4Lt      = 0x43
	simdV128BitSelct = 0x52
)

// Locals of add4 (i32 then v128).
const (
	aP = iota
	aDst
	aX
	aY
	aGroups
	aFlags
	aSlope
	aOff
	aEnd
	aNumI32
)

// addBody is add4: kernels.EltwiseKernel four floats at a time, the
// LeakyReLU as a select: v < 0 ? v·slope : v.
func addBody() code {
	c := newBody(aNumI32, 2, aP, []param{{aDst, paramAddDst}, {aX, paramAddX}, {aY, paramAddY},
		{aGroups, paramAddGroups}, {aFlags, paramAddFlags}, {aSlope, paramAddSlope}})
	v, slope := uint32(aNumI32), uint32(aNumI32+1)
	c.get(aSlope)
	c.simd(simdI32x4Splat)
	c.set(slope)
	c.get(aGroups)
	c.i32(4)
	c.op(opI32Shl)
	c.set(aEnd)
	c.i32(0)
	c.set(aOff)
	c.loopUntil(aOff, 0, aEnd)
	c.get(aX)
	c.get(aOff)
	c.op(opI32Add)
	c.simd(simdLoad, 2, 0)
	c.set(v)
	c.get(aFlags)
	c.i32(1)
	c.op(opI32And, opIf, blockVoid)
	c.get(v)
	c.get(aY)
	c.get(aOff)
	c.op(opI32Add)
	c.simd(simdLoad, 2, 0)
	c.vadd()
	c.set(v)
	c.op(opEnd)
	c.get(aFlags)
	c.i32(2)
	c.op(opI32And, opIf, blockVoid)
	c.get(v)
	c.get(slope)
	c.vmul()
	c.get(v)
	c.get(v)
	c.zero()
	c.simd(simdF32x4Lt)
	c.simd(simdV128BitSelct)
	c.set(v)
	c.op(opEnd)
	c.get(aDst)
	c.get(aOff)
	c.op(opI32Add)
	c.get(v)
	c.simd(simdStore, 2, 0)
	c.next(aOff, 16)
	c.op(opEnd)
	return c
}
