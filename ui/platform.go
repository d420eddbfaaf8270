// Package ui is the CT-VAE page: vugu components (markup in .vugu files,
// generated root_gen.go beside it) and their controller, which turns
// clicks into engine requests and results into state (package state). The
// browser itself is behind Platform, implemented with safejs in wasm/app,
// so this package compiles and vets natively.
package ui

// The generated root_gen.go is committed; regenerate it after editing a
// .vugu file. genrender -tidy formats it and drops vugugen's note comments.
//
//go:generate go tool vugugen -skip-go-mod -skip-main .
//go:generate go run ./genrender -tidy root_gen.go

import (
	"context"

	"ctvae/ui/state"
	"ctvae/wasm/protocol"
)

// Platform is what the page needs from the browser. Every blocking method
// is called from a goroutine, never from an event handler.
type Platform interface {
	// Call sends a request to the engine worker (ID is assigned here) and
	// waits for its answer; progress gets the worker's progress messages.
	// Cancelling ctx sends a cancel request for it.
	Call(ctx context.Context, req protocol.Request, progress func(done, total int)) (protocol.Response, error)
	// Manifest returns the site's manifest.json.
	Manifest(ctx context.Context) ([]byte, error)
	// Weights returns a shipped weights file, from the weights cache when it
	// is there, else downloaded with progress, checked against its sha256
	// and cached. Cached reports where it came from.
	Weights(ctx context.Context, m state.ModelOption, progress func(loaded, total int64)) (data []byte, cached bool, err error)
	// Preview decodes an encoded image in the browser, centre-cropped and
	// scaled to size x size, for display only (the worker decodes it again
	// for the model).
	Preview(ctx context.Context, encoded []byte, size int) (state.Pixels, error)
	// Draw puts an image on the canvas with the given element id, made
	// inside the element "box-"+id (which the template leaves empty, with
	// the canvas's classes in data-class) when it is not there yet; ver
	// names the image's content (0: unknown), so a canvas that shows that
	// version already is left as it is and pixels is not called. A missing
	// box is not an error (it is not rendered right now). A box's id must
	// be a bound attribute (:id): vugugen writes a wholly static element as
	// markup that replaces its children on every render.
	Draw(canvasID string, ver uint64, pixels func() (state.Pixels, bool)) error
	// Fill sets the markup inside the element with the given id, which the
	// template leaves empty (so vugu leaves its children alone), unless it
	// holds version ver already; html is called only then. Keeping the
	// nodes while they are unchanged also keeps the one under the pointer,
	// whose replacement would fire another mouseover and render.
	Fill(id string, ver uint64, html func() string) error
	// Now is a monotonic clock in milliseconds.
	Now() float64
	// Mark records a named moment of the page's start-up on the browser's
	// performance timeline (performance.mark), for the load benchmark.
	Mark(name string)
	// Kernel is what the engine computes with, from its last ready
	// message: "simd128" (WebAssembly SIMD) or "go" (Go's scalar code);
	// "" before the first.
	Kernel() string
	// OnRestart registers f to hear about engine restarts: when the worker
	// crashed, requests in flight fail with code "crashed", a new worker
	// starts and gets the last loaded weights before any other request. f
	// is told once when the crash is noticed and once when the new worker
	// has the weights again (Done), from a goroutine.
	OnRestart(f func(Restart))
}

// Restart is one step of an engine restart after a crash.
type Restart struct {
	Why       string // what the browser said about the crash
	Reloading bool   // the last weights are being reloaded into the new worker
	Done      bool   // the new worker is ready (with the weights, unless Err)
	Checksum  string // sha256 of the reloaded weights, as the new worker reports it
	Err       error  // the reload (or the restart) failed
}
