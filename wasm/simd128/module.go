// Package simd128 gives the wasm engine WebAssembly SIMD (simd128)
// versions of the runtime's hottest loops. Go's wasm port emits no SIMD and
// keeps 16 float registers, so its scalar GEMM tile runs at about 2 GFLOP/s
// under V8; in f32x4 the same tiles run at 10-20.
//
// Module builds one small WebAssembly module (written here, byte by byte,
// no toolchain; module_data.go holds its bytes, generated) that imports the
// Go program's own memory and works on the buffers where Go left them:
//
//   - tiles: the full register tiles of every GEMM block (kernels.PanelKernel)
//   - pack4: the packing of A's whole panels (kernels.PackKernel)
//   - in6, in5, out6, out5: the Winograd input and output transforms of
//     F(4×4,3×3) and F(4×4,2×2) (kernels.WinogradInputKernel, ...OutputKernel)
//   - edges4, pairs8: the causal layer's absolute-value sums
//     (causal.EdgeSums, causal.PairSums)
//   - softmax4, softmax1: its attention softmax, four heads at a time or one, with the
//     float64 exponential of kernels.ExpInPlace in f64x2 (causal.EdgeSoftmax)
//   - add4: the element-wise adds and LeakyReLUs of the convolutions,
//     residual layers and the causal layer (kernels.EltwiseKernel)
//   - gather: its aggregations over the incoming edges (causal.Gather)
//
// Install (js/wasm only) compiles it against the memory the host published,
// checks it against the Go code and hands each function to the runtime's
// hook. Each lane does exactly the float32 operations of the Go code in the
// same order (one multiply and one add per term, no fused multiply-add), so
// results are bit-identical with and without the module.
package simd128

//go:generate go run gen_module.go

import "math"

// Parameter block layout (little-endian int32 words at the address given
// to setParams): the arguments of one kernels.PanelKernel call, addresses
// and ldc in bytes.
const (
	paramA = iota * 4
	paramB
	paramC
	paramKB
	paramAPanels
	paramBPanels
	paramLDC
	paramAdd
	paramWords = iota
)

// Wasm opcodes used below (core spec and the simd128 proposal).
const (
	opBlock     = 0x02
	opLoop      = 0x03
	opIf        = 0x04
	opElse      = 0x05
	opEnd       = 0x0b
	opBr        = 0x0c
	opBrIf      = 0x0d
	opLocalGet  = 0x20
	opLocalSet  = 0x21
	opLocalTee  = 0x22
	opGlobalGet = 0x23
	opGlobalSet = 0x24
	opI32Load   = 0x28
	opI32Const  = 0x41
	opI32Eqz    = 0x45
	opI32LtU    = 0x49
	opI32GeU    = 0x4f
	opI32Add    = 0x6a
	opI32Sub    = 0x6b
	opI32Mul    = 0x6c
	opI32Shl    = 0x74
	opSIMD      = 0xfd // prefix of the simd128 instructions below

	simdLoad        = 0x00
	simdLoad32Splat = 0x09
	simdStore       = 0x0b
	simdConst       = 0x0c
	simdF32x4Add    = 0xe4
	simdF32x4Mul    = 0xe6

	typeI32   = 0x7f
	typeV128  = 0x7b
	blockVoid = 0x40
)

// code is a function body under construction.
type code []byte

func (c *code) op(b ...byte) { *c = append(*c, b...) }

func (c *code) u32(v uint32) { *c = appendU32(*c, v) }

func (c *code) i32(v int32) {
	c.op(opI32Const)
	*c = appendS32(*c, v)
}

func (c *code) get(l uint32) { c.op(opLocalGet); c.u32(l) }
func (c *code) set(l uint32) { c.op(opLocalSet); c.u32(l) }

// simd emits one simd128 instruction; memory ones take (align log2, offset).
func (c *code) simd(op uint32, memarg ...uint32) {
	c.op(opSIMD)
	c.u32(op)
	for _, v := range memarg {
		c.u32(v)
	}
}

// param is one word of a parameter block: its byte offset and the i32
// local it is loaded into.
type param struct{ local, off uint32 }

// newBody starts a function body with numI32 i32 locals then numV128
// v128 ones, and loads the parameter block (its address, global 0, into
// local block) word by word into its locals.
func newBody(numI32, numV128, block uint32, params []param) code {
	c := code{2}
	c.u32(numI32)
	c.op(typeI32)
	c.u32(numV128)
	c.op(typeV128)
	c.op(opGlobalGet, 0)
	c.set(block)
	for _, p := range params {
		c.get(block)
		c.op(opI32Load)
		c.u32(2)
		c.u32(p.off)
		c.set(p.local)
	}
	return c
}

// loopUntil opens a loop whose test, at the top, leaves it when x+ahead >=
// limit (unsigned; x and limit locals); next closes it.
func (c *code) loopUntil(x uint32, ahead int32, limit uint32) {
	c.op(opBlock, blockVoid, opLoop, blockVoid)
	c.get(x)
	if ahead != 0 {
		c.i32(ahead)
		c.op(opI32Add)
	}
	c.get(limit)
	c.op(opI32GeU, opBrIf, 1)
}

// next closes a loopUntil loop: x += step, then back to the test.
func (c *code) next(x uint32, step int32) {
	c.bump(x, step)
	c.op(opBr, 0, opEnd, opEnd)
}

// bump emits x += step for the i32 local x.
func (c *code) bump(x uint32, step int32) {
	c.get(x)
	c.i32(step)
	c.op(opI32Add)
	c.set(x)
}

// ifBelow opens an if block taken when x+ahead < limit (unsigned; x and
// limit locals), closed by an opEnd.
func (c *code) ifBelow(x uint32, ahead int32, limit uint32) {
	c.get(x)
	c.i32(ahead)
	c.op(opI32Add)
	c.get(limit)
	c.op(opI32LtU, opIf, blockVoid)
}

// pointers4 sets the locals dst..dst+3 to base + table[(index<<shift)/4 +
// k]·4 (k < 4): four float addresses from an int32 table of float offsets
// (index counts entries when shift is 2, groups of four when it is 4).
func (c *code) pointers4(dst, index uint32, shift int32, table, base uint32) {
	for k := uint32(0); k < 4; k++ {
		c.get(index)
		c.i32(shift)
		c.op(opI32Shl)
		c.get(table)
		c.op(opI32Add)
		c.op(opI32Load)
		c.u32(2)
		c.u32(4 * k)
		c.i32(2)
		c.op(opI32Shl)
		c.get(base)
		c.op(opI32Add)
		c.set(dst + k)
	}
}

// zeroLocals sets the v128 locals to zero.
func (c *code) zeroLocals(locals ...uint32) {
	for _, l := range locals {
		c.zero()
		c.set(l)
	}
}

// zero pushes an all-zero v128.
func (c *code) zero() {
	c.simd(simdConst)
	c.op(make([]byte, 16)...)
}

func appendU32(b []byte, v uint32) []byte {
	for {
		x := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(b, x)
		}
		b = append(b, x|0x80)
	}
}

func appendS32(b []byte, v int32) []byte {
	for {
		x := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && x&0x40 == 0) || (v == -1 && x&0x40 != 0) {
			return append(b, x)
		}
		b = append(b, x|0x80)
	}
}

// section appends a section with its id and byte length.
func section(dst []byte, id byte, body []byte) []byte {
	if len(body) > math.MaxUint32 {
		panic("simd128: section too large")
	}
	dst = append(dst, id)
	dst = appendU32(dst, uint32(len(body)))
	return append(dst, body...)
}

func name(dst []byte, s string) []byte {
	dst = appendU32(dst, uint32(len(s)))
	return append(dst, s...)
}

// Module returns the kernel module: it imports env.mem (the Go program's
// memory) and exports setParams(addr i32), which fixes the parameter
// block's address; tiles(), which runs one PanelKernel call described by
// that block; out6() and out5(), one WinogradOutputKernel call for a = 6
// and 5; in6() and in5(), one WinogradInputKernel call; edges4() and
// pairs8(), one causal.EdgeSums and causal.PairSums call; pack4(), one
// kernels.PackKernel call; softmax4() and softmax1(), one causal.EdgeSoftmax
// call (four heads at a time, or one head); add4(), one kernels.EltwiseKernel call;
// gather(), one causal.Gather call.
func Module() []byte {
	m := []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}
	// Types: 0 = (i32) -> (), 1 = () -> ().
	m = section(m, 1, []byte{2, 0x60, 1, typeI32, 0, 0x60, 0, 0})
	// Import env.mem: a memory of at least 0 pages, no maximum.
	imp := []byte{1}
	imp = name(imp, "env")
	imp = name(imp, "mem")
	imp = append(imp, 0x02, 0x00, 0x00)
	m = section(m, 2, imp)
	// Functions: setParams (type 0), tiles, out6, out5, in6, in5, edges4,
	// pairs8, pack4, softmax4, add4, softmax1, gather (type 1).
	m = section(m, 3, []byte{13, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	// Global 0: the parameter block's address, mutable i32 = 0.
	m = section(m, 6, []byte{1, typeI32, 1, opI32Const, 0, opEnd})
	exp := []byte{13}
	for i, n := range []string{"setParams", "tiles", "out6", "out5", "in6", "in5", "edges4", "pairs8", "pack4", "softmax4", "add4",
		"softmax1", "gather"} {
		exp = name(exp, n)
		exp = append(exp, 0x00, byte(i))
	}
	m = section(m, 7, exp)
	setParams := code{0} // no locals
	setParams.get(0)
	setParams.op(opGlobalSet, 0, opEnd)
	bodies := []byte{13}
	for _, f := range [][]byte{setParams, tilesBody(), outBody(6), outBody(5), inBody(6), inBody(5), edgesBody(), pairsBody(), packBody(),
		softmaxBody(false), addBody(), softmaxBody(true), gatherBody()} {
		bodies = appendU32(bodies, uint32(len(f)))
		bodies = append(bodies, f...)
	}
	return section(m, 10, bodies)
}

// Locals of tiles: i32 then v128.
const (
	lA = iota
	lB
	lC
	lPanBytes // kb·16: bytes of one 4-wide panel
	lAPanels
	lBPanels
	lLDC
	lAdd
	lIP
	lJP
	lAPan0
	lAPan1
	lBPan
	lP
	lCPtr
	lParams
	numI32
	lAcc    = numI32   // lAcc+r: row r of the tile, 4 columns
	lBV     = lAcc + 8 // the B panel's 4 values at the current k
	numV128 = lBV + 1 - numI32
)

// tilesBody is the code of tiles(): the A panels two at a time (8×4 tiles,
// 8 accumulators, one B load and 8 splat loads per k), then a last odd A
// panel (4×4 tiles), every B panel for each.
func tilesBody() code {
	c := newBody(numI32, numV128, lParams, []param{{lA, paramA}, {lB, paramB}, {lC, paramC}, {lPanBytes, paramKB},
		{lAPanels, paramAPanels}, {lBPanels, paramBPanels}, {lLDC, paramLDC}, {lAdd, paramAdd}})
	c.get(lPanBytes)
	c.i32(4)
	c.op(opI32Shl)
	c.set(lPanBytes)

	// for ip := 0; ip+1 < aPanels; ip += 2 { rowTiles(2) }
	c.i32(0)
	c.set(lIP)
	c.loopUntil(lIP, 1, lAPanels)
	c.rowTiles(2)
	c.next(lIP, 2)
	// if ip < aPanels { rowTiles(1) }
	c.get(lIP)
	c.get(lAPanels)
	c.op(opI32LtU, opIf, blockVoid)
	c.rowTiles(1)
	c.op(opEnd, opEnd)
	return c
}

// rowTiles emits the tiles of the A panels ip..ip+panels-1 against every
// B panel.
func (c *code) rowTiles(panels int) {
	rows := 4 * panels
	// aPan0 = a + ip·panBytes; aPan1 = aPan0 + panBytes
	c.get(lA)
	c.get(lIP)
	c.get(lPanBytes)
	c.op(opI32Mul, opI32Add)
	c.set(lAPan0)
	if panels == 2 {
		c.get(lAPan0)
		c.get(lPanBytes)
		c.op(opI32Add)
		c.set(lAPan1)
	}
	c.i32(0)
	c.set(lJP)
	c.loopUntil(lJP, 0, lBPanels)
	// bPan = b + jp·panBytes; accumulators = 0
	c.get(lB)
	c.get(lJP)
	c.get(lPanBytes)
	c.op(opI32Mul, opI32Add)
	c.set(lBPan)
	for r := range rows {
		c.zero()
		c.set(uint32(lAcc + r))
	}
	// for p := 0; p < panBytes; p += 16 (kb >= 1)
	c.i32(0)
	c.set(lP)
	c.op(opLoop, blockVoid)
	c.get(lBPan)
	c.get(lP)
	c.op(opI32Add)
	c.simd(simdLoad, 2, 0)
	c.set(lBV)
	for r := range rows {
		acc := uint32(lAcc + r)
		pan := uint32(lAPan0)
		if r >= 4 {
			pan = lAPan1
		}
		c.get(acc)
		c.get(pan)
		c.get(lP)
		c.op(opI32Add)
		c.simd(simdLoad32Splat, 2, uint32(4*(r%4)))
		c.get(lBV)
		c.simd(simdF32x4Mul)
		c.simd(simdF32x4Add)
		c.set(acc)
	}
	c.get(lP)
	c.i32(16)
	c.op(opI32Add)
	c.op(opLocalTee)
	c.u32(lP)
	c.get(lPanBytes)
	c.op(opI32LtU, opBrIf, 0, opEnd)
	// cPtr = c + (ip·4)·ldc + jp·16, then one row per ldc
	c.get(lC)
	c.get(lIP)
	c.get(lLDC)
	c.op(opI32Mul)
	c.i32(2)
	c.op(opI32Shl, opI32Add)
	c.get(lJP)
	c.i32(4)
	c.op(opI32Shl, opI32Add)
	c.set(lCPtr)
	c.get(lAdd)
	c.op(opIf, blockVoid)
	c.storeRows(rows, true)
	c.op(opElse)
	c.storeRows(rows, false)
	c.op(opEnd)
	c.next(lJP, 1)
}

// storeRows stores the accumulators into rows cPtr, cPtr+ldc, ... (adding
// to what is there when add). It advances cPtr.
func (c *code) storeRows(rows int, add bool) {
	for r := range rows {
		if r > 0 {
			c.get(lCPtr)
			c.get(lLDC)
			c.op(opI32Add)
			c.set(lCPtr)
		}
		c.get(lCPtr)
		if add {
			c.get(lCPtr)
			c.simd(simdLoad, 2, 0)
			c.get(uint32(lAcc + r))
			c.simd(simdF32x4Add)
		} else {
			c.get(uint32(lAcc + r))
		}
		c.simd(simdStore, 2, 0)
	}
}
