//go:build js && wasm

package simd128

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall/js"
	"unsafe"

	"ctvae/runtime/kernels"
)

// MemoryGlobal is the global the host sets to the Go instance's
// WebAssembly.Memory (instance.exports.mem) before running the program:
// a Go program cannot reach its own memory object otherwise.
const MemoryGlobal = "ctvaeGoMemory"

var (
	tilesFn js.Value
	// params is the parameter block tiles() reads; on the heap, so its
	// address stays fixed.
	params = new([paramWords]uint32)
)

// Install compiles the kernel module against the memory the host
// published as globalThis.ctvaeGoMemory, checks it against the Go kernel
// on random panels and installs it with kernels.SetPanelKernel. On any
// error nothing is installed and the Go kernel stays in use.
func Install() (err error) {
	if rows, cols := kernels.PanelTile(); rows != 4 || cols != 4 {
		return fmt.Errorf("simd128: the kernels' register tile is %d×%d, the module is written for 4×4", rows, cols)
	}
	defer func() {
		// syscall/js panics with a js.Error when JavaScript throws.
		if r := recover(); r != nil {
			err = fmt.Errorf("simd128: %v", r)
		}
	}()
	mem := js.Global().Get(MemoryGlobal)
	if !mem.InstanceOf(js.Global().Get("WebAssembly").Get("Memory")) {
		return errors.New("simd128: globalThis." + MemoryGlobal + " is not a WebAssembly.Memory (the host must set it to the Go instance's exports.mem)")
	}
	wa := js.Global().Get("WebAssembly")
	mod := Module()
	buf := js.Global().Get("Uint8Array").New(len(mod))
	js.CopyBytesToJS(buf, mod)
	if !wa.Call("validate", buf).Bool() {
		return errors.New("simd128: this WebAssembly engine rejects the module (no SIMD support)")
	}
	env := js.Global().Get("Object").New()
	env.Set("mem", mem)
	imports := js.Global().Get("Object").New()
	imports.Set("env", env)
	inst := wa.Get("Instance").New(wa.Get("Module").New(buf), imports)
	exports := inst.Get("exports")
	exports.Call("setParams", int(uintptr(unsafe.Pointer(params))))
	tilesFn = exports.Get("tiles")
	if err := selfCheck(); err != nil {
		tilesFn = js.Value{}
		return err
	}
	kernels.SetPanelKernel(Tiles)
	return nil
}

// Uninstall restores the Go kernel.
func Uninstall() { kernels.SetPanelKernel(nil) }

// Tiles is the kernels.PanelKernel running the module. It checks the
// slice lengths itself, since the module reads and writes memory directly.
func Tiles(a, b, c []float32, kb, aPanels, bPanels, ldc int, add bool) {
	if kb < 1 || aPanels < 1 || bPanels < 1 || len(a) < aPanels*4*kb || len(b) < bPanels*4*kb ||
		len(c) < (aPanels*4-1)*ldc+bPanels*4 {
		panic(fmt.Sprintf("simd128: Tiles: kb %d, %d×%d panels, ldc %d on slices of %d, %d, %d",
			kb, aPanels, bPanels, ldc, len(a), len(b), len(c)))
	}
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

// selfCheck compares the installed module with the Go kernel on a few
// shapes covering both tile heights, one and many k steps, and add.
func selfCheck() error {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range [][4]int{{1, 1, 1, 4}, {3, 3, 2, 9}, {17, 2, 3, 13}} {
		if err := CompareTiles(Tiles, r, s[0], s[1], s[2], s[3]); err != nil {
			return err
		}
	}
	return nil
}
