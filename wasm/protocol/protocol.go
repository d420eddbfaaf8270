// Package protocol defines the messages between a page and the CT-VAE engine
// worker (wasm/engine). It is plain Go, shared by the worker and any Go page
// (the vugu app), and tested and fuzzed natively.
//
// # Wire format
//
// A request is one postMessage of a plain object
//
//	{head: "<JSON>", bufs: [ArrayBuffer, ...]}
//
// head is a JSON object (at most MaxHeadBytes) and bufs holds the binary
// payloads (at most MaxBuffers), transferred, never copied element by
// element. The head names a payload by its index in bufs. Request heads:
//
//	{"id":1, "op":"load", "weights":0, "sampling":"mode"|"sample", "seed":1, "sha256":"<64 hex>"}
//	{"id":2, "op":"info"}
//	{"id":3, "op":"reconstruct", "image":IN, "vq":false}
//	{"id":4, "op":"intervene", "image":IN, "action":3 | "scale+"}
//	{"id":5, "op":"traverse", "image":IN, "action":A, "steps":8}
//	{"id":6, "op":"retrieve", "x":IN, "y":IN, "samples":1}
//	{"id":7, "op":"encode", "image":IN}
//	{"id":8, "op":"decode", "image":{"buf":0,"format":"codes"}}
//	{"id":9, "op":"cancel", "target":6}
//	{"id":10, "op":"sample", "dataset":"shapes3d", "seed":7}
//
// where IN is {"buf": i, "format": F} and F is "f32" (little-endian float32
// [C, S, S] in [0, 1], the bytes of a Float32Array), "image" (PNG or JPEG
// bytes, decoded, centre-cropped and resized in the worker) or "codes"
// (little-endian int32 [n], the bytes of an Int32Array; intervene, retrieve
// and decode accept codes). sample renders a seeded random transition pair
// (x, then y with one factor moved one step) of a procedural dataset (the
// loaded model's when "dataset" is absent). A load's optional "sha256" is the
// sha256 of the weights as the sender already checked it (the page checks
// shipped weights against the site's manifest): the engine then reports it
// as the model's checksum instead of hashing the file again. It only names
// the model; nothing else relies on it, and without it the engine hashes
// the file itself. ids are integers in 0..2^53-1, unique among the
// requests in flight.
//
// A response is {head: "<JSON>", arrays: {name: TypedArray, ...}} with a Head
// (see Head for its fields) of type "result", "progress" or "error"; the
// worker first posts {"type":"ready"}. Arrays are Float32Array or Int32Array,
// transferred. A worker started with a head start also announces the
// requests it asks itself, {"type":"ahead"} (see Ahead and TypeAhead), with
// ids from AheadIDs up.
package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Limits bound what one request may make the worker hold or allocate.
const (
	MaxHeadBytes    = 64 << 10
	MaxBuffers      = 4
	MaxWeightsBytes = 1 << 30  // a weights file
	MaxImageBytes   = 64 << 20 // one f32 image, encoded image or code list
	MaxSteps        = 64       // a traversal (ctvae's own bound)
	MaxSamples      = 256      // a retrieval (ctvae.MaxSamples)
	maxID           = 1<<53 - 1
)

// Op names an operation.
type Op string

// The operations.
const (
	OpLoad        Op = "load"
	OpInfo        Op = "info"
	OpReconstruct Op = "reconstruct"
	OpIntervene   Op = "intervene"
	OpTraverse    Op = "traverse"
	OpRetrieve    Op = "retrieve"
	OpEncode      Op = "encode"
	OpDecode      Op = "decode"
	OpCancel      Op = "cancel"
	OpSample      Op = "sample"
)

// Format is how an input payload is encoded.
type Format string

// The input formats.
const (
	FormatF32   Format = "f32"   // float32 [C, S, S]
	FormatImage Format = "image" // PNG or JPEG bytes
	FormatCodes Format = "codes" // int32 [n]
)

// Error codes of error responses.
const (
	CodeBadRequest = "bad_request" // the message itself is malformed
	CodeNoModel    = "no_model"    // no weights loaded yet
	CodeBadWeights = "bad_weights" // a load was refused; the previous model stays
	CodeBadInput   = "bad_input"   // well formed, but wrong for the loaded model
	CodeCancelled  = "cancelled"   // a cancel request stopped it
	CodeInternal   = "internal"    // a bug: the handler panicked; the worker lives on
)

// Input is one decoded image or code list; exactly one of the slices is set,
// as Format says.
type Input struct {
	Format  Format
	F32     []float32
	Encoded []byte
	Codes   []int32
}

// Request is a decoded, validated request. Fields an op does not use are
// zero.
type Request struct {
	ID       int64
	Op       Op
	Weights  []byte // load
	SHA256   string // load: the sender's sha256 of Weights, 64 lowercase hex digits; "" when not given
	Sampling string // load: "mode" (default) or "sample"
	Seed     uint64 // load, sample
	Dataset  string // sample
	Image    Input  // reconstruct, intervene, traverse, encode, decode
	X, Y     Input  // retrieve
	Action   string // intervene, traverse: an index or a name, resolved by the model
	Steps    int    // traverse
	Samples  int    // retrieve, 1 when absent
	VQ       bool   // reconstruct: the plain VQ-VAE path, without the causal layer
	Target   int64  // cancel
}

// Error is a failed request: Code is one of the Code constants.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Message }

// Errorf builds an *Error.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

type inputHead struct {
	Buf    *int   `json:"buf"`
	Format Format `json:"format"`
}

type requestHead struct {
	ID       *int64          `json:"id"`
	Op       Op              `json:"op"`
	Weights  *int            `json:"weights"`
	SHA256   *string         `json:"sha256"`
	Sampling string          `json:"sampling"`
	Seed     uint64          `json:"seed"`
	Dataset  string          `json:"dataset"`
	Image    *inputHead      `json:"image"`
	X        *inputHead      `json:"x"`
	Y        *inputHead      `json:"y"`
	Action   json.RawMessage `json:"action"`
	Steps    int             `json:"steps"`
	Samples  *int            `json:"samples"`
	VQ       bool            `json:"vq"`
	Target   *int64          `json:"target"`
}

// DecodeRequest decodes and checks a request head and its payloads. On error
// it returns the request's id when the head had a valid one, else -1, so the
// caller can still answer. It never panics, and allocates at most the size of
// its inputs plus a constant.
func DecodeRequest(head []byte, bufs [][]byte) (Request, error) {
	req := Request{ID: -1}
	if len(head) > MaxHeadBytes {
		return req, Errorf(CodeBadRequest, "protocol: request head of %d bytes, want at most %d", len(head), MaxHeadBytes)
	}
	if len(bufs) > MaxBuffers {
		return req, Errorf(CodeBadRequest, "protocol: request with %d buffers, want at most %d", len(bufs), MaxBuffers)
	}
	// The id first, leniently, so even a malformed request gets its answer.
	var idOnly struct {
		ID int64 `json:"id"`
	}
	if json.NewDecoder(bytes.NewReader(head)).Decode(&idOnly) == nil && idOnly.ID >= 0 && idOnly.ID <= maxID {
		req.ID = idOnly.ID
	}
	var h requestHead
	dec := json.NewDecoder(bytes.NewReader(head))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return req, Errorf(CodeBadRequest, "protocol: request head is not a valid JSON object: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, Errorf(CodeBadRequest, "protocol: request head has trailing data after the JSON object")
	}
	if h.ID == nil || *h.ID < 0 || *h.ID > maxID {
		return Request{ID: -1}, Errorf(CodeBadRequest, "protocol: request head needs an integer \"id\" in 0..%d", int64(maxID))
	}
	req.ID, req.Op = *h.ID, h.Op
	d := decoder{req: &req, head: &h, bufs: bufs}
	if err := d.decode(); err != nil {
		return Request{ID: req.ID}, err
	}
	return req, nil
}

type decoder struct {
	req  *Request
	head *requestHead
	bufs [][]byte
}

// allow lists the head fields an op uses; any other field set is an error,
// so a typo ("sample" for "samples") is reported, not ignored.
func (d *decoder) allow(fields ...string) error {
	h := d.head
	set := map[string]bool{
		"weights": h.Weights != nil, "sha256": h.SHA256 != nil, "sampling": h.Sampling != "", "seed": h.Seed != 0, "dataset": h.Dataset != "",
		"image": h.Image != nil, "x": h.X != nil, "y": h.Y != nil, "action": len(h.Action) > 0,
		"steps": h.Steps != 0, "samples": h.Samples != nil, "vq": h.VQ, "target": h.Target != nil,
	}
	for _, f := range fields {
		delete(set, f)
	}
	for _, name := range []string{"weights", "sha256", "sampling", "seed", "dataset", "image", "x", "y", "action", "steps", "samples", "vq", "target"} {
		if set[name] {
			return Errorf(CodeBadRequest, "protocol: %s request %d has field %q, which %s does not take (it takes %v)", d.req.Op, d.req.ID, name, d.req.Op, fields)
		}
	}
	return nil
}

func (d *decoder) decode() error {
	r, h := d.req, d.head
	var err error
	switch r.Op {
	case OpLoad:
		if err = d.allow("weights", "sha256", "sampling", "seed"); err != nil {
			return err
		}
		if h.Weights == nil {
			return Errorf(CodeBadRequest, "protocol: load request %d needs \"weights\", the index of the weights buffer", r.ID)
		}
		if r.Weights, err = d.buf("weights", *h.Weights, MaxWeightsBytes); err != nil {
			return err
		}
		switch h.Sampling {
		case "", "mode":
			r.Sampling = "mode"
		case "sample":
			r.Sampling = "sample"
		default:
			return Errorf(CodeBadRequest, "protocol: load request %d has sampling %q, want \"mode\" or \"sample\"", r.ID, h.Sampling)
		}
		r.Seed = h.Seed
		if h.SHA256 != nil {
			if r.SHA256, err = checksum(*h.SHA256); err != nil {
				return Errorf(CodeBadRequest, "protocol: load request %d: %v", r.ID, err)
			}
		}
	case OpInfo:
		return d.allow()
	case OpReconstruct, OpEncode:
		if err = d.allow("image", "vq"); err != nil {
			return err
		}
		if r.Op == OpEncode && h.VQ {
			return Errorf(CodeBadRequest, "protocol: encode request %d has field \"vq\", which encode does not take", r.ID)
		}
		r.VQ = h.VQ
		r.Image, err = d.input("image", h.Image, FormatF32, FormatImage)
	case OpIntervene, OpTraverse:
		fields := []string{"image", "action"}
		formats := []Format{FormatF32, FormatImage, FormatCodes}
		if r.Op == OpTraverse {
			fields = append(fields, "steps")
			formats = formats[:2] // a traversal starts from an image
		}
		if err = d.allow(fields...); err != nil {
			return err
		}
		if r.Image, err = d.input("image", h.Image, formats...); err != nil {
			return err
		}
		if r.Action, err = d.action(); err != nil {
			return err
		}
		if r.Op == OpTraverse {
			if h.Steps < 1 || h.Steps > MaxSteps {
				return Errorf(CodeBadRequest, "protocol: traverse request %d has steps %d, want 1..%d", r.ID, h.Steps, MaxSteps)
			}
			r.Steps = h.Steps
		}
	case OpRetrieve:
		if err = d.allow("x", "y", "samples"); err != nil {
			return err
		}
		if r.X, err = d.input("x", h.X, FormatF32, FormatImage, FormatCodes); err != nil {
			return err
		}
		if r.Y, err = d.input("y", h.Y, FormatF32, FormatImage, FormatCodes); err != nil {
			return err
		}
		if (r.X.Format == FormatCodes) != (r.Y.Format == FormatCodes) {
			return Errorf(CodeBadRequest, "protocol: retrieve request %d mixes codes (%s) and images (%s): give both as codes or both as images", r.ID, r.X.Format, r.Y.Format)
		}
		r.Samples = 1
		if h.Samples != nil {
			if *h.Samples < 1 || *h.Samples > MaxSamples {
				return Errorf(CodeBadRequest, "protocol: retrieve request %d has samples %d, want 1..%d", r.ID, *h.Samples, MaxSamples)
			}
			r.Samples = *h.Samples
		}
	case OpDecode:
		if err = d.allow("image"); err != nil {
			return err
		}
		r.Image, err = d.input("image", h.Image, FormatCodes)
	case OpCancel:
		if err = d.allow("target"); err != nil {
			return err
		}
		if h.Target == nil || *h.Target < 0 || *h.Target > maxID {
			return Errorf(CodeBadRequest, "protocol: cancel request %d needs an integer \"target\", the id of the request to cancel", r.ID)
		}
		r.Target = *h.Target
	case OpSample:
		if err = d.allow("dataset", "seed"); err != nil {
			return err
		}
		if len(h.Dataset) > 64 {
			return Errorf(CodeBadRequest, "protocol: sample request %d has a dataset name of %d bytes, want a short name", r.ID, len(h.Dataset))
		}
		r.Dataset, r.Seed = h.Dataset, h.Seed
	case "":
		return Errorf(CodeBadRequest, "protocol: request %d has no \"op\"", r.ID)
	default:
		return Errorf(CodeBadRequest, "protocol: request %d has unknown op %q, want one of load, info, reconstruct, intervene, traverse, retrieve, encode, decode, sample, cancel", r.ID, r.Op)
	}
	return err
}

func (d *decoder) buf(field string, i, max int) ([]byte, error) {
	if i < 0 || i >= len(d.bufs) {
		return nil, Errorf(CodeBadRequest, "protocol: %s request %d: %q names buffer %d, but the message has %d buffers", d.req.Op, d.req.ID, field, i, len(d.bufs))
	}
	b := d.bufs[i]
	if len(b) > max {
		return nil, Errorf(CodeBadRequest, "protocol: %s request %d: %q is %d bytes, want at most %d", d.req.Op, d.req.ID, field, len(b), max)
	}
	if len(b) == 0 {
		return nil, Errorf(CodeBadRequest, "protocol: %s request %d: %q is empty", d.req.Op, d.req.ID, field)
	}
	return b, nil
}

func (d *decoder) input(field string, h *inputHead, formats ...Format) (Input, error) {
	if h == nil || h.Buf == nil {
		return Input{}, Errorf(CodeBadRequest, "protocol: %s request %d needs %q: {\"buf\": index, \"format\": %v}", d.req.Op, d.req.ID, field, formats)
	}
	ok := false
	for _, f := range formats {
		ok = ok || f == h.Format
	}
	if !ok {
		return Input{}, Errorf(CodeBadRequest, "protocol: %s request %d: %q has format %q, want one of %v", d.req.Op, d.req.ID, field, h.Format, formats)
	}
	b, err := d.buf(field, *h.Buf, MaxImageBytes)
	if err != nil {
		return Input{}, err
	}
	in := Input{Format: h.Format}
	switch h.Format {
	case FormatImage:
		in.Encoded = b
	case FormatF32:
		if in.F32, err = Float32s(b); err != nil {
			return Input{}, Errorf(CodeBadRequest, "protocol: %s request %d: %q: %v", d.req.Op, d.req.ID, field, err)
		}
	case FormatCodes:
		if in.Codes, err = Int32s(b); err != nil {
			return Input{}, Errorf(CodeBadRequest, "protocol: %s request %d: %q: %v", d.req.Op, d.req.ID, field, err)
		}
	}
	return in, nil
}

// action accepts a JSON integer (an index) or string (a name or an index);
// the model checks the range and the names.
func (d *decoder) action() (string, error) {
	raw := d.head.Action
	if len(raw) == 0 {
		return "", Errorf(CodeBadRequest, "protocol: %s request %d needs \"action\": an index or a name such as \"scale+\"", d.req.Op, d.req.ID)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return "", Errorf(CodeBadRequest, "protocol: %s request %d has an empty \"action\"", d.req.Op, d.req.ID)
		}
		return s, nil
	}
	var n int64
	if json.Unmarshal(raw, &n) == nil {
		return strconv.FormatInt(n, 10), nil
	}
	return "", Errorf(CodeBadRequest, "protocol: %s request %d has \"action\" %s, want an integer index or a name string", d.req.Op, d.req.ID, truncate(raw))
}

// checksum checks a sha256 given as hex (either case) and returns it in
// lower case, as the engine reports checksums.
func checksum(s string) (string, error) {
	if len(s) != 2*sha256.Size {
		return "", fmt.Errorf("\"sha256\" %q has %d characters, want %d hex digits (or leave it out and the engine hashes the weights)", truncate([]byte(s)), len(s), 2*sha256.Size)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("\"sha256\" %q is not hexadecimal, want %d hex digits (or leave it out and the engine hashes the weights)", truncate([]byte(s)), 2*sha256.Size)
	}
	return strings.ToLower(s), nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// Float32s decodes little-endian float32 bytes (a Float32Array's buffer);
// non-finite values are refused, since no image or probability has them.
func Float32s(b []byte) ([]float32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of float32 values", len(b))
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("value %d is %v, want finite values", i, v)
		}
		f[i] = v
	}
	return f, nil
}

// Int32s decodes little-endian int32 bytes (an Int32Array's buffer).
func Int32s(b []byte) ([]int32, error) {
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("%d bytes is not a whole number of int32 values", len(b))
	}
	c := make([]int32, len(b)/4)
	for i := range c {
		c[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return c, nil
}

// AsError converts any error to an *Error, code CodeInternal unless it is one.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}
