package protocol

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
)

// Response types (Head.Type).
const (
	TypeReady    = "ready"
	TypeResult   = "result"
	TypeProgress = "progress"
	TypeError    = "error"
	// TypeAhead announces a request the worker asked itself before the
	// page did (see Ahead): {"id", "type":"ahead", "op"} with "sha256" and
	// "size" (load), "seed" (sample), or the array "image" (reconstruct).
	// It comes before the answer to the request it follows, and its own
	// answer comes with its id like any other.
	TypeAhead = "ahead"
)

// Head is the JSON head of a response. Arrays travel beside it, named in
// the field comments; which ones depends on the op.
type Head struct {
	ID   int64  `json:"id"` // -1 when the request's id could not be read
	Type string `json:"type"`
	Op   Op     `json:"op,omitempty"`
	// MS is the operation's time in the worker (performance.now()), results only.
	MS *float64 `json:"ms,omitempty"`

	// progress
	Done  int `json:"done,omitempty"`
	Total int `json:"total,omitempty"`

	// error
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`

	// Notice says how an encoded image was fitted to the model (crop, resize,
	// channels); empty when nothing was done.
	Notice string `json:"notice,omitempty"`
	// Action is the action applied (intervene, traverse; nil for base mode).
	Action *Named `json:"action,omitempty"`
	// Shape is [C, S, S] of each image in "image" (reconstruct, intervene,
	// traverse, decode); traverse stacks Steps of them.
	Shape []int `json:"shape,omitempty"`
	Steps int   `json:"steps,omitempty"`
	// Nodes is n, the number of codes per image (length of "codes" per step).
	Nodes int `json:"nodes,omitempty"`

	Retrieval *Retrieval `json:"retrieval,omitempty"`
	Sample    *Sample    `json:"sample,omitempty"`
	Info      *Info      `json:"info,omitempty"`
	// Cancelled answers a cancel request: whether the target was queued or
	// running (it then ends with a "cancelled" error).
	Cancelled *bool `json:"cancelled,omitempty"`
	// Ahead is set by the page, never sent: the answer is to the same request
	// the worker asked itself before the page did (see Ahead), so the page's
	// time for it is only how long it waited.
	Ahead bool `json:"-"`
	// Kernel names the GEMM tile kernel the engine runs (ready only):
	// "simd128" (WebAssembly SIMD) or "go" (Go's scalar code, with the
	// reason in Message).
	Kernel string `json:"kernel,omitempty"`
}

// Named is an index with its name.
type Named struct {
	Index int    `json:"index"`
	Name  string `json:"name"`
}

// Scored is an action or factor with its probability.
type Scored struct {
	Index int     `json:"index"`
	Name  string  `json:"name"`
	P     float32 `json:"p"`
}

// Retrieval is the head part of a retrieve result; the arrays "probs" [A],
// "factorProbs" [F], "dist" [A], "codesX" and "codesY" [n] come beside it.
type Retrieval struct {
	Best Named `json:"best"`
	// BestFactor is Best's factor; a factor's P (Factors, factorProbs) is
	// that of its more likely direction, renormalised over the factors.
	BestFactor Named    `json:"bestFactor"`
	Decrease   bool     `json:"decrease"`
	Actions    []Scored `json:"actions"`
	Factors    []Scored `json:"factors"`
	Samples    int      `json:"samples"`
}

// Sample is the head part of a sample result; the images "x" and "y"
// ([C, S, S] each, Shape) come beside it.
type Sample struct {
	Dataset  string   `json:"dataset"`
	IndexX   int      `json:"indexX"`
	IndexY   int      `json:"indexY"`
	FactorsX []int    `json:"factorsX"`
	FactorsY []int    `json:"factorsY"`
	Names    []string `json:"factorNames"`
	Action   Named    `json:"action"` // the true action turning x into y
}

// Info describes the loaded model.
type Info struct {
	Config     json.RawMessage `json:"config"` // the model_params JSON of the weights
	Dataset    string          `json:"dataset"`
	Preprocess string          `json:"preprocess"`
	Checksum   string          `json:"checksum"` // sha256 of the weights file, hex
	Channels   int             `json:"channels"`
	Size       int             `json:"size"`
	Nodes      int             `json:"nodes"`
	Codebook   int             `json:"codebook"` // codes are 0..Codebook-1
	HasCausal  bool            `json:"hasCausal"`
	Actions    []string        `json:"actions"`
	Factors    []string        `json:"factors"`
	Sampling   string          `json:"sampling"`
	Seed       uint64          `json:"seed"`
	Bytes      int             `json:"bytes"` // size of the weights file
}

// Array is a named typed array of a response: exactly one of F32 (a
// Float32Array) and I32 (an Int32Array) is set.
type Array struct {
	Name string
	F32  []float32
	I32  []int32
}

// Response is a head and its arrays.
type Response struct {
	Head   Head
	Arrays []Array
}

// Array returns the named array, or nil.
func (r Response) Array(name string) *Array {
	for i := range r.Arrays {
		if r.Arrays[i].Name == name {
			return &r.Arrays[i]
		}
	}
	return nil
}

// ErrorResponse answers request id with err (an *Error keeps its code).
func ErrorResponse(id int64, err error) Response {
	e := AsError(err)
	return Response{Head: Head{ID: id, Type: TypeError, Code: e.Code, Message: e.Message}}
}

// MarshalHead encodes a head as JSON.
func MarshalHead(h Head) []byte {
	b, err := json.Marshal(h)
	if err != nil {
		// Only a non-finite float can fail here: say so instead of dropping the answer.
		b, _ = json.Marshal(Head{ID: h.ID, Type: TypeError, Op: h.Op, Code: CodeInternal,
			Message: "protocol: response head of " + string(h.Op) + " does not encode: " + err.Error()})
	}
	return b
}

// ---------------------------------------------------------------- requests from Go

// EncodeRequest is the inverse of DecodeRequest, for Go pages (the vugu
// app) and tests: it returns the head JSON and the payloads to transfer.
func EncodeRequest(r Request) (head []byte, bufs [][]byte) {
	h := map[string]any{"id": r.ID, "op": r.Op}
	in := func(field string, x Input) {
		if x.Format == "" {
			return
		}
		h[field] = map[string]any{"buf": len(bufs), "format": x.Format}
		switch x.Format {
		case FormatF32:
			bufs = append(bufs, Float32Bytes(x.F32))
		case FormatCodes:
			bufs = append(bufs, Int32Bytes(x.Codes))
		default:
			bufs = append(bufs, x.Encoded)
		}
	}
	if r.Weights != nil {
		h["weights"] = len(bufs)
		bufs = append(bufs, r.Weights)
	}
	if r.SHA256 != "" {
		h["sha256"] = r.SHA256
	}
	if r.Sampling != "" {
		h["sampling"] = r.Sampling
	}
	if r.Seed != 0 {
		h["seed"] = r.Seed
	}
	if r.Dataset != "" {
		h["dataset"] = r.Dataset
	}
	in("image", r.Image)
	in("x", r.X)
	in("y", r.Y)
	if r.Action != "" {
		if n, err := strconv.Atoi(r.Action); err == nil {
			h["action"] = n
		} else {
			h["action"] = r.Action
		}
	}
	if r.Steps != 0 {
		h["steps"] = r.Steps
	}
	if r.Samples != 0 {
		h["samples"] = r.Samples
	}
	if r.VQ {
		h["vq"] = true
	}
	if r.Op == OpCancel {
		h["target"] = r.Target
	}
	head, _ = json.Marshal(h) // plain values: cannot fail
	return head, bufs
}

// Float32Bytes is the little-endian byte form of f (a Float32Array's buffer).
func Float32Bytes(f []float32) []byte {
	b := make([]byte, 4*len(f))
	for i, v := range f {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// Int32Bytes is the little-endian byte form of c (an Int32Array's buffer).
func Int32Bytes(c []int32) []byte {
	b := make([]byte, 4*len(c))
	for i, v := range c {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(v))
	}
	return b
}
