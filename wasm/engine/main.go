//go:build js && wasm

// Command engine is the CT-VAE engine: a Go wasm program for a dedicated Web
// Worker (bootstrapped by wasm/js/engine-worker.js). It moves messages
// between JavaScript and a dispatch.Server; the protocol is documented in
// wasm/protocol. All JavaScript access goes through safejs, so a JS
// exception is an error here, never a panic.
package main

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/hack-pad/safejs"

	"ctvae/wasm/dispatch"
	"ctvae/wasm/protocol"
	"ctvae/wasm/simd128"
)

func main() {
	if err := run(); err != nil {
		// The bootstrap reports the exit to the page, which restarts the worker.
		fmt.Println("engine:", err)
	}
}

func run() error {
	self := safejs.Global()
	perf, err := self.Get("performance")
	if err != nil {
		return err
	}
	start := time.Now()
	now := func() float64 {
		if v, err := perf.Call("now"); err == nil {
			if ms, err := v.Float(); err == nil {
				return ms
			}
		}
		return float64(time.Since(start).Microseconds()) / 1000
	}
	y, err := newYielder()
	if err != nil {
		return err
	}
	srv := dispatch.NewServer(dispatch.NewEngine(now), func(r protocol.Response) { post(self, r) }, y.yield)
	onMessage, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) (ret any) {
		defer func() {
			if r := recover(); r != nil {
				post(self, protocol.ErrorResponse(-1, protocol.Errorf(protocol.CodeInternal, "engine: message handler crashed (%v); the worker is still running", r)))
			}
		}()
		if len(args) == 0 {
			return nil
		}
		head, bufs, err := readMessage(args[0])
		if err != nil {
			post(self, protocol.ErrorResponse(-1, protocol.Errorf(protocol.CodeBadRequest, "engine: %v", err)))
			return nil
		}
		srv.Receive(head, bufs)
		return nil
	})
	if err != nil {
		return err
	}
	if err := self.Set("onmessage", onMessage.Value()); err != nil {
		return err
	}
	ready := protocol.Head{ID: -1, Type: protocol.TypeReady, Kernel: "simd128"}
	if err := simd128.Install(); err != nil {
		ready.Kernel, ready.Message = "go", err.Error()
		fmt.Println("engine: the WebAssembly SIMD kernel is off, using Go's:", err)
	}
	_, _ = perf.Call("mark", "engine:ready") // for the load benchmark
	post(self, protocol.Response{Head: ready})
	srv.Run(context.Background())
	return nil
}

// yielder returns control to the JavaScript event loop and back: yield posts
// on a MessageChannel and blocks until its onmessage callback wakes it. A
// MessageChannel task, unlike setTimeout(0), is not clamped to 4 ms.
type yielder struct {
	port safejs.Value
	wake chan struct{}
}

func newYielder() (*yielder, error) {
	ctor, err := safejs.Global().Get("MessageChannel")
	if err != nil {
		return nil, err
	}
	ch, err := ctor.New()
	if err != nil {
		return nil, fmt.Errorf("engine: new MessageChannel: %w", err)
	}
	y := &yielder{wake: make(chan struct{}, 1)}
	if y.port, err = ch.Get("port2"); err != nil {
		return nil, err
	}
	port1, err := ch.Get("port1")
	if err != nil {
		return nil, err
	}
	fn, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		select {
		case y.wake <- struct{}{}:
		default:
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := port1.Set("onmessage", fn.Value()); err != nil {
		return nil, err
	}
	return y, nil
}

func (y *yielder) yield() {
	if _, err := y.port.Call("postMessage", 0); err != nil {
		return // no way back to the event loop: go on without yielding
	}
	<-y.wake
}

// readMessage reads {head: string, bufs: [ArrayBuffer | TypedArray, ...]}.
func readMessage(ev safejs.Value) ([]byte, [][]byte, error) {
	data, err := ev.Get("data")
	if err != nil {
		return nil, nil, err
	}
	if data.Type() != safejs.TypeObject || data.IsNull() {
		return nil, nil, fmt.Errorf("message is %s, want an object {head, bufs}", data.Type())
	}
	hv, err := data.Get("head")
	if err != nil {
		return nil, nil, err
	}
	if hv.Type() != safejs.TypeString {
		return nil, nil, fmt.Errorf("message head is %s, want a JSON string", hv.Type())
	}
	head, err := hv.String()
	if err != nil {
		return nil, nil, err
	}
	if len(head) > protocol.MaxHeadBytes {
		return nil, nil, fmt.Errorf("message head of %d bytes, want at most %d", len(head), protocol.MaxHeadBytes)
	}
	bv, err := data.Get("bufs")
	if err != nil {
		return nil, nil, err
	}
	if bv.IsUndefined() || bv.IsNull() {
		return []byte(head), nil, nil
	}
	count, err := bv.Length()
	if err != nil {
		return nil, nil, fmt.Errorf("message bufs is not an array: %w", err)
	}
	if count > protocol.MaxBuffers {
		return nil, nil, fmt.Errorf("message has %d buffers, want at most %d", count, protocol.MaxBuffers)
	}
	u8, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return nil, nil, err
	}
	bufs := make([][]byte, count)
	for i := range bufs {
		v, err := bv.Index(i)
		if err != nil {
			return nil, nil, err
		}
		if bufs[i], err = copyBuffer(u8, v); err != nil {
			return nil, nil, fmt.Errorf("message buffer %d: %w", i, err)
		}
	}
	return []byte(head), bufs, nil
}

// copyBuffer copies an ArrayBuffer or a typed array view into Go memory in
// one CopyBytesToGo.
func copyBuffer(u8 safejs.Value, v safejs.Value) ([]byte, error) {
	var view safejs.Value
	var err error
	if ab, _ := v.Get("byteOffset"); ab.Type() == safejs.TypeNumber {
		buf, err := v.Get("buffer")
		if err != nil {
			return nil, err
		}
		off, _ := v.Get("byteOffset")
		n, _ := v.Get("byteLength")
		view, err = u8.New(buf, off, n)
		if err != nil {
			return nil, err
		}
	} else if view, err = u8.New(v); err != nil {
		return nil, fmt.Errorf("want an ArrayBuffer or a typed array: %w", err)
	}
	n, err := view.Length()
	if err != nil {
		return nil, err
	}
	if n > protocol.MaxWeightsBytes {
		return nil, fmt.Errorf("%d bytes, want at most %d", n, protocol.MaxWeightsBytes)
	}
	b := make([]byte, n)
	if _, err := safejs.CopyBytesToGo(b, view); err != nil {
		return nil, err
	}
	return b, nil
}

// post sends a response; its arrays are copied into fresh JS buffers (one
// CopyBytesToJS each) and transferred, not cloned.
func post(self safejs.Value, r protocol.Response) {
	if err := postErr(self, r); err != nil && r.Head.Type != protocol.TypeError {
		// Tell the page rather than leave its promise hanging.
		_ = postErr(self, protocol.ErrorResponse(r.Head.ID, protocol.Errorf(protocol.CodeInternal, "engine: posting the %s response failed: %v", r.Head.Op, err)))
	}
}

func postErr(self safejs.Value, r protocol.Response) error {
	obj, err := safejs.ValueOf(map[string]any{"head": string(protocol.MarshalHead(r.Head))})
	if err != nil {
		return err
	}
	arrays, err := safejs.ValueOf(map[string]any{})
	if err != nil {
		return err
	}
	var transfer []any
	for _, a := range r.Arrays {
		ta, err := typedArray(a)
		if err != nil {
			return fmt.Errorf("array %q: %w", a.Name, err)
		}
		if err := arrays.Set(a.Name, ta); err != nil {
			return err
		}
		buf, err := ta.Get("buffer")
		if err != nil {
			return err
		}
		transfer = append(transfer, buf)
	}
	if err := obj.Set("arrays", arrays); err != nil {
		return err
	}
	_, err = self.Call("postMessage", obj, transfer)
	return err
}

func typedArray(a protocol.Array) (safejs.Value, error) {
	ctorName, n := "Float32Array", len(a.F32)
	var raw []byte
	if a.I32 != nil {
		ctorName, n = "Int32Array", len(a.I32)
		if n > 0 {
			raw = unsafe.Slice((*byte)(unsafe.Pointer(&a.I32[0])), 4*n)
		}
	} else if n > 0 {
		// wasm is little-endian, as are the typed arrays of every browser.
		raw = unsafe.Slice((*byte)(unsafe.Pointer(&a.F32[0])), 4*n)
	}
	u8ctor, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return safejs.Value{}, err
	}
	u8, err := u8ctor.New(4 * n)
	if err != nil {
		return safejs.Value{}, err
	}
	if n > 0 {
		if _, err := safejs.CopyBytesToJS(u8, raw); err != nil {
			return safejs.Value{}, err
		}
	}
	buf, err := u8.Get("buffer")
	if err != nil {
		return safejs.Value{}, err
	}
	ctor, err := safejs.Global().Get(ctorName)
	if err != nil {
		return safejs.Value{}, err
	}
	return ctor.New(buf)
}
