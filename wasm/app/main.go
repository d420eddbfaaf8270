//go:build js && wasm

// Command app is the CT-VAE page: the vugu components of package ui on the
// page's thread, and the engine (wasm/engine) in a Web Worker that it talks
// to with wasm/protocol messages. Every call into JavaScript goes through
// safejs (platform.go); ui/static/start.js starts the engine worker, ui/static/boot.js this program.
package main

import (
	"fmt"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/vugu/vugu"
	"github.com/vugu/vugu/domrender"

	"ctvae/ui"
)

func main() {
	if err := run(); err != nil {
		showFatal(err.Error())
	}
}

func run() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the page stopped: %v (reload to start again)", r)
		}
	}()
	p, err := newPlatform()
	if err != nil {
		return err
	}
	p.Mark("app-main")
	renderer, err := domrender.New("#app")
	if err != nil {
		return err
	}
	defer renderer.Release()
	root := &ui.Root{P: p}
	env := renderer.EventEnv()
	if err := p.listenFiles(env, root); err != nil {
		return err
	}
	build, err := vugu.NewBuildEnv(env)
	if err != nil {
		return err
	}
	// The first build runs Root.Init, which starts loading the first model;
	// the first render waits for it (at most firstRenderWait): on a visit
	// with the weights cached the model's first reconstruction comes sooner,
	// and a render of the page without it would only hold the page's thread
	// meanwhile. index.html's "Loading…" line shows until then.
	env.RLock()
	build.RunBuild(root)
	env.RUnlock()
	time.AfterFunc(firstRenderWait, func() {
		env.Lock()
		env.UnlockRender()
	})
	if !renderer.EventWait() {
		return nil
	}
	first := true
	for ok := true; ok; ok = renderer.EventWait() {
		// The build reads state that goroutines change under the write
		// lock; Render takes the read lock itself, so it is released between.
		t0 := p.Now()
		env.RLock()
		res := build.RunBuild(root)
		env.RUnlock()
		for _, n := range res.Out.Out {
			ui.Compact(n)
		}
		t1 := p.Now()
		if err := renderer.Render(res); err != nil {
			return err
		}
		t2 := p.Now()
		env.RLock()
		root.DrawCanvases()
		env.RUnlock()
		// Each render's phases, on the performance timeline for the
		// benchmark: building the virtual DOM, vugu's sync of the page,
		// the canvases and the filled elements.
		p.measure("build", t0, t1)
		p.measure("sync", t1, t2)
		p.measure("draw", t2, p.Now())
		if first {
			p.Mark("first-render")
			first = false
		}
	}
	return nil
}

// firstRenderWait bounds how long the page waits for its first model
// before it renders without it (a download, a cold start).
const firstRenderWait = 300 * time.Millisecond

// showFatal writes into the page's fallback line, without vugu (which may
// be what failed).
func showFatal(msg string) {
	doc, err := safejs.Global().Get("document")
	if err != nil {
		return
	}
	el, err := doc.Call("getElementById", "boot-status")
	if err != nil || el.IsNull() {
		return
	}
	_ = el.Set("textContent", "CT-VAE: "+msg)
	_ = el.Set("className", "error")
}
