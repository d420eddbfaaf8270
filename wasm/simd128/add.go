package simd128

// Row-add parameter block, after the softmax one: the arguments of one
// causal.AddRows call on its whole groups of four floats.
const (
	paramAddDst    = paramSmxEnd + iota*4 // dst[0]
	paramAddX                             // x[0]
	paramAddY                             // y[0]
	paramAddGroups                        // len(dst)/4
	paramAddLeaky                         // 1: LeakyReLU_0.01 after the add
	paramAddEnd    = paramAddLeaky + 4
)

const (
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
	aLeaky
	aOff
	aEnd
	aNumI32
)

// addBody is add4: causal.AddRows four floats at a time, the LeakyReLU as
// the runtime's leaky001 computes it: v·(v < 0 ? 0.01 : 1), exactly
// v < 0 ? 0.01·v : v.
func addBody() code {
	c := newBody(aNumI32, 1, aP, []param{{aDst, paramAddDst}, {aX, paramAddX}, {aY, paramAddY},
		{aGroups, paramAddGroups}, {aLeaky, paramAddLeaky}})
	v := uint32(aNumI32)
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
	c.get(aY)
	c.get(aOff)
	c.op(opI32Add)
	c.simd(simdLoad, 2, 0)
	c.vadd()
	c.set(v)
	c.get(aLeaky)
	c.op(opIf, blockVoid)
	c.get(v)
	c.vconst(0.01)
	c.vconst(1)
	c.get(v)
	c.zero()
	c.simd(simdF32x4Lt)
	c.simd(simdV128BitSelct)
	c.vmul()
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
