//go:build js && wasm

package simd128

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall/js"
	"unsafe"

	"github.com/hack-pad/safejs"

	"ctvae/runtime/causal"
	"ctvae/runtime/kernels"
)

// MemoryGlobal is the global the host sets to the Go instance's
// WebAssembly.Memory (instance.exports.mem) before running the program:
// a Go program cannot reach its own memory object otherwise.
const MemoryGlobal = "ctvaeGoMemory"

var (
	// tilesFn is the module's tiles(), called through syscall/js: safejs's
	// Invoke allocates on every call, and tiles() can throw only on a wild
	// address, which Tiles rules out (a throw would be a bug, and panics).
	tilesFn, out6Fn, out5Fn, in6Fn, in5Fn, edgesFn, pairsFn, packFn, softmaxFn, softmax1Fn, addFn, gatherFn js.Value
	// params is the parameter block tiles() reads; on the heap, so its
	// address stays fixed.
	params = new([paramTotalWords]uint32)
	// callMu makes the calls one at a time (the engine makes them from
	// one goroutine; a second caller must not rewrite the block meanwhile).
	callMu sync.Mutex
	// headTabs holds EdgeSums' per-head tables (2q·4, then the tail signs)
	// while the module reads them; it grows, under callMu, to the most
	// heads seen.
	headTabs []uint32
)

// Install compiles the kernel module against the memory the host
// published as globalThis.ctvaeGoMemory, checks it against the Go kernel
// on random panels and installs it with kernels.SetPanelKernel. On any
// error nothing is installed and the Go kernel stays in use.
func Install() error {
	if rows, cols := kernels.PanelTile(); rows != 4 || cols != 4 {
		return fmt.Errorf("simd128: the kernels' register tile is %d×%d, the module is written for 4×4", rows, cols)
	}
	global := safejs.Global()
	wa, err := global.Get("WebAssembly")
	if err != nil || wa.Type() != safejs.TypeObject {
		return errors.New("simd128: this JavaScript engine has no WebAssembly object")
	}
	memType, err := wa.Get("Memory")
	if err != nil {
		return fmt.Errorf("simd128: %w", err)
	}
	mem, err := global.Get(MemoryGlobal)
	if err != nil {
		return fmt.Errorf("simd128: %w", err)
	}
	if ok, _ := mem.InstanceOf(memType); !ok {
		return errors.New("simd128: globalThis." + MemoryGlobal + " is not a WebAssembly.Memory (the host must set it to the Go instance's exports.mem)")
	}
	mod := []byte(moduleData) // Module(), generated: building it cold costs ~170 ms
	u8, err := global.Get("Uint8Array")
	if err != nil {
		return fmt.Errorf("simd128: %w", err)
	}
	buf, err := u8.New(len(mod))
	if err != nil {
		return fmt.Errorf("simd128: %w", err)
	}
	if _, err := safejs.CopyBytesToJS(buf, mod); err != nil {
		return fmt.Errorf("simd128: %w", err)
	}
	valid, err := wa.Call("validate", buf)
	if err != nil {
		return fmt.Errorf("simd128: WebAssembly.validate: %w", err)
	}
	if ok, _ := valid.Bool(); !ok {
		return errors.New("simd128: this WebAssembly engine rejects the module (no SIMD support)")
	}
	exports, err := instantiate(wa, buf, mem)
	if err != nil {
		return fmt.Errorf("simd128: %w", err)
	}
	if _, err := exports.Call("setParams", int(uintptr(unsafe.Pointer(params)))); err != nil {
		return fmt.Errorf("simd128: setParams: %w", err)
	}
	for _, f := range []struct {
		name string
		fn   *js.Value
	}{{"tiles", &tilesFn}, {"out6", &out6Fn}, {"out5", &out5Fn}, {"in6", &in6Fn}, {"in5", &in5Fn},
		{"edges4", &edgesFn}, {"pairs8", &pairsFn}, {"pack4", &packFn}, {"softmax4", &softmaxFn}, {"add4", &addFn}, {"softmax1", &softmax1Fn}, {"gather", &gatherFn}} {
		v, err := exports.Get(f.name)
		if err != nil {
			return fmt.Errorf("simd128: %w", err)
		}
		if v.Type() != safejs.TypeFunction {
			return errors.New("simd128: the module exports no function " + f.name)
		}
		*f.fn = safejs.Unsafe(v)
	}
	if err := selfCheck(); err != nil {
		return err
	}
	kernels.SetPanelKernel(Tiles)
	kernels.SetWinogradOutputKernel(WinogradOutput)
	kernels.SetWinogradInputKernel(WinogradInput)
	causal.SetKernels(causal.Kernels{EdgeSums: EdgeSums, PairSums: PairSums, Softmax: Softmax, Gather: Gather})
	kernels.SetEltwiseKernel(Eltwise)
	kernels.SetPackKernel(Pack)
	return nil
}

// instantiate compiles the module synchronously (about 20 KB: allowed off
// the main thread, and fast) with mem as env.mem and returns its exports.
func instantiate(wa, buf, mem safejs.Value) (safejs.Value, error) {
	modType, err := wa.Get("Module")
	if err != nil {
		return safejs.Value{}, err
	}
	module, err := modType.New(buf)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("compiling the module: %w", err)
	}
	instType, err := wa.Get("Instance")
	if err != nil {
		return safejs.Value{}, err
	}
	// safejs converts the Value inside the maps of an argument.
	inst, err := instType.New(module, map[string]any{"env": map[string]any{"mem": mem}})
	if err != nil {
		return safejs.Value{}, fmt.Errorf("instantiating the module: %w", err)
	}
	return inst.Get("exports")
}

// Uninstall restores the Go kernels.
func Uninstall() {
	kernels.SetPanelKernel(nil)
	kernels.SetWinogradOutputKernel(nil)
	kernels.SetWinogradInputKernel(nil)
	causal.SetKernels(causal.Kernels{})
	kernels.SetEltwiseKernel(nil)
	kernels.SetPackKernel(nil)
}

// Pack is the kernels.PackKernel running the module; like Tiles it checks
// the slice lengths itself.
func Pack(dst, a []float32, lda, panels, kb int) {
	if panels < 1 || kb < 1 || lda < kb || len(dst) < panels*4*kb || len(a) < (panels*4-1)*lda+kb {
		panic(fmt.Sprintf("simd128: Pack: %d panels, kb %d, lda %d on slices of %d and %d", panels, kb, lda, len(dst), len(a)))
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	p := params
	p[paramPackDst/4] = addr(dst)
	p[paramPackA/4] = addr(a)
	p[paramPackLDA/4] = uint32(4 * lda)
	p[paramPackPanels/4] = uint32(panels)
	p[paramPackKB/4] = uint32(kb)
	packFn.Invoke()
}

// EdgeSums is the causal.EdgeSums running the module; like Tiles it checks
// the slice lengths itself.
func EdgeSums(x []float32, rows []int32, y, e, t []float32, n int, q []int, neg []bool, s []float32) {
	heads := len(q)
	bad := len(t)%4 != 0 || len(rows) != len(t) || len(neg) != heads || len(s) < heads*len(t) || n < 1 ||
		len(y) < heads*n || len(e) < heads*n || (len(rows) > 0 && (slices.Min(rows) < 0 || int(slices.Max(rows))+heads*n > len(x)))
	for _, v := range q {
		bad = bad || v < 0 || 2*v > n
	}
	if bad {
		panic(fmt.Sprintf("simd128: EdgeSums: %d edges, %d heads, n %d on slices of %d, %d, %d, %d, %d, %d",
			len(t), heads, n, len(x), len(rows), len(y), len(e), len(s), len(neg)))
	}
	if len(t) == 0 || heads == 0 {
		return
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	if cap(headTabs) < 2*heads {
		headTabs = make([]uint32, 2*heads)
	}
	tabs := headTabs[:2*heads]
	for h, v := range q {
		tabs[h], tabs[heads+h] = uint32(8*v), b2u(neg[h])
	}
	p := params
	p[paramSumX/4] = addr(x)
	p[paramSumRows/4] = uint32(uintptr(unsafe.Pointer(unsafe.SliceData(rows))))
	p[paramSumY/4] = addr(y)
	p[paramSumE/4] = addr(e)
	p[paramSumT/4] = addr(t)
	p[paramSumN/4] = uint32(4 * n)
	p[paramSumS/4] = addr(s)
	p[paramSumCount/4] = uint32(len(t) / 4)
	p[paramSumHeads/4] = uint32(heads)
	p[paramSumQTab/4] = uint32(uintptr(unsafe.Pointer(&tabs[0])))
	p[paramSumNegTab/4] = uint32(uintptr(unsafe.Pointer(&tabs[heads])))
	edgesFn.Invoke()
}

// PairSums is the causal.PairSums running the module; like Tiles it checks
// the slice lengths itself.
func PairSums(x0, x1, y []float32, n, count, q int, neg bool, s0, s1 []float32) {
	if count < 0 || count%4 != 0 || n < 1 || q < 0 || 2*q > n || len(x0) < n || len(x1) < n || len(y) < count*n ||
		len(s0) < count || len(s1) < count {
		panic(fmt.Sprintf("simd128: PairSums: %d targets, n %d, q %d on slices of %d, %d, %d, %d, %d",
			count, n, q, len(x0), len(x1), len(y), len(s0), len(s1)))
	}
	if count == 0 {
		return
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	p := params
	p[paramSumX/4] = addr(x0)
	p[paramSumRows/4] = addr(x1)
	p[paramSumY/4] = addr(y)
	p[paramSumN/4] = uint32(4 * n)
	p[paramSumM/4] = uint32(8 * q)
	p[paramSumNeg/4] = b2u(neg)
	p[paramSumS/4] = addr(s0)
	p[paramSumS1/4] = addr(s1)
	p[paramSumCount/4] = uint32(count)
	pairsFn.Invoke()
}

// Softmax is the causal.EdgeSoftmax running the module: one head, or four
// heads or more, stopping at a group the module leaves to the Go code (2 or
// 3 heads are left to it too); like Tiles it checks the slice length
// itself.
func Softmax(sc []float32, edges, heads int) int {
	if edges < 1 || heads < 1 || len(sc) < edges*heads {
		panic(fmt.Sprintf("simd128: Softmax: %d edges × %d heads on a slice of %d", edges, heads, len(sc)))
	}
	if heads > 1 && heads < 4 {
		return 0
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	p := params
	p[paramSmxSc/4] = addr(sc)
	p[paramSmxEdges/4] = uint32(edges)
	p[paramSmxStride/4] = uint32(4 * heads)
	if heads == 1 {
		p[paramSmxGroups/4] = 1
		p[paramSmxTail/4] = 0
		softmax1Fn.Invoke()
		return min(int(p[paramSmxDone/4]), 1) // the module counts a group as 4
	}
	p[paramSmxGroups/4] = uint32(heads / 4)
	p[paramSmxTail/4] = 0
	if r := heads % 4; r != 0 {
		p[paramSmxTail/4] = uint32(4 - r)
	}
	softmaxFn.Invoke()
	return int(p[paramSmxDone/4])
}

// Eltwise is the kernels.EltwiseKernel running the module on the whole
// groups of four floats and kernels.EltwiseGo on the last len(dst)%4; like
// Tiles it checks the slice lengths itself.
func Eltwise(dst, x, y []float32, leaky bool, slope float32) {
	n := len(dst)
	if len(x) < n || (y != nil && len(y) < n) {
		panic(fmt.Sprintf("simd128: Eltwise: %d floats from slices of %d and %d", n, len(x), len(y)))
	}
	if g := n / 4; g > 0 {
		callMu.Lock() // one parameter block serves every call
		p := params
		p[paramAddDst/4] = addr(dst)
		p[paramAddX/4] = addr(x)
		p[paramAddY/4] = addr(y)
		p[paramAddFlags/4] = 2 * b2u(leaky)
		if y != nil {
			p[paramAddFlags/4] |= 1
		}
		p[paramAddSlope/4] = math.Float32bits(slope)
		p[paramAddGroups/4] = uint32(g)
		addFn.Invoke()
		callMu.Unlock()
	}
	if r := n / 4 * 4; r < n {
		var yr []float32
		if y != nil {
			yr = y[r:]
		}
		kernels.EltwiseGo(dst[r:], x[r:], yr, leaky, slope)
	}
}

// Gather is the causal.Gather running the module on the whole groups of
// four columns and causal.GatherGo on the last len(out)%4; like Tiles it
// checks the slice lengths itself.
func Gather(out, w []float32, src []int32, x []float32, stride int, fours bool) {
	n, d := len(w), len(out)
	if len(src) < n || stride < d || (n > 0 && (slices.Min(src[:n]) < 0 || int(slices.Max(src[:n]))*stride+d > len(x))) {
		panic(fmt.Sprintf("simd128: Gather: %d edges, %d columns, stride %d on slices of %d and %d", n, d, stride, len(src), len(x)))
	}
	if g := d / 4; g > 0 {
		callMu.Lock() // one parameter block serves every call
		p := params
		p[paramGatOut/4] = addr(out)
		p[paramGatW/4] = addr(w)
		p[paramGatSrc/4] = uint32(uintptr(unsafe.Pointer(unsafe.SliceData(src))))
		p[paramGatX/4] = addr(x)
		p[paramGatStride/4] = uint32(4 * stride)
		p[paramGatCount/4] = uint32(n)
		p[paramGatCols16/4] = uint32(d / 16 * 64)
		p[paramGatCols4/4] = uint32(g * 16)
		p[paramGatFours/4] = b2u(fours)
		gatherFn.Invoke()
		callMu.Unlock()
	}
	if r := d / 4 * 4; r < d {
		causal.GatherGo(out[r:], w, src, x[r:], stride, fours)
	}
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// WinogradInput is the kernels.WinogradInputKernel running the module;
// like Tiles it checks the slice lengths itself.
func WinogradInput(pad []float32, plane, cin int, offs []int32, wp int, v []float32, vsz, a int) {
	tn := len(offs)
	if (a != 5 && a != 6) || cin < 1 || tn < 4 || tn%4 != 0 || tn > 512 || wp < a || plane < a*wp ||
		slices.Min(offs) < 0 || (cin-1)*plane+int(slices.Max(offs))+(a-1)*wp+a > len(pad) ||
		vsz < kernels.PackedBSize(cin, tn) || len(v) < (a*a-1)*vsz+kernels.PackedBSize(cin, tn) {
		panic(fmt.Sprintf("simd128: WinogradInput: a %d, %d channels, %d tiles, wp %d, plane %d, vsz %d on slices of %d and %d",
			a, cin, tn, wp, plane, vsz, len(pad), len(v)))
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	p := params
	p[paramInPad/4] = addr(pad)
	p[paramInPlane/4] = uint32(4 * plane)
	p[paramInCIn/4] = uint32(cin)
	p[paramInOffs/4] = uint32(uintptr(unsafe.Pointer(unsafe.SliceData(offs))))
	p[paramInTN/4] = uint32(tn)
	p[paramInWP/4] = uint32(4 * wp)
	p[paramInV/4] = addr(v)
	p[paramInVSZ/4] = uint32(4 * vsz)
	if a == 6 {
		in6Fn.Invoke()
	} else {
		in5Fn.Invoke()
	}
}

// WinogradOutput is the kernels.WinogradOutputKernel running the module;
// like Tiles it checks the slice lengths itself.
func WinogradOutput(m []float32, xiStride, count, tn, a int, y []float32) {
	if (a != 5 && a != 6) || count < 1 || tn < 4 || tn%4 != 0 || xiStride < count*tn ||
		len(m) < (a*a-1)*xiStride+count*tn || len(y) < count*tn*16 {
		panic(fmt.Sprintf("simd128: WinogradOutput: a %d, %d channels, %d tiles, ξ stride %d on slices of %d and %d",
			a, count, tn, xiStride, len(m), len(y)))
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	p := params
	p[paramOutM/4] = addr(m)
	p[paramOutXS/4] = uint32(4 * xiStride)
	p[paramOutCount/4] = uint32(count)
	p[paramOutTN/4] = uint32(tn)
	p[paramOutY/4] = addr(y)
	if a == 6 {
		out6Fn.Invoke()
	} else {
		out5Fn.Invoke()
	}
}

// Tiles is the kernels.PanelKernel running the module. It checks the
// slice lengths itself, since the module reads and writes memory directly.
func Tiles(a, b, c []float32, kb, aPanels, bPanels, ldc int, add bool) {
	if kb < 1 || aPanels < 1 || bPanels < 1 || len(a) < aPanels*4*kb || len(b) < bPanels*4*kb ||
		len(c) < (aPanels*4-1)*ldc+bPanels*4 {
		panic(fmt.Sprintf("simd128: Tiles: kb %d, %d×%d panels, ldc %d on slices of %d, %d, %d",
			kb, aPanels, bPanels, ldc, len(a), len(b), len(c)))
	}
	callMu.Lock() // one parameter block serves every call
	defer callMu.Unlock()
	p := params
	p[paramA/4] = addr(a)
	p[paramB/4] = addr(b)
	p[paramC/4] = addr(c)
	p[paramKB/4] = uint32(kb)
	p[paramAPanels/4] = uint32(aPanels)
	p[paramBPanels/4] = uint32(bPanels)
	p[paramLDC/4] = uint32(4 * ldc)
	p[paramAdd/4] = 0
	if add {
		p[paramAdd/4] = 1
	}
	tilesFn.Invoke()
}

// addr is the linear-memory address of s[0] (a wasm pointer).
func addr(s []float32) uint32 { return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(s)))) }

// selfCheck compares the installed module with the Go code once at
// start-up, on the smallest inputs: the tiles (both heights; multiplies and
// adds) and the pack (loads, shuffles, stores). The other functions use the
// same instruction kinds and are compared bit for bit by the test suite
// (node and Chromium); checking them here too cost 20-28 ms of cold code
// on every page load.
func selfCheck() error {
	r := rand.New(rand.NewPCG(1, 2))
	if err := CompareTiles(Tiles, r, 3, 3, 1, 5); err != nil {
		return err
	}
	return ComparePack(Pack, r, 1, 5, 6)
}
