//go:build js && wasm

package main

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/hack-pad/safejs"

	"ctvae/ui"
	"ctvae/ui/state"
	"ctvae/wasm/protocol"
)

// weightsCache is the Cache API store of downloaded weights, keyed by their
// content-hashed path; the service worker keeps its own caches apart
// (ctvae-site-*) and leaves this one alone. ui/static/start.js names it too
// (it reads the first weights early, see earlyWeights).
const weightsCache = "ctvae-weights-v1"

// platform implements ui.Platform with safejs. The engine is reached by
// posting wasm/protocol messages to the worker directly rather than through
// ctvae.js: the Go page already has the protocol's encoder and types, and
// an ES module's promises would have to be bridged back anyway.
type platform struct {
	global, doc safejs.Value
	assets      assets
	start       time.Time

	mu     sync.Mutex
	worker safejs.Value
	// ready is closed when requests may be posted to the current worker:
	// it said ready and, after a crash, the reload of the last weights was
	// posted first (the worker runs requests in order, so nothing reaches
	// it before its model).
	ready      chan struct{}
	pending    map[int64]*call
	nextID     int64
	lastLoad   *protocol.Request // the last successful load (weights and checksum), repeated after a crash
	restarting bool              // a restarted worker has not reloaded the weights yet
	kernel     string            // the engine's kernels, from its ready message
	dead       error             // set when the engine could not be restarted
	onRestart  func(ui.Restart)
	listeners  []safejs.Func
	measures   int // performance measures since the last clear (render loop only)
	// weightsAsked is set by the first Weights call (see earlyWeights).
	weightsAsked bool
	// ahead are the requests the worker asked itself (its head start, see
	// protocol.Ahead), in order, not yet adopted by a Call (see adopt);
	// aheadSaid is closed at the worker's first announcement, or when none
	// will come; aheadOver once the page asked for something else.
	ahead     []aheadCall
	aheadSaid chan struct{}
	aheadOver bool
}

// aheadCall is a request the worker asked itself, with the call its answer
// goes to.
type aheadCall struct {
	protocol.Ahead
	c *call
}

const maxMeasures = 3000

// assets are the URLs of the engine's files; start.js sets them from the
// build's content-hashed names as self.ctvaeAssets.
type assets struct {
	Worker, WasmExec, Engine, Manifest string
}

type call struct {
	done     chan protocol.Response
	progress func(done, total int)
}

func newPlatform() (*platform, error) {
	g := safejs.Global()
	doc, err := g.Get("document")
	if err != nil {
		return nil, err
	}
	p := &platform{global: g, doc: doc, start: time.Now(), pending: map[int64]*call{}, nextID: 1}
	a, err := g.Get("ctvaeAssets")
	if err != nil || a.IsUndefined() || a.IsNull() {
		return nil, errors.New("self.ctvaeAssets is not set: start.js must run before app.wasm")
	}
	for name, dst := range map[string]*string{"worker": &p.assets.Worker, "wasmExec": &p.assets.WasmExec,
		"engine": &p.assets.Engine, "manifest": &p.assets.Manifest} {
		v, err := a.Get(name)
		if err == nil && v.Type() == safejs.TypeString {
			*dst, _ = v.String()
		}
		if *dst == "" {
			return nil, fmt.Errorf("self.ctvaeAssets.%s is not set", name)
		}
	}
	if err := p.startWorker(nil, ""); err != nil {
		return nil, err
	}
	return p, nil
}

// ---------------------------------------------------------------- engine worker

// startWorker starts an engine worker. After a crash (why != ""), reload
// is the last load request: it is posted to the new worker before any other
// request, and the outcome is reported to the page (OnRestart).
func (p *platform) startWorker(reload *protocol.Request, why string) error {
	w, early, ahead := p.earlyWorker()
	if w.IsUndefined() {
		ctor, err := p.global.Get("Worker")
		if err != nil {
			return err
		}
		if w, err = ctor.New(p.assets.Worker); err != nil {
			return fmt.Errorf("cannot start the engine worker %s: %w", p.assets.Worker, err)
		}
	}
	said := make(chan struct{})
	onMessage, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) > 0 {
			p.receive(w, args[0], said)
		}
		return nil
	})
	if err != nil {
		return err
	}
	onError, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		why := "worker error"
		if len(args) > 0 {
			_, _ = args[0].Call("preventDefault")
			if m, err := args[0].Get("message"); err == nil && m.Type() == safejs.TypeString {
				why, _ = m.String()
			}
		}
		go p.crashed(w, why)
		return nil
	})
	if err != nil {
		return err
	}
	onMessageError, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		go p.crashed(w, "a message from the engine could not be read")
		return nil
	})
	if err != nil {
		return err
	}
	for name, f := range map[string]safejs.Func{"onmessage": onMessage, "onerror": onError, "onmessageerror": onMessageError} {
		if err := w.Set(name, f.Value()); err != nil {
			return err
		}
	}
	ready := make(chan struct{})
	p.mu.Lock()
	p.worker, p.ready = w, ready
	// A worker with a head start announces what it asks (among the early
	// events, or still to come); the page's first request waits for the
	// first announcement.
	p.ahead, p.aheadOver, p.aheadSaid = nil, !ahead, make(chan struct{})
	if !ahead {
		close(p.aheadSaid)
	}
	p.mu.Unlock()
	if early != nil {
		// start.js started this worker and posted its init; what it said
		// since is handled now, in order. No event can come in between:
		// JavaScript runs nothing else while this Go code runs.
		for _, ev := range early {
			t, _ := ev.Get("type")
			switch kind, _ := t.String(); kind {
			case "message":
				p.receive(w, ev, said)
			case "error":
				why := "worker error"
				if m, err := ev.Get("message"); err == nil && m.Type() == safejs.TypeString {
					why, _ = m.String()
				}
				go p.crashed(w, why)
			default:
				go p.crashed(w, "a message from the engine could not be read")
			}
		}
	} else {
		init, err := safejs.ValueOf(map[string]any{"init": map[string]any{"wasmExec": p.assets.WasmExec, "wasm": p.assets.Engine}})
		if err != nil {
			return err
		}
		if _, err = w.Call("postMessage", init); err != nil {
			return err
		}
	}
	go p.started(w, said, ready, reload, why)
	return nil
}

// earlyWorker takes over the engine worker start.js started
// (self.ctvaeEngine), once: its events so far, in order, come with it, and
// whether it has a head start (it announces its own requests). It returns
// undefined when there is none (a restart, or an older start.js).
func (p *platform) earlyWorker() (w safejs.Value, early []safejs.Value, ahead bool) {
	e, err := p.global.Get("ctvaeEngine")
	if err != nil || e.IsUndefined() || e.IsNull() {
		return safejs.Undefined(), nil, false
	}
	_ = p.global.Delete("ctvaeEngine")
	w, err = e.Get("worker")
	if err != nil || w.IsUndefined() || w.IsNull() {
		return safejs.Undefined(), nil, false
	}
	list, err := e.Get("early")
	if err != nil {
		return safejs.Undefined(), nil, false
	}
	n, _ := list.Length()
	early = make([]safejs.Value, 0, n)
	for i := 0; i < n; i++ {
		if ev, err := list.Index(i); err == nil {
			early = append(early, ev)
		}
	}
	v, err := e.Get("ahead")
	return w, early, err == nil && truthy(v)
}

// announced records a request the worker asked itself ({"type":"ahead"};
// id -1: it asks nothing), unless the page already went its own way.
func (p *platform) announced(hs string, data safejs.Value) {
	var a struct {
		ID     int64  `json:"id"`
		Op     string `json:"op"`
		SHA256 string `json:"sha256"`
		Size   int    `json:"size"`
		Seed   uint64 `json:"seed"`
	}
	ok := json.Unmarshal([]byte(hs), &a) == nil && a.ID >= protocol.AheadIDs
	if !ok {
		p.Mark("ahead-none") // for the tests: the worker asked nothing (or said something unreadable)
	}
	ahead := protocol.Ahead{ID: a.ID, Op: protocol.Op(a.Op), SHA256: a.SHA256, Size: a.Size, Seed: a.Seed}
	if ok && ahead.Op == protocol.OpReconstruct {
		arrays, err := readArrays(data)
		ok = err == nil && len(arrays) == 1 && arrays[0].Name == "image" && arrays[0].F32 != nil
		if ok {
			ahead.Image = arrays[0].F32
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ok {
		p.endAhead()
		return
	}
	if p.aheadOver {
		return
	}
	c := &call{done: make(chan protocol.Response, 1)}
	p.pending[ahead.ID] = c
	p.ahead = append(p.ahead, aheadCall{ahead, c})
	p.saidAhead()
}

// endAhead drops the worker's head start: what it asked and not yet adopted
// will not be. Called under p.mu.
func (p *platform) endAhead() {
	p.ahead, p.aheadOver = nil, true
	p.saidAhead()
}

// saidAhead closes aheadSaid unless it is closed. Called under p.mu.
func (p *platform) saidAhead() {
	select {
	case <-p.aheadSaid:
	default:
		close(p.aheadSaid)
	}
}

// adopt returns the call of the worker's next own request if its answer
// is the answer to req; the page's first request waits for the worker's
// first announcement. They are adopted in order: once the page asks for
// something else, the rest (a sample of a model the page did not load...)
// is dropped.
func (p *platform) adopt(ctx context.Context, req protocol.Request) *call {
	p.mu.Lock()
	said := p.aheadSaid
	p.mu.Unlock()
	select {
	case <-said:
	case <-ctx.Done():
		return nil
	case <-time.After(time.Minute): // as long as a call waits for a worker to start
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.aheadOver {
		return nil
	}
	if len(p.ahead) == 0 || !p.ahead[0].Answers(req) {
		p.endAhead()
		return nil
	}
	c := p.ahead[0].c
	p.ahead = p.ahead[1:]
	return c
}

// started waits until worker w said ready, posts the reload of the last
// weights when there are any, lets other requests through and reports a
// restart's outcome.
func (p *platform) started(w safejs.Value, said, ready chan struct{}, reload *protocol.Request, why string) {
	select {
	case <-said:
	case <-time.After(time.Minute):
		// Calls give up on their own after a minute; a restart says why
		// (unless this worker crashed meanwhile, which was reported).
		p.mu.Lock()
		current := w.Equal(p.worker)
		p.mu.Unlock()
		if why != "" && current {
			p.report(ui.Restart{Why: why, Done: true, Err: errors.New("the new engine worker did not start within a minute: reload the page")})
		}
		return
	}
	var c *call
	if reload != nil {
		p.mu.Lock()
		if !w.Equal(p.worker) {
			p.mu.Unlock()
			return
		}
		id := p.nextID
		p.nextID++
		c = &call{done: make(chan protocol.Response, 1)}
		p.pending[id] = c
		p.mu.Unlock()
		req := *reload
		req.ID = id
		if err := post(w, req); err != nil {
			c.done <- protocol.ErrorResponse(id, protocol.Errorf(protocol.CodeInternal, "posting the weights: %v", err))
		}
	}
	close(ready)
	if why == "" {
		return
	}
	r := ui.Restart{Why: why, Done: true}
	if c != nil {
		resp := <-c.done
		if resp.Head.Type == protocol.TypeError {
			r.Err = &protocol.Error{Code: resp.Head.Code, Message: resp.Head.Message}
		} else if resp.Head.Info != nil {
			r.Checksum = resp.Head.Info.Checksum
		}
	}
	p.mu.Lock()
	current := w.Equal(p.worker)
	if current {
		p.restarting = false
	}
	p.mu.Unlock()
	if current { // else it crashed too, and crashed reported that
		p.report(r)
	}
}

// report tells the page about a restart; never called under p.mu or in a
// JavaScript callback (the page's handler takes the render lock).
func (p *platform) report(r ui.Restart) {
	p.mu.Lock()
	f := p.onRestart
	p.mu.Unlock()
	if f != nil {
		f(r)
	}
}

// OnRestart implements ui.Platform.
func (p *platform) OnRestart(f func(ui.Restart)) {
	p.mu.Lock()
	p.onRestart = f
	p.mu.Unlock()
}

// receive handles one message of worker w: {head: JSON, arrays: {name: TypedArray}}.
func (p *platform) receive(w safejs.Value, ev safejs.Value, said chan struct{}) {
	data, err := ev.Get("data")
	if err != nil {
		return
	}
	hv, err := data.Get("head")
	if err != nil || hv.Type() != safejs.TypeString {
		return
	}
	hs, _ := hv.String()
	var head struct {
		protocol.Head
		Type string `json:"type"`
	}
	if json.Unmarshal([]byte(hs), &head) != nil {
		return
	}
	switch head.Type {
	case protocol.TypeReady:
		p.Mark("worker-ready")
		p.mu.Lock()
		p.kernel = head.Kernel
		p.mu.Unlock()
		close(said)
		return
	case "fatal":
		go p.crashed(w, head.Message)
		return
	case protocol.TypeAhead:
		p.announced(hs, data)
		return
	}
	p.mu.Lock()
	c := p.pending[head.ID]
	if head.Type != protocol.TypeProgress {
		delete(p.pending, head.ID)
	}
	p.mu.Unlock()
	if c == nil {
		return
	}
	h := head.Head
	h.Type = head.Type
	if h.Type == protocol.TypeProgress {
		if c.progress != nil {
			go c.progress(h.Done, h.Total) // it takes the render lock: never inside a JS callback
		}
		return
	}
	resp := protocol.Response{Head: h}
	if h.Type == protocol.TypeResult {
		if resp.Arrays, err = readArrays(data); err != nil {
			resp = protocol.ErrorResponse(h.ID, protocol.Errorf(protocol.CodeInternal, "app: reading the %s result: %v", h.Op, err))
		}
	}
	c.done <- resp
}

// readArrays copies every typed array of a response into Go, one
// CopyBytesToGo each.
func readArrays(data safejs.Value) ([]protocol.Array, error) {
	arrays, err := data.Get("arrays")
	if err != nil || arrays.IsUndefined() || arrays.IsNull() {
		return nil, nil
	}
	object, err := safejs.Global().Get("Object")
	if err != nil {
		return nil, err
	}
	keys, err := object.Call("keys", arrays)
	if err != nil {
		return nil, err
	}
	n, err := keys.Length()
	if err != nil {
		return nil, err
	}
	u8, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return nil, err
	}
	var out []protocol.Array
	for i := 0; i < n; i++ {
		kv, _ := keys.Index(i)
		name, _ := kv.String()
		ta, err := arrays.Get(name)
		if err != nil {
			return nil, err
		}
		ctor, _ := ta.Get("constructor")
		cn, _ := ctor.Get("name")
		kind, _ := cn.String()
		buf, _ := ta.Get("buffer")
		off, _ := ta.Get("byteOffset")
		ln, _ := ta.Get("byteLength")
		view, err := u8.New(buf, off, ln)
		if err != nil {
			return nil, fmt.Errorf("array %q: %w", name, err)
		}
		size, _ := ln.Int()
		b := make([]byte, size)
		if _, err := safejs.CopyBytesToGo(b, view); err != nil {
			return nil, err
		}
		a := protocol.Array{Name: name}
		switch kind {
		case "Float32Array":
			a.F32 = make([]float32, size/4)
			for j := range a.F32 {
				a.F32[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
			}
		case "Int32Array":
			a.I32 = make([]int32, size/4)
			for j := range a.I32 {
				a.I32[j] = int32(binary.LittleEndian.Uint32(b[4*j:]))
			}
		default:
			return nil, fmt.Errorf("array %q is a %s, want Float32Array or Int32Array", name, kind)
		}
		out = append(out, a)
	}
	return out, nil
}

// CodeCrashed is the code of the error a request gets when the worker
// running it crashed (the same code as ctvae.js's).
const CodeCrashed = "crashed"

// crashed fails what was pending on worker w, starts a new worker and
// reloads the last weights into it, so the page goes on with the same
// model. A worker that crashes again before its reload finished is not
// restarted a second time (the weights may be what kills it): requests then
// fail with that error.
func (p *platform) crashed(w safejs.Value, why string) {
	p.mu.Lock()
	if !w.Equal(p.worker) {
		p.mu.Unlock()
		return
	}
	_, _ = w.Call("terminate")
	pending := p.pending
	p.pending = map[int64]*call{}
	reload := p.lastLoad
	p.endAhead()
	again := p.restarting
	p.restarting = true
	if again {
		p.dead = fmt.Errorf("the engine worker crashed again (%s) while it was being restarted; reload the page", why)
		p.worker = safejs.Value{}
	}
	p.mu.Unlock()
	msg := fmt.Sprintf("the engine worker crashed (%s); it was restarted and the model is being reloaded: try again", why)
	if reload == nil {
		msg = fmt.Sprintf("the engine worker crashed (%s); it was restarted: try again", why)
	}
	if again {
		msg = p.dead.Error()
	}
	for id, c := range pending {
		c.done <- protocol.ErrorResponse(id, protocol.Errorf(CodeCrashed, "%s", msg))
	}
	if again {
		p.report(ui.Restart{Why: why, Done: true, Err: p.dead})
		return
	}
	p.report(ui.Restart{Why: why, Reloading: reload != nil})
	if err := p.startWorker(reload, why); err != nil {
		p.mu.Lock()
		p.dead = fmt.Errorf("the engine worker crashed (%s) and could not be restarted: %v; reload the page", why, err)
		p.mu.Unlock()
		p.report(ui.Restart{Why: why, Done: true, Err: p.dead})
	}
}

// Call implements ui.Platform.
func (p *platform) Call(ctx context.Context, req protocol.Request, progress func(done, total int)) (protocol.Response, error) {
	p.mu.Lock()
	ready, dead := p.ready, p.dead
	p.mu.Unlock()
	if dead != nil {
		return protocol.Response{}, &protocol.Error{Code: CodeCrashed, Message: dead.Error()}
	}
	if c := p.adopt(ctx, req); c != nil {
		var resp protocol.Response
		select {
		case resp = <-c.done:
		case <-ctx.Done():
			return protocol.Response{}, ctx.Err()
		}
		if resp.Head.Type != protocol.TypeError {
			p.Mark("adopted-" + string(req.Op))
			resp.Head.Ahead = true
			if req.Op == protocol.OpLoad {
				p.mu.Lock()
				p.lastLoad = &req
				p.mu.Unlock()
			}
			return resp, nil
		}
		// An error ahead of time (a crash, the cancel of a stale request)
		// is not the page's answer: it asks itself, below.
	}
	select {
	case <-ready:
		p.mu.Lock()
		dead = p.dead
		p.mu.Unlock()
		if dead != nil {
			return protocol.Response{}, &protocol.Error{Code: CodeCrashed, Message: dead.Error()}
		}
	case <-time.After(60 * time.Second):
		return protocol.Response{}, errors.New("the engine worker did not start within a minute")
	case <-ctx.Done():
		return protocol.Response{}, ctx.Err()
	}
	p.mu.Lock()
	req.ID = p.nextID
	p.nextID++
	c := &call{done: make(chan protocol.Response, 1), progress: progress}
	p.pending[req.ID] = c
	w := p.worker
	p.mu.Unlock()
	if err := post(w, req); err != nil {
		p.mu.Lock()
		delete(p.pending, req.ID)
		p.mu.Unlock()
		return protocol.Response{}, err
	}
	var resp protocol.Response
	select {
	case resp = <-c.done:
	case <-ctx.Done():
		p.mu.Lock()
		cancelID := p.nextID
		p.nextID++
		delete(p.pending, req.ID) // a late answer is dropped: the person asked to stop
		p.mu.Unlock()
		_ = post(w, protocol.Request{ID: cancelID, Op: protocol.OpCancel, Target: req.ID})
		return protocol.Response{}, ctx.Err()
	}
	if resp.Head.Type == protocol.TypeError {
		return resp, &protocol.Error{Code: resp.Head.Code, Message: resp.Head.Message}
	}
	if req.Op == protocol.OpLoad {
		p.mu.Lock()
		p.lastLoad = &req
		p.mu.Unlock()
	}
	return resp, nil
}

// post transfers a request's payloads to the worker: each is copied into a
// fresh ArrayBuffer with one CopyBytesToJS and moved, not cloned.
func post(w safejs.Value, req protocol.Request) error {
	head, bufs := protocol.EncodeRequest(req)
	u8, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return err
	}
	arrayCtor, err := safejs.Global().Get("Array")
	if err != nil {
		return err
	}
	list, err := arrayCtor.New()
	if err != nil {
		return err
	}
	var transfer []any
	for _, b := range bufs {
		a, err := u8.New(len(b))
		if err != nil {
			return err
		}
		if _, err := safejs.CopyBytesToJS(a, b); err != nil {
			return err
		}
		ab, err := a.Get("buffer")
		if err != nil {
			return err
		}
		if _, err := list.Call("push", ab); err != nil {
			return err
		}
		transfer = append(transfer, ab)
	}
	// safejs.ValueOf takes plain Go values only, so the array is set after.
	msg, err := safejs.ValueOf(map[string]any{"head": string(head)})
	if err != nil {
		return err
	}
	if err := msg.Set("bufs", list); err != nil {
		return err
	}
	_, err = w.Call("postMessage", msg, transfer)
	return err
}

// ---------------------------------------------------------------- promises and fetch

// await blocks the calling goroutine (never a JS callback) until promise
// settles.
func await(promise safejs.Value) (safejs.Value, error) {
	type result struct {
		v   safejs.Value
		err error
	}
	ch := make(chan result, 1)
	then, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		var v safejs.Value
		if len(args) > 0 {
			v = args[0]
		}
		ch <- result{v: v}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer then.Release()
	catch, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		msg := "rejected"
		if len(args) > 0 {
			if m, err := args[0].Get("message"); err == nil && m.Type() == safejs.TypeString {
				msg, _ = m.String()
			} else if s, err := args[0].String(); err == nil {
				msg = s
			}
		}
		ch <- result{err: errors.New(msg)}
		return nil
	})
	if err != nil {
		return safejs.Value{}, err
	}
	defer catch.Release()
	if _, err := promise.Call("then", then.Value(), catch.Value()); err != nil {
		return safejs.Value{}, err
	}
	r := <-ch
	return r.v, r.err
}

// bytesOf copies an ArrayBuffer into Go.
func bytesOf(ab safejs.Value) ([]byte, error) {
	u8, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return nil, err
	}
	view, err := u8.New(ab)
	if err != nil {
		return nil, err
	}
	n, err := view.Length()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	_, err = safejs.CopyBytesToGo(b, view)
	return b, err
}

func (p *platform) fetch(url string, opts map[string]any) (safejs.Value, error) {
	args := []any{url}
	if opts != nil {
		o, err := safejs.ValueOf(opts)
		if err != nil {
			return safejs.Value{}, err
		}
		args = append(args, o)
	}
	pr, err := p.global.Call("fetch", args...)
	if err != nil {
		return safejs.Value{}, err
	}
	resp, err := await(pr)
	if err != nil {
		return safejs.Value{}, fmt.Errorf("fetching %s: %v (offline?)", url, err)
	}
	if ok, _ := resp.Get("ok"); !truthy(ok) {
		st, _ := resp.Get("status")
		code, _ := st.Int()
		return safejs.Value{}, fmt.Errorf("fetching %s: HTTP %d", url, code)
	}
	return resp, nil
}

func truthy(v safejs.Value) bool { b, err := v.Truthy(); return err == nil && b }

// Manifest implements ui.Platform. The first time it takes the answer to
// the request start.js made while the wasm programs compiled.
func (p *platform) Manifest(ctx context.Context) ([]byte, error) {
	if early, err := p.global.Get("ctvaeManifest"); err == nil && !early.IsUndefined() && !early.IsNull() {
		_ = p.global.Delete("ctvaeManifest")
		if ab, err := await(early); err == nil && !ab.IsNull() && !ab.IsUndefined() {
			return bytesOf(ab)
		}
	}
	resp, err := p.fetch(p.assets.Manifest, map[string]any{"cache": "no-cache"})
	if err != nil {
		return nil, err
	}
	pr, err := resp.Call("arrayBuffer")
	if err != nil {
		return nil, err
	}
	ab, err := await(pr)
	if err != nil {
		return nil, err
	}
	return bytesOf(ab)
}

// sha256 hashes with crypto.subtle, off the Go thread's busy time.
func (p *platform) sha256(b []byte) (string, error) {
	crypto, err := p.global.Get("crypto")
	if err != nil {
		return "", err
	}
	subtle, err := crypto.Get("subtle")
	if err != nil || subtle.IsUndefined() {
		return "", errors.New("crypto.subtle is unavailable here (it needs https or localhost), so the weights cannot be checked")
	}
	u8, _ := p.global.Get("Uint8Array")
	a, err := u8.New(len(b))
	if err != nil {
		return "", err
	}
	if _, err := safejs.CopyBytesToJS(a, b); err != nil {
		return "", err
	}
	pr, err := subtle.Call("digest", "SHA-256", a)
	if err != nil {
		return "", err
	}
	ab, err := await(pr)
	if err != nil {
		return "", err
	}
	d, err := bytesOf(ab)
	return hex.EncodeToString(d), err
}

// Weights implements ui.Platform: cache first (checked again, since a
// cache can be tampered with or torn), else a download with byte progress.
func (p *platform) Weights(ctx context.Context, m state.ModelOption, progress func(loaded, total int64)) ([]byte, bool, error) {
	b := p.earlyWeights(m.Path)
	var cache safejs.Value
	if b == nil {
		cache = p.openCache()
		b = p.cached(cache, m.Path)
	}
	if b != nil {
		p.Mark("weights-read")
		if sum, err := p.sha256(b); err == nil && sum == m.SHA256 {
			p.Mark("weights-checked")
			progress(int64(len(b)), int64(len(b)))
			return b, true, nil
		}
		if cache.IsUndefined() {
			cache = p.openCache()
		}
		if !cache.IsUndefined() {
			if pr, err := cache.Call("delete", m.Path); err == nil {
				_, _ = await(pr)
			}
		}
	}
	if cache.IsUndefined() {
		cache = p.openCache()
	}
	b, err := p.download(m, progress)
	if err != nil {
		return nil, false, err
	}
	sum, err := p.sha256(b)
	if err != nil {
		return nil, false, err
	}
	if sum != m.SHA256 {
		return nil, false, fmt.Errorf("%s has sha256 %s…, want %s… from the manifest: the download is corrupt or stale (reload the page).", m.Name, sum[:12], m.SHA256[:12])
	}
	if !cache.IsUndefined() {
		p.store(cache, m.Path, b) // best effort: a full quota only costs a later download
	}
	return b, false, nil
}

// firstWeightsKey is the localStorage key under which the page keeps the
// path of the weights it asked for first (the model it loads on its own);
// start.js reads that file from the weights cache on the next visit while
// the wasm programs compile (self.ctvaeWeights).
const firstWeightsKey = "ctvae-first-weights"

// earlyWeights returns the bytes start.js read from the weights cache if
// they are the file at path (nil otherwise, and always after the first
// call), and records path as the one to read early next time. The bytes
// are checked against the manifest like any cached file.
func (p *platform) earlyWeights(path string) []byte {
	if p.weightsAsked {
		return nil
	}
	p.weightsAsked = true
	if ls, err := p.global.Get("localStorage"); err == nil && !ls.IsUndefined() && !ls.IsNull() {
		_, _ = ls.Call("setItem", firstWeightsKey, path) // a refused write only costs the early read
	}
	e, err := p.global.Get("ctvaeWeights")
	if err != nil || e.IsUndefined() || e.IsNull() {
		return nil
	}
	_ = p.global.Delete("ctvaeWeights")
	if pv, err := e.Get("path"); err != nil || pv.Type() != safejs.TypeString {
		return nil
	} else if got, _ := pv.String(); got != path {
		return nil
	}
	pr, err := e.Get("bytes")
	if err != nil {
		return nil
	}
	ab, err := await(pr)
	if err != nil || ab.IsNull() || ab.IsUndefined() {
		return nil
	}
	b, err := bytesOf(ab)
	if err != nil {
		return nil
	}
	return b
}

func (p *platform) openCache() safejs.Value {
	caches, err := p.global.Get("caches")
	if err != nil || caches.IsUndefined() {
		return safejs.Value{}
	}
	pr, err := caches.Call("open", weightsCache)
	if err != nil {
		return safejs.Value{}
	}
	c, err := await(pr)
	if err != nil {
		return safejs.Value{}
	}
	return c
}

func (p *platform) cached(cache safejs.Value, path string) []byte {
	if cache.IsUndefined() || cache.IsNull() {
		return nil
	}
	pr, err := cache.Call("match", path)
	if err != nil {
		return nil
	}
	resp, err := await(pr)
	if err != nil || resp.IsUndefined() || resp.IsNull() {
		return nil
	}
	pr, err = resp.Call("arrayBuffer")
	if err != nil {
		return nil
	}
	ab, err := await(pr)
	if err != nil {
		return nil
	}
	b, _ := bytesOf(ab)
	return b
}

func (p *platform) store(cache safejs.Value, path string, b []byte) {
	if cache.IsUndefined() || cache.IsNull() {
		return
	}
	u8, _ := p.global.Get("Uint8Array")
	a, err := u8.New(len(b))
	if err != nil {
		return
	}
	if _, err := safejs.CopyBytesToJS(a, b); err != nil {
		return
	}
	ctor, _ := p.global.Get("Response")
	resp, err := ctor.New(a)
	if err != nil {
		return
	}
	if pr, err := cache.Call("put", path, resp); err == nil {
		_, _ = await(pr)
	}
}

// download reads the body chunk by chunk for the progress bar; the total is
// the manifest's size (Content-Length is the compressed size when the
// server compresses).
func (p *platform) download(m state.ModelOption, progress func(loaded, total int64)) ([]byte, error) {
	resp, err := p.fetch(m.Path, nil)
	if err != nil {
		return nil, err
	}
	body, err := resp.Get("body")
	if err != nil {
		return nil, err
	}
	reader, err := body.Call("getReader")
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, m.Size)
	for {
		pr, err := reader.Call("read")
		if err != nil {
			return nil, err
		}
		chunk, err := await(pr)
		if err != nil {
			return nil, fmt.Errorf("downloading %s: %v", m.Name, err)
		}
		if done, _ := chunk.Get("done"); truthy(done) {
			break
		}
		v, err := chunk.Get("value")
		if err != nil {
			return nil, err
		}
		n, err := v.Length()
		if err != nil {
			return nil, err
		}
		if int64(len(out)+n) > protocol.MaxWeightsBytes {
			return nil, fmt.Errorf("%s is larger than the engine accepts", m.Name)
		}
		start := len(out)
		out = append(out, make([]byte, n)...)
		if _, err := safejs.CopyBytesToGo(out[start:], v); err != nil {
			return nil, err
		}
		progress(int64(len(out)), m.Size)
	}
	return out, nil
}

// ---------------------------------------------------------------- images and canvases

// Preview implements ui.Platform with createImageBitmap (decoded off the
// page's thread by the browser) and an OffscreenCanvas.
func (p *platform) Preview(ctx context.Context, encoded []byte, size int) (state.Pixels, error) {
	u8, _ := p.global.Get("Uint8Array")
	a, err := u8.New(len(encoded))
	if err != nil {
		return state.Pixels{}, err
	}
	if _, err := safejs.CopyBytesToJS(a, encoded); err != nil {
		return state.Pixels{}, err
	}
	blobCtor, _ := p.global.Get("Blob")
	arrayCtor, _ := p.global.Get("Array")
	parts, err := arrayCtor.New()
	if err != nil {
		return state.Pixels{}, err
	}
	if _, err := parts.Call("push", a); err != nil {
		return state.Pixels{}, err
	}
	blob, err := blobCtor.New(parts)
	if err != nil {
		return state.Pixels{}, err
	}
	pr, err := p.global.Call("createImageBitmap", blob)
	if err != nil {
		return state.Pixels{}, err
	}
	bmp, err := await(pr)
	if err != nil {
		return state.Pixels{}, fmt.Errorf("the browser cannot decode it: %v", err)
	}
	defer bmp.Call("close")
	wv, _ := bmp.Get("width")
	hv, _ := bmp.Get("height")
	w, _ := wv.Int()
	h, _ := hv.Int()
	side := min(w, h) // centre crop, as the worker does
	oc, _ := p.global.Get("OffscreenCanvas")
	canvas, err := oc.New(size, size)
	if err != nil {
		return state.Pixels{}, err
	}
	g, err := canvas.Call("getContext", "2d")
	if err != nil {
		return state.Pixels{}, err
	}
	if _, err := g.Call("drawImage", bmp, (w-side)/2, (h-side)/2, side, side, 0, 0, size, size); err != nil {
		return state.Pixels{}, err
	}
	img, err := g.Call("getImageData", 0, 0, size, size)
	if err != nil {
		return state.Pixels{}, err
	}
	data, _ := img.Get("data")
	px := state.Pixels{W: size, H: size, RGBA: make([]byte, 4*size*size)}
	_, err = safejs.CopyBytesToGo(px.RGBA, data)
	return px, err
}

// Draw implements ui.Platform. The canvas is made by the platform inside
// its box (the element "box-"+id that the template leaves empty, with the
// canvas's classes in data-class), so vugu never touches it: a render
// neither clears it nor needs to redraw it. The canvas keeps the version it
// shows; only a new version is converted, copied and put.
func (p *platform) Draw(id string, ver uint64, pixels func() (state.Pixels, bool)) error {
	el, err := p.doc.Call("getElementById", id)
	if err != nil {
		return err
	}
	if el.IsNull() {
		box, err := p.doc.Call("getElementById", "box-"+id)
		if err != nil || box.IsNull() {
			return err // not rendered right now
		}
		if el, err = p.doc.Call("createElement", "canvas"); err != nil {
			return err
		}
		cls, _ := box.Call("getAttribute", "data-class")
		if cls.Type() == safejs.TypeString {
			_ = el.Set("className", cls)
		}
		_ = el.Set("id", id)
		if _, err := box.Call("appendChild", el); err != nil {
			return err
		}
	} else if v, err := el.Get("ctvaeVer"); err == nil && ver != 0 && v.Type() == safejs.TypeNumber {
		if f, _ := v.Float(); f == float64(ver) {
			return nil // it shows this image already
		}
	}
	px, ok := pixels()
	if !ok {
		return nil
	}
	ctor, _ := p.global.Get("Uint8ClampedArray")
	arr, err := ctor.New(len(px.RGBA))
	if err != nil {
		return err
	}
	if _, err := safejs.CopyBytesToJS(arr, px.RGBA); err != nil {
		return err
	}
	idCtor, _ := p.global.Get("ImageData")
	data, err := idCtor.New(arr, px.W, px.H)
	if err != nil {
		return err
	}
	for name, want := range map[string]int{"width": px.W, "height": px.H} {
		if v, _ := el.Get(name); func() bool { n, _ := v.Int(); return n != want }() {
			_ = el.Set(name, want)
		}
	}
	g, err := el.Call("getContext", "2d")
	if err != nil {
		return err
	}
	if _, err = g.Call("putImageData", data, 0, 0); err != nil {
		return err
	}
	return el.Set("ctvaeVer", float64(ver))
}

// Fill implements ui.Platform. The version is kept on the element object:
// an element vugu made anew lacks it and is filled.
func (p *platform) Fill(id string, ver uint64, html func() string) error {
	el, err := p.doc.Call("getElementById", id)
	if err != nil || el.IsNull() {
		return err
	}
	if v, err := el.Get("ctvaeVer"); err == nil && ver != 0 && v.Type() == safejs.TypeNumber {
		if f, _ := v.Float(); f == float64(ver) {
			return nil
		}
	}
	if err := el.Set("innerHTML", html()); err != nil {
		return err
	}
	return el.Set("ctvaeVer", float64(ver))
}

// Kernel implements ui.Platform.
func (p *platform) Kernel() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kernel
}

// Mark implements ui.Platform.
func (p *platform) Mark(name string) {
	if perf, err := p.global.Get("performance"); err == nil {
		_, _ = perf.Call("mark", "ctvae:"+name)
	}
}

// measure records a span of the render loop (performance.measure). The
// browser keeps every measure, so they are cleared every maxMeasures.
func (p *platform) measure(name string, start, end float64) {
	perf, err := p.global.Get("performance")
	if err != nil {
		return
	}
	if p.measures++; p.measures > maxMeasures {
		p.measures = 0
		_, _ = perf.Call("clearMeasures")
	}
	opts, err := safejs.ValueOf(map[string]any{"start": start, "end": end})
	if err == nil {
		_, _ = perf.Call("measure", "ctvae:"+name, opts)
	}
}

// Now implements ui.Platform.
func (p *platform) Now() float64 {
	if perf, err := p.global.Get("performance"); err == nil {
		if v, err := perf.Call("now"); err == nil {
			if ms, err := v.Float(); err == nil {
				return ms
			}
		}
	}
	return float64(time.Since(p.start).Microseconds()) / 1000
}
