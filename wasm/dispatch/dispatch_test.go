package dispatch

import (
	"context"
	"slices"
	"strings"
	"testing"

	"ctvae/data"
	"ctvae/internal/imageio"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/wasm/protocol"
	"ctvae/weights"
)

// smallConfig is a fast model with the real geometry: 64x64 RGB, 8x8 codes.
const smallConfig = `{"in_channels": 3, "img_size": 64, "hidden_dims": [8, 16, 16], "embedding_dim": 8,
 "num_embeddings": 8, "codebooks": 1, "residual_layers": 2, "action_dim": 12, "causal_hidden_dims": [12, 6]}`

func modelBytes(t testing.TB, seed uint64) []byte {
	t.Helper()
	cfg, err := ctvae.ParseConfig([]byte(smallConfig))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := data.New("shapes3d")
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, 6)
	for _, f := range ds.Factors() {
		names = append(names, f.Name)
	}
	meta := ctvae.Meta{Dataset: "shapes3d", Factors: names, Actions: ds.ActionNames(), Preprocess: ctvae.PreprocessNone}
	b, err := modelfile.Encode(cfg, nn.InitParams(ctvae.Specs(cfg), seed), meta, weights.F32)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func clock() func() float64 {
	t := 0.0
	return func() float64 { t += 0.5; return t }
}

func handle(t *testing.T, e *Engine, r protocol.Request) protocol.Response {
	t.Helper()
	return e.Handle(context.Background(), r, nil)
}

func mustResult(t *testing.T, resp protocol.Response) protocol.Response {
	t.Helper()
	if resp.Head.Type != protocol.TypeResult {
		t.Fatalf("%s: %s %s: %s", resp.Head.Op, resp.Head.Type, resp.Head.Code, resp.Head.Message)
	}
	if resp.Head.MS == nil || *resp.Head.MS <= 0 {
		t.Fatalf("%s result without a time: %+v", resp.Head.Op, resp.Head)
	}
	return resp
}

func sampleImages(t *testing.T, e *Engine, seed uint64) (x, y []float32, truth int) {
	t.Helper()
	s := mustResult(t, handle(t, e, protocol.Request{ID: 90, Op: protocol.OpSample, Seed: seed}))
	return s.Array("x").F32, s.Array("y").F32, s.Head.Sample.Action.Index
}

func TestEngineMatchesModel(t *testing.T) {
	b := modelBytes(t, 3)
	native, _, err := modelfile.Load(b, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(clock())
	info := mustResult(t, handle(t, e, protocol.Request{ID: 1, Op: protocol.OpLoad, Weights: b, Sampling: "mode"})).Head.Info
	if info.Checksum != weights.Checksum(b) || info.Size != 64 || info.Nodes != 64 || len(info.Actions) != 12 || info.Actions[0] != "floor_hue+" || info.Sampling != "mode" {
		t.Fatalf("info: %+v", info)
	}
	x, y, _ := sampleImages(t, e, 5)

	r := mustResult(t, handle(t, e, protocol.Request{ID: 2, Op: protocol.OpIntervene, Image: protocol.Input{Format: protocol.FormatF32, F32: x}, Action: "scale+"}))
	a, _ := native.ParseAction("scale+")
	want, err := native.Intervene(x, a)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Array("codes").I32, want.Codes) || !slices.Equal(r.Array("image").F32, want.Image) ||
		!slices.Equal(r.Array("adjacency").F32, want.Adj) || !slices.Equal(r.Array("mask").F32, want.Mask) {
		t.Fatal("intervene differs from the model's")
	}
	if r.Head.Action == nil || r.Head.Action.Name != "scale+" || r.Head.Action.Index != a {
		t.Fatalf("intervene action %+v", r.Head.Action)
	}

	// The same intervention from the codes.
	codes := slices.Clone(want.Input)
	rc := mustResult(t, handle(t, e, protocol.Request{ID: 3, Op: protocol.OpIntervene, Image: protocol.Input{Format: protocol.FormatCodes, Codes: codes}, Action: "2"}))
	wc, _ := native.InterveneCodes(codes, 2)
	if !slices.Equal(rc.Array("codes").I32, wc.Codes) {
		t.Fatal("intervene on codes differs from the model's")
	}

	rr := mustResult(t, handle(t, e, protocol.Request{ID: 4, Op: protocol.OpRetrieve, X: protocol.Input{Format: protocol.FormatF32, F32: x},
		Y: protocol.Input{Format: protocol.FormatF32, F32: y}, Samples: 1}))
	wr, err := native.Retrieve(context.Background(), x, y, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rr.Head.Retrieval.Best.Index != wr.Best || !slices.Equal(rr.Array("probs").F32, wr.Probs) ||
		!slices.Equal(rr.Array("codesY").I32, wr.CodesY) || len(rr.Head.Retrieval.Factors) != 6 {
		t.Fatalf("retrieval differs: %+v vs best %d", rr.Head.Retrieval, wr.Best)
	}

	// An encoded PNG is decoded in the engine, as imageio does natively.
	png, err := imageio.EncodePNG(x, 3, 64, 64)
	if err != nil {
		t.Fatal(err)
	}
	enc := mustResult(t, handle(t, e, protocol.Request{ID: 5, Op: protocol.OpEncode, Image: protocol.Input{Format: protocol.FormatImage, Encoded: png}}))
	in, _ := imageio.Decode(png, 3, 64)
	wantCodes, _ := native.Encode(in.Data)
	if !slices.Equal(enc.Array("codes").I32, wantCodes) {
		t.Fatal("encode of a PNG differs from the model's")
	}
	dec := mustResult(t, handle(t, e, protocol.Request{ID: 6, Op: protocol.OpDecode, Image: protocol.Input{Format: protocol.FormatCodes, Codes: slices.Clone(wantCodes)}}))
	wantImg, _ := native.Decode(wantCodes)
	if !slices.Equal(dec.Array("image").F32, wantImg) {
		t.Fatal("decode differs from the model's")
	}

	var seen []int
	tr := e.Handle(context.Background(), protocol.Request{ID: 7, Op: protocol.OpTraverse, Image: protocol.Input{Format: protocol.FormatF32, F32: x}, Action: "0", Steps: 3},
		func(done, total int) { seen = append(seen, done, total) })
	mustResult(t, tr)
	if tr.Head.Steps != 3 || len(tr.Array("image").F32) != 3*3*64*64 || len(tr.Array("codes").I32) != 3*64 || !slices.Equal(seen, []int{1, 3, 2, 3, 3, 3}) {
		t.Fatalf("traverse: steps %d, progress %v", tr.Head.Steps, seen)
	}
	wt, _ := native.Traverse(context.Background(), x, 0, 3, nil)
	if !slices.Equal(tr.Array("codes").I32[128:], wt[2].Codes) {
		t.Fatal("traverse step 3 differs from the model's")
	}
}

func TestEngineBadInputsChangeNothing(t *testing.T) {
	e := NewEngine(clock())
	img := protocol.Input{Format: protocol.FormatF32, F32: make([]float32, 3*64*64)}
	if r := handle(t, e, protocol.Request{ID: 1, Op: protocol.OpIntervene, Image: img, Action: "0"}); r.Head.Code != protocol.CodeNoModel {
		t.Fatalf("without a model: %+v", r.Head)
	}
	b := modelBytes(t, 3)
	mustResult(t, handle(t, e, protocol.Request{ID: 2, Op: protocol.OpLoad, Weights: b}))
	before := slices.Clone(mustResult(t, handle(t, e, protocol.Request{ID: 3, Op: protocol.OpEncode, Image: img})).Array("codes").I32)

	corrupt := slices.Clone(b)
	corrupt[len(corrupt)/2] ^= 0xff
	corrupt = corrupt[:len(corrupt)-7]
	other := modelBytes(t, 4)
	for _, c := range []struct {
		req    protocol.Request
		code   string
		expect string
	}{
		{protocol.Request{Op: protocol.OpLoad, Weights: corrupt}, protocol.CodeBadWeights, "previous model stays loaded"},
		{protocol.Request{Op: protocol.OpLoad, Weights: []byte("hello")}, protocol.CodeBadWeights, "refused"},
		{protocol.Request{Op: protocol.OpIntervene, Image: protocol.Input{Format: protocol.FormatF32, F32: make([]float32, 10)}, Action: "0"}, protocol.CodeBadInput, "has 10 floats, want 12288"},
		{protocol.Request{Op: protocol.OpIntervene, Image: img, Action: "colour+"}, protocol.CodeBadInput, `unknown action "colour+"`},
		{protocol.Request{Op: protocol.OpIntervene, Image: img, Action: "12"}, protocol.CodeBadInput, "out of range"},
		{protocol.Request{Op: protocol.OpIntervene, Image: protocol.Input{Format: protocol.FormatCodes, Codes: make([]int32, 63)}, Action: "0"}, protocol.CodeBadInput, "63 codes, want 64"},
		{protocol.Request{Op: protocol.OpDecode, Image: protocol.Input{Format: protocol.FormatCodes, Codes: append(make([]int32, 63), 8)}}, protocol.CodeBadInput, "code 8 at node 63, want 0..7"},
		{protocol.Request{Op: protocol.OpReconstruct, Image: protocol.Input{Format: protocol.FormatImage, Encoded: []byte("GIF89a")}}, protocol.CodeBadInput, "not a PNG or JPEG"},
		{protocol.Request{Op: protocol.OpRetrieve, X: img, Y: img, Samples: 2}, protocol.CodeBadInput, "mode sampling"},
		{protocol.Request{Op: protocol.OpSample, Dataset: "mnist"}, protocol.CodeBadInput, "mnist"},
	} {
		c.req.ID = 10
		r := handle(t, e, c.req)
		if r.Head.Type != protocol.TypeError || r.Head.Code != c.code || !strings.Contains(r.Head.Message, c.expect) || r.Head.ID != 10 {
			t.Errorf("%s: %+v, want code %s with %q", c.req.Op, r.Head, c.code, c.expect)
		}
	}
	after := mustResult(t, handle(t, e, protocol.Request{ID: 4, Op: protocol.OpEncode, Image: img})).Array("codes").I32
	if !slices.Equal(before, after) || e.Model().Meta.Dataset != "shapes3d" {
		t.Fatal("a refused request changed the model")
	}
	// A different good file does replace it.
	info := mustResult(t, handle(t, e, protocol.Request{ID: 5, Op: protocol.OpLoad, Weights: other})).Head.Info
	if info.Checksum != weights.Checksum(other) {
		t.Fatal("second load did not take")
	}
}

func TestEnginePanicIsAnError(t *testing.T) {
	e := NewEngine(nil) // a nil clock panics inside Handle
	r := e.Handle(context.Background(), protocol.Request{ID: 8, Op: protocol.OpInfo}, nil)
	if r.Head.Code != protocol.CodeInternal || r.Head.ID != 8 || !strings.Contains(r.Head.Message, "still running") {
		t.Fatalf("panic answer: %+v", r.Head)
	}
}

func TestSampleIsAOneStepTransition(t *testing.T) {
	e := NewEngine(clock())
	for seed := uint64(0); seed < 20; seed++ {
		for _, name := range []string{"shapes3d", "dsprites"} {
			s := mustResult(t, handle(t, e, protocol.Request{ID: 1, Op: protocol.OpSample, Dataset: name, Seed: seed})).Head.Sample
			F := len(s.FactorsX)
			a := s.Action.Index
			diff := 0
			for f := range s.FactorsX {
				d := s.FactorsY[f] - s.FactorsX[f]
				switch {
				case d == 0:
				case f == a%F && d == map[bool]int{true: 1, false: -1}[a < F]:
					diff++
				default:
					t.Fatalf("%s seed %d: factors %v -> %v for action %v", name, seed, s.FactorsX, s.FactorsY, s.Action)
				}
			}
			if diff != 1 {
				t.Fatalf("%s seed %d: %d factors moved", name, seed, diff)
			}
		}
	}
	a := mustResult(t, handle(t, e, protocol.Request{ID: 1, Op: protocol.OpSample, Dataset: "dsprites", Seed: 7}))
	b := mustResult(t, handle(t, e, protocol.Request{ID: 1, Op: protocol.OpSample, Dataset: "dsprites", Seed: 7}))
	if !slices.Equal(a.Array("x").F32, b.Array("x").F32) || a.Head.Sample.IndexY != b.Head.Sample.IndexY {
		t.Fatal("sample is not deterministic")
	}
}

// ---------------------------------------------------------------- server

type recorder struct{ got []protocol.Response }

func (r *recorder) send(resp protocol.Response) { r.got = append(r.got, resp) }

func (r *recorder) heads() []protocol.Head {
	var h []protocol.Head
	for _, g := range r.got {
		h = append(h, g.Head)
	}
	return h
}

// runUntilIdle runs the server until its queue is empty.
func runUntilIdle(s *Server) {
	for {
		req, ok := s.next()
		if !ok {
			return
		}
		s.run(context.Background(), req)
	}
}

func newLoadedServer(t *testing.T, rec *recorder, yield func()) *Server {
	s := NewServer(NewEngine(clock()), rec.send, yield)
	head, bufs := protocol.EncodeRequest(protocol.Request{ID: 1, Op: protocol.OpLoad, Weights: modelBytes(t, 3)})
	s.Receive(head, bufs)
	runUntilIdle(s)
	if h := rec.heads(); len(h) != 1 || h[0].Type != protocol.TypeResult {
		t.Fatalf("load: %+v", h)
	}
	rec.got = nil
	return s
}

func retrieveRequest(id int64) ([]byte, [][]byte) {
	x := make([]float32, 3*64*64)
	y := make([]float32, 3*64*64)
	for i := range y {
		y[i] = float32(i%64) / 64
	}
	return protocol.EncodeRequest(protocol.Request{ID: id, Op: protocol.OpRetrieve,
		X: protocol.Input{Format: protocol.FormatF32, F32: x}, Y: protocol.Input{Format: protocol.FormatF32, F32: y}})
}

func TestServerCancelsARunningRetrieval(t *testing.T) {
	rec := &recorder{}
	var s *Server
	yields := 0
	s = newLoadedServer(t, rec, func() {
		// What the event loop does while the engine yields: deliver a cancel.
		if yields++; yields == 3 {
			s.Receive(protocol.EncodeRequest(protocol.Request{ID: 21, Op: protocol.OpCancel, Target: 20}))
		}
	})
	s.Receive(retrieveRequest(20))
	runUntilIdle(s)
	h := rec.heads()
	if len(h) != 5 || h[0].Type != protocol.TypeProgress || h[0].Done != 1 || h[0].Total != 14 ||
		h[3].ID != 21 || h[3].Cancelled == nil || !*h[3].Cancelled ||
		h[4].ID != 20 || h[4].Code != protocol.CodeCancelled {
		t.Fatalf("responses: %+v", h)
	}
	if s.Pending() != 0 {
		t.Fatal("cancelled request still pending")
	}
	// The id is free again and the engine works.
	rec.got = nil
	s.Receive(retrieveRequest(20))
	runUntilIdle(s)
	if h := rec.heads(); len(h) != 15 || h[14].Type != protocol.TypeResult || h[14].Retrieval == nil {
		t.Fatalf("after cancel: %+v", h[len(h)-1])
	}
}

func TestServerQueueAndCancelBeforeStart(t *testing.T) {
	rec := &recorder{}
	s := newLoadedServer(t, rec, func() {})
	s.Receive([]byte(`{"id":30,"op":"info"}`), nil)
	s.Receive(retrieveRequest(31))
	s.Receive([]byte(`{"id":30,"op":"info"}`), nil)               // id in flight
	s.Receive([]byte(`{"id":32,"op":"cancel","target":31}`), nil) // queued: never starts
	s.Receive([]byte(`{"id":33,"op":"cancel","target":99}`), nil) // unknown: nothing to do
	s.Receive([]byte(`{"id":34,"op":"bogus"}`), nil)
	runUntilIdle(s)
	h := rec.heads()
	want := []struct {
		id   int64
		typ  string
		code string
	}{{-1, "error", "bad_request"}, {32, "result", ""}, {33, "result", ""}, {34, "error", "bad_request"}, {30, "result", ""}, {31, "error", "cancelled"}}
	if len(h) != len(want) {
		t.Fatalf("responses: %+v", h)
	}
	for i, w := range want {
		if h[i].ID != w.id || h[i].Type != w.typ || h[i].Code != w.code {
			t.Errorf("response %d: %+v, want %+v", i, h[i], w)
		}
	}
	if !*h[1].Cancelled || *h[2].Cancelled || h[4].Info == nil {
		t.Fatalf("cancel answers: %+v %+v", h[1], h[2])
	}
}

func TestServerRunStopsWithContext(t *testing.T) {
	got := make(chan protocol.Response, 4)
	s := NewServer(NewEngine(clock()), func(r protocol.Response) { got <- r }, func() {})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	s.Receive([]byte(`{"id":1,"op":"info"}`), nil)
	if r := <-got; r.Head.Code != protocol.CodeNoModel || r.Head.ID != 1 {
		t.Fatalf("response: %+v", r.Head)
	}
	cancel()
	<-done
}

// A load may carry the sha256 the page already checked: the engine reports
// it instead of hashing the file again, but still reads and validates the
// whole file; without one it hashes; a malformed one is refused and changes
// nothing.
func TestLoadChecksum(t *testing.T) {
	rec := &recorder{}
	s := newLoadedServer(t, rec, func() {})
	b, other := modelBytes(t, 3), modelBytes(t, 4)
	info := func() *protocol.Info {
		t.Helper()
		rec.got = nil
		s.Receive([]byte(`{"id":50,"op":"info"}`), nil)
		runUntilIdle(s)
		if h := rec.heads(); len(h) != 1 || h[0].Info == nil {
			t.Fatalf("info: %+v", h)
		}
		return rec.heads()[0].Info
	}
	load := func(head string, w []byte) protocol.Head {
		t.Helper()
		rec.got = nil
		s.Receive([]byte(head), [][]byte{w})
		runUntilIdle(s)
		h := rec.heads()
		if len(h) != 1 {
			t.Fatalf("%s: %d responses", head, len(h))
		}
		return h[0]
	}
	if got := info().Checksum; got != weights.Checksum(b) {
		t.Fatalf("load without sha256: checksum %s, want the file's %s", got, weights.Checksum(b))
	}

	// Vouched: reported as given (in lower case), not recomputed.
	sum := strings.ToUpper(weights.Checksum(other))
	if h := load(`{"id":51,"op":"load","weights":0,"sha256":"`+sum+`"}`, other); h.Type != protocol.TypeResult || h.Info.Checksum != weights.Checksum(other) {
		t.Fatalf("load with the right sha256: %+v", h)
	}
	vouched := strings.Repeat("5a", 32) // not the file's: the engine does not check it
	if h := load(`{"id":52,"op":"load","weights":0,"sha256":"`+vouched+`"}`, b); h.Type != protocol.TypeResult || h.Info.Checksum != vouched {
		t.Fatalf("load with a vouched sha256: %+v", h)
	}

	// A checksum does not make a bad file load.
	corrupt := slices.Clone(b[:len(b)-7])
	if h := load(`{"id":53,"op":"load","weights":0,"sha256":"`+weights.Checksum(corrupt)+`"}`, corrupt); h.Code != protocol.CodeBadWeights || !strings.Contains(h.Message, "previous model stays loaded") {
		t.Fatalf("corrupt file with its sha256: %+v", h)
	}
	// Malformed checksums: bad requests that change nothing.
	for _, bad := range []string{`""`, `"abc"`, `"` + strings.Repeat("z", 64) + `"`, `"` + weights.Checksum(other) + `0"`, `1`, `["` + weights.Checksum(other) + `"]`} {
		h := load(`{"id":54,"op":"load","weights":0,"sha256":`+bad+`}`, other)
		if h.Type != protocol.TypeError || h.Code != protocol.CodeBadRequest || h.ID != 54 || !strings.Contains(h.Message, "sha256") && !strings.Contains(h.Message, "JSON") {
			t.Errorf("sha256 %s: %+v, want a bad_request about it", bad, h)
		}
	}
	if got := info().Checksum; got != vouched {
		t.Fatalf("after refused loads the checksum is %s, want %s (the model loaded before them)", got, vouched)
	}
	// No checksum: hashed again.
	if h := load(`{"id":55,"op":"load","weights":0}`, other); h.Type != protocol.TypeResult || h.Info.Checksum != weights.Checksum(other) {
		t.Fatalf("load without sha256 after a vouched one: %+v", h)
	}
}
