package protocol

import "math"

// AheadIDs is the first id of the requests the engine worker asks itself:
// a page's own ids stay below it.
const AheadIDs = 1 << 52

// Ahead is a request the engine worker asked itself before the page did:
// started with a head start (wasm/js/engine-worker.js, named by
// ui/static/start.js), it loads the weights the page loaded last time from
// the weights cache, samples the first gallery pair and reconstructs it
// while the page's own program (app.wasm) starts. It announces each one
// (TypeAhead), and the page adopts the answer when it comes to ask the same
// thing, instead of asking again. A load is described without its weights:
// the worker only loads ahead after checking the bytes against the
// manifest's SHA256, which is what the page checks its own copy against.
type Ahead struct {
	ID     int64
	Op     Op
	SHA256 string    // load: the checked sha256 of the weights
	Size   int       // load: their length in bytes
	Seed   uint64    // sample
	Image  []float32 // reconstruct: the f32 image
}

// Answers reports whether a's answer is the answer to req: the same
// operation with the same inputs, where a load is identified by the sha256
// both sides checked the bytes against. A load with a sampling mode or seed
// other than the defaults, a sample from a named dataset and a plain
// VQ-VAE reconstruction are never posted ahead, so they never match.
func (a Ahead) Answers(req Request) bool {
	if a.Op != req.Op {
		return false
	}
	switch a.Op {
	case OpLoad:
		return a.SHA256 != "" && req.SHA256 == a.SHA256 && len(req.Weights) == a.Size &&
			(req.Sampling == "" || req.Sampling == "mode") && req.Seed == 0
	case OpSample:
		return req.Seed == a.Seed && req.Dataset == ""
	case OpReconstruct:
		return !req.VQ && req.Image.Format == FormatF32 && sameBits(req.Image.F32, a.Image)
	}
	return false
}

// sameBits compares floats bit for bit (what the worker receives).
func sameBits(a, b []float32) bool {
	if len(a) != len(b) || len(a) == 0 {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
