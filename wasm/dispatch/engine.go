// Package dispatch executes the engine worker's requests (wasm/protocol)
// against a ctvae.Model: Engine runs one request, Server queues requests,
// runs them one at a time and handles cancellation. It is plain Go, so the
// worker's behaviour is tested natively; wasm/engine only moves bytes
// between JavaScript and a Server.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"ctvae/data"
	"ctvae/internal/imageio"
	"ctvae/internal/modelfile"
	"ctvae/runtime/causal"
	"ctvae/runtime/ctvae"
	"ctvae/wasm/protocol"
)

// Engine holds the loaded model. It is not safe for concurrent use: Server
// serialises the calls.
type Engine struct {
	model *ctvae.Model
	info  *modelfile.Info
	opts  ctvae.Options
	size  int // bytes of the loaded weights file
	now   func() float64
}

// NewEngine returns an engine with no model; now reads a clock in
// milliseconds (performance.now() in the worker).
func NewEngine(now func() float64) *Engine { return &Engine{now: now} }

// Model is the loaded model, nil before the first successful load.
func (e *Engine) Model() *ctvae.Model { return e.model }

// Handle runs one request (not cancel, which Server answers). progress is
// told after each bounded step of traverse and retrieve; ctx is checked
// between steps. Arrays of the response are views into the model's buffers,
// valid until the next Handle. It never panics: a panic becomes an
// "internal" error and the engine stays usable.
func (e *Engine) Handle(ctx context.Context, req protocol.Request, progress ctvae.Progress) (resp protocol.Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = protocol.ErrorResponse(req.ID, protocol.Errorf(protocol.CodeInternal,
				"engine: %s request %d crashed (%v); the worker is still running", req.Op, req.ID, r))
		}
	}()
	start := e.now()
	resp, err := e.handle(ctx, req, progress)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = protocol.Errorf(protocol.CodeCancelled, "engine: %s request %d was cancelled", req.Op, req.ID)
		}
		return protocol.ErrorResponse(req.ID, err)
	}
	ms := e.now() - start
	resp.Head.ID, resp.Head.Type, resp.Head.Op, resp.Head.MS = req.ID, protocol.TypeResult, req.Op, &ms
	return resp
}

func badInput(err error) error {
	var pe *protocol.Error
	if err == nil || errors.As(err, &pe) || errors.Is(err, context.Canceled) {
		return err
	}
	return &protocol.Error{Code: protocol.CodeBadInput, Message: err.Error()}
}

func (e *Engine) handle(ctx context.Context, req protocol.Request, progress ctvae.Progress) (protocol.Response, error) {
	switch req.Op {
	case protocol.OpLoad:
		return e.load(req)
	case protocol.OpSample:
		return e.sample(req)
	}
	if e.model == nil {
		return protocol.Response{}, protocol.Errorf(protocol.CodeNoModel, "engine: %s request %d: no model loaded; send a load request first", req.Op, req.ID)
	}
	m := e.model
	switch req.Op {
	case protocol.OpInfo:
		return protocol.Response{Head: protocol.Head{Info: e.describe()}}, nil
	case protocol.OpReconstruct:
		x, notice, err := e.image("image", req.Image)
		if err != nil {
			return protocol.Response{}, err
		}
		var r *ctvae.Intervention
		if req.VQ {
			r, err = m.ReconstructVQ(x)
		} else {
			r, err = m.Reconstruct(x)
		}
		if err != nil {
			return protocol.Response{}, badInput(err)
		}
		resp := e.intervention(r)
		resp.Head.Notice = notice
		return resp, nil
	case protocol.OpIntervene:
		a, err := e.action(req.Action)
		if err != nil {
			return protocol.Response{}, err
		}
		var r *ctvae.Intervention
		notice := ""
		if req.Image.Format == protocol.FormatCodes {
			if err := e.checkCodes("image", req.Image.Codes); err != nil {
				return protocol.Response{}, err
			}
			r, err = m.InterveneCodes(req.Image.Codes, a)
		} else {
			var x []float32
			if x, notice, err = e.image("image", req.Image); err != nil {
				return protocol.Response{}, err
			}
			r, err = m.Intervene(x, a)
		}
		if err != nil {
			return protocol.Response{}, badInput(err)
		}
		resp := e.intervention(r)
		resp.Head.Notice = notice
		return resp, nil
	case protocol.OpTraverse:
		return e.traverse(ctx, req, progress)
	case protocol.OpRetrieve:
		return e.retrieve(ctx, req, progress)
	case protocol.OpEncode:
		x, notice, err := e.image("image", req.Image)
		if err != nil {
			return protocol.Response{}, err
		}
		codes, err := m.Encode(x)
		if err != nil {
			return protocol.Response{}, badInput(err)
		}
		return protocol.Response{Head: protocol.Head{Notice: notice, Nodes: len(codes)},
			Arrays: []protocol.Array{{Name: "codes", I32: codes}}}, nil
	case protocol.OpDecode:
		img, err := m.Decode(req.Image.Codes)
		if err != nil {
			return protocol.Response{}, badInput(err)
		}
		return protocol.Response{Head: protocol.Head{Shape: e.shape()}, Arrays: []protocol.Array{{Name: "image", F32: img}}}, nil
	}
	return protocol.Response{}, protocol.Errorf(protocol.CodeBadRequest, "engine: request %d: op %q is not run by the engine", req.ID, req.Op)
}

// load builds the new model completely before replacing the old one, so a
// refused file leaves the previous model working.
func (e *Engine) load(req protocol.Request) (protocol.Response, error) {
	opts := ctvae.Options{Sampling: causal.Mode, Seed: req.Seed}
	if req.Sampling == "sample" {
		opts.Sampling = causal.Sample
	}
	// A checksum the sender vouches for (already checked against the site's
	// manifest) saves hashing the file again; it only names the model.
	m, info, err := modelfile.LoadChecked(req.Weights, req.SHA256, opts)
	if err != nil {
		keep := "no model is loaded"
		if e.model != nil {
			keep = "the previous model stays loaded"
		}
		return protocol.Response{}, protocol.Errorf(protocol.CodeBadWeights, "engine: weights file of %d bytes refused (%s): %v", len(req.Weights), keep, err)
	}
	info.File = nil // the model holds what it needs; drop the parsed file
	e.model, e.info, e.opts, e.size = m, info, opts, len(req.Weights)
	return protocol.Response{Head: protocol.Head{Info: e.describe()}}, nil
}

func (e *Engine) describe() *protocol.Info {
	m := e.model
	c := m.Config
	in := &protocol.Info{Config: c.JSON(), Dataset: m.Meta.Dataset, Preprocess: m.Meta.Preprocess,
		Checksum: e.info.Checksum, Channels: c.InChannels, Size: c.ImgSize, Nodes: m.Nodes(),
		Codebook: c.NumEmbeddings, HasCausal: m.HasCausal(), Sampling: e.opts.Sampling.String(),
		Seed: e.opts.Seed, Bytes: e.size, Actions: []string{}, Factors: []string{}}
	if in.Preprocess == "" {
		in.Preprocess = ctvae.PreprocessNone
	}
	for a := 0; a < m.NumActions(); a++ {
		in.Actions = append(in.Actions, m.ActionName(a))
	}
	for f := 0; f < m.NumFactors(); f++ {
		in.Factors = append(in.Factors, m.FactorName(f))
	}
	return in
}

func (e *Engine) shape() []int {
	c := e.model.Config
	return []int{c.InChannels, c.ImgSize, c.ImgSize}
}

// image turns an f32 or encoded input into the model's [C, S, S] input.
func (e *Engine) image(field string, in protocol.Input) ([]float32, string, error) {
	c := e.model.Config
	switch in.Format {
	case protocol.FormatF32:
		if len(in.F32) != e.model.ImageLen() {
			return nil, "", protocol.Errorf(protocol.CodeBadInput, "engine: %s has %d floats, want %d (%dx%dx%d, [C, S, S])",
				field, len(in.F32), e.model.ImageLen(), c.InChannels, c.ImgSize, c.ImgSize)
		}
		return in.F32, "", nil
	case protocol.FormatImage:
		img, err := imageio.Decode(in.Encoded, c.InChannels, c.ImgSize)
		if err != nil {
			return nil, "", protocol.Errorf(protocol.CodeBadInput, "engine: %s: %v", field, err)
		}
		return img.Data, img.Notice, nil
	}
	return nil, "", protocol.Errorf(protocol.CodeBadInput, "engine: %s has format %q, want an image (f32 or encoded)", field, in.Format)
}

func (e *Engine) checkCodes(field string, codes []int32) error {
	n, k := e.model.Nodes(), e.model.Config.NumEmbeddings
	if len(codes) != n {
		return protocol.Errorf(protocol.CodeBadInput, "engine: %s has %d codes, want %d", field, len(codes), n)
	}
	for i, c := range codes {
		if c < 0 || int(c) >= k {
			return protocol.Errorf(protocol.CodeBadInput, "engine: %s has code %d at node %d, want 0..%d", field, c, i, k-1)
		}
	}
	return nil
}

func (e *Engine) action(s string) (int, error) {
	a, err := e.model.ParseAction(s)
	return a, badInput(err)
}

func (e *Engine) named(a int) *protocol.Named {
	if a < 0 {
		return nil
	}
	return &protocol.Named{Index: a, Name: e.model.ActionName(a)}
}

// intervention lists the arrays of one pass; the VQ-only path has no mask,
// graph or code distributions, so those arrays are absent.
func (e *Engine) intervention(r *ctvae.Intervention) protocol.Response {
	resp := protocol.Response{Head: protocol.Head{Action: e.named(r.Action), Shape: e.shape(), Nodes: len(r.Codes)}}
	add := func(name string, f []float32, i []int32) {
		if f != nil || i != nil {
			resp.Arrays = append(resp.Arrays, protocol.Array{Name: name, F32: f, I32: i})
		}
	}
	add("image", r.Image, nil)
	add("codes", nil, r.Codes)
	add("input", nil, r.Input)
	add("mask", r.Mask, nil)
	add("maskP", r.MaskP, nil)
	add("adjacency", r.Adj, nil)
	add("codeProbs", r.Probs, nil)
	return resp
}

func (e *Engine) traverse(ctx context.Context, req protocol.Request, progress ctvae.Progress) (protocol.Response, error) {
	a, err := e.action(req.Action)
	if err != nil {
		return protocol.Response{}, err
	}
	x, notice, err := e.image("image", req.Image)
	if err != nil {
		return protocol.Response{}, err
	}
	steps, err := e.model.Traverse(ctx, x, a, req.Steps, progress)
	if err != nil {
		return protocol.Response{}, badInput(err)
	}
	var img, mask, adj []float32
	var codes []int32
	for _, s := range steps {
		img = append(img, s.Image...)
		codes = append(codes, s.Codes...)
		mask = append(mask, s.Mask...)
		adj = append(adj, s.Adj...)
	}
	return protocol.Response{
		Head: protocol.Head{Action: e.named(a), Shape: e.shape(), Steps: len(steps), Nodes: e.model.Nodes(), Notice: notice},
		Arrays: []protocol.Array{{Name: "image", F32: img}, {Name: "codes", I32: codes},
			{Name: "mask", F32: mask}, {Name: "adjacency", F32: adj}},
	}, nil
}

func (e *Engine) retrieve(ctx context.Context, req protocol.Request, progress ctvae.Progress) (protocol.Response, error) {
	m := e.model
	var r *ctvae.Retrieval
	var err error
	notice := ""
	if req.X.Format == protocol.FormatCodes {
		if err := e.checkCodes("x", req.X.Codes); err != nil {
			return protocol.Response{}, err
		}
		if err := e.checkCodes("y", req.Y.Codes); err != nil {
			return protocol.Response{}, err
		}
		r, err = m.RetrieveCodes(ctx, req.X.Codes, req.Y.Codes, req.Samples, progress)
	} else {
		x, nx, errX := e.image("x", req.X)
		if errX != nil {
			return protocol.Response{}, errX
		}
		y, ny, errY := e.image("y", req.Y)
		if errY != nil {
			return protocol.Response{}, errY
		}
		notice = joinNotices(nx, ny)
		r, err = m.Retrieve(ctx, x, y, req.Samples, progress)
	}
	if err != nil {
		return protocol.Response{}, badInput(err)
	}
	head := &protocol.Retrieval{Best: *e.named(r.Best), Decrease: r.Decrease, Samples: req.Samples,
		BestFactor: protocol.Named{Index: r.BestFactor, Name: m.FactorName(r.BestFactor)}}
	for a, p := range r.Probs {
		head.Actions = append(head.Actions, protocol.Scored{Index: a, Name: m.ActionName(a), P: p})
	}
	for f, p := range r.FactorProbs {
		head.Factors = append(head.Factors, protocol.Scored{Index: f, Name: m.FactorName(f), P: p})
	}
	return protocol.Response{
		Head: protocol.Head{Retrieval: head, Nodes: m.Nodes(), Notice: notice},
		Arrays: []protocol.Array{{Name: "probs", F32: r.Probs}, {Name: "factorProbs", F32: r.FactorProbs},
			{Name: "dist", F32: r.Dist}, {Name: "codesX", I32: r.CodesX}, {Name: "codesY", I32: r.CodesY}},
	}, nil
}

// sample draws a seeded transition pair: a uniform image index, then a
// uniform action among those that keep its factor in range.
func (e *Engine) sample(req protocol.Request) (protocol.Response, error) {
	name := req.Dataset
	if name == "" && e.model != nil {
		name = e.model.Meta.Dataset
	}
	if name == "" {
		return protocol.Response{}, protocol.Errorf(protocol.CodeBadInput, "engine: sample request %d names no dataset and the loaded model (if any) records none; want one of %s", req.ID, strings.Join(data.Names(), ", "))
	}
	ds, err := data.New(name)
	if err != nil {
		return protocol.Response{}, protocol.Errorf(protocol.CodeBadInput, "engine: sample request %d: %v", req.ID, err)
	}
	rng := rand.New(rand.NewPCG(req.Seed, 0x9e3779b97f4a7c15))
	ix := rng.IntN(ds.Len())
	fx, err := ds.FactorsOf(ix)
	if err != nil {
		return protocol.Response{}, err
	}
	factors := ds.Factors()
	F := len(factors)
	var valid []int
	for a := 0; a < 2*F; a++ {
		f, v := a%F, fx[a%F]
		if (a < F && v+1 < factors[f].Size) || (a >= F && v > 0) {
			valid = append(valid, a)
		}
	}
	if len(valid) == 0 {
		return protocol.Response{}, protocol.Errorf(protocol.CodeInternal, "engine: dataset %s image %d has no factor that can move", name, ix)
	}
	a := valid[rng.IntN(len(valid))]
	fy := append([]int(nil), fx...)
	if a < F {
		fy[a]++
	} else {
		fy[a-F]--
	}
	iy, err := ds.IndexOf(fy)
	if err != nil {
		return protocol.Response{}, err
	}
	n := data.ImageLen(ds)
	x, y := make([]float32, n), make([]float32, n)
	if err := ds.Render(x, ix); err != nil {
		return protocol.Response{}, err
	}
	if err := ds.Render(y, iy); err != nil {
		return protocol.Response{}, err
	}
	names := make([]string, F)
	for f := range factors {
		names[f] = factors[f].Name
	}
	head := &protocol.Sample{Dataset: ds.Name(), IndexX: ix, IndexY: iy, FactorsX: fx, FactorsY: fy, Names: names,
		Action: protocol.Named{Index: a, Name: ds.ActionNames()[a]}}
	return protocol.Response{Head: protocol.Head{Sample: head, Shape: []int{ds.Channels(), ds.Size(), ds.Size()}},
		Arrays: []protocol.Array{{Name: "x", F32: x}, {Name: "y", F32: y}}}, nil
}

func joinNotices(x, y string) string {
	switch {
	case x == "" && y == "":
		return ""
	case y == "":
		return "x: " + x
	case x == "":
		return "y: " + y
	}
	return fmt.Sprintf("x: %s; y: %s", x, y)
}
