package ui

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vugu/vugu"

	"ctvae/ui/state"
	"ctvae/wasm/protocol"
)

// fakePlatform answers engine requests like a 2-node, 2-action model, and
// fails loads of weights that start with "bad".
type fakePlatform struct {
	mu        sync.Mutex
	ops       []protocol.Op
	crashed   string // when set, requests fail as if the worker had crashed with this reason
	fills     map[string]string
	onRestart func(Restart)
	weights   []byte   // what Weights returns (an error when nil)
	loadSums  []string // the SHA256 field of each load request
}

func (f *fakePlatform) OnRestart(fn func(Restart)) { f.onRestart = fn }
func (f *fakePlatform) Kernel() string             { return "simd128" }

func (f *fakePlatform) Call(ctx context.Context, req protocol.Request, progress func(done, total int)) (protocol.Response, error) {
	f.mu.Lock()
	f.ops = append(f.ops, req.Op)
	if req.Op == protocol.OpLoad {
		f.loadSums = append(f.loadSums, req.SHA256)
	}
	crashed := f.crashed
	f.mu.Unlock()
	if crashed != "" {
		return protocol.Response{}, &protocol.Error{Code: "crashed", Message: "the engine worker crashed (" + crashed + "); it was restarted: try again"}
	}
	ms := 1.5
	img := []float32{0, 0.5, 1, 0.25} // [1, 2, 2]
	switch req.Op {
	case protocol.OpLoad:
		if strings.HasPrefix(string(req.Weights), "bad") {
			return protocol.Response{}, &protocol.Error{Code: protocol.CodeBadWeights, Message: "weights: bad file"}
		}
		return protocol.Response{Head: protocol.Head{MS: &ms, Info: &protocol.Info{Dataset: "toy", Channels: 1, Size: 2, Checksum: "c0ffee0123456789",
			Nodes: 2, Codebook: 4, HasCausal: true, Actions: []string{"f+", "f-"}, Sampling: "mode"}}}, nil
	case protocol.OpSample:
		return protocol.Response{Head: protocol.Head{MS: &ms, Sample: &protocol.Sample{FactorsX: []int{1}, FactorsY: []int{2},
			Names: []string{"f"}, Action: protocol.Named{Index: 0, Name: "f+"}}},
			Arrays: []protocol.Array{{Name: "x", F32: img}, {Name: "y", F32: img}}}, nil
	case protocol.OpReconstruct, protocol.OpIntervene:
		codes := []int32{1, 2}
		if req.Op == protocol.OpIntervene {
			codes = []int32{1, 3}
		}
		return protocol.Response{Head: protocol.Head{MS: &ms}, Arrays: []protocol.Array{{Name: "image", F32: img},
			{Name: "codes", I32: codes}, {Name: "input", I32: []int32{1, 2}}, {Name: "mask", F32: []float32{0, 1}},
			{Name: "adjacency", F32: []float32{0, 1, 0, 0}}}}, nil
	case protocol.OpRetrieve:
		return protocol.Response{Head: protocol.Head{MS: &ms, Retrieval: &protocol.Retrieval{Best: protocol.Named{Index: 0, Name: "f+"},
			Actions: []protocol.Scored{{Index: 0, Name: "f+", P: 0.9}, {Index: 1, Name: "f-", P: 0.1}}}}}, nil
	}
	return protocol.Response{}, errors.New("unexpected op " + string(req.Op))
}

func (f *fakePlatform) Manifest(context.Context) ([]byte, error) { return nil, errors.New("offline") }
func (f *fakePlatform) Weights(context.Context, state.ModelOption, func(int64, int64)) ([]byte, bool, error) {
	if f.weights != nil {
		return f.weights, true, nil
	}
	return nil, false, errors.New("no shipped weights here")
}
func (f *fakePlatform) Preview(context.Context, []byte, int) (state.Pixels, error) {
	return state.Pixels{}, nil
}
func (f *fakePlatform) Draw(string, uint64, func() (state.Pixels, bool)) error { return nil }
func (f *fakePlatform) Fill(id string, ver uint64, html func() string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fills == nil {
		f.fills = map[string]string{}
	}
	f.fills[id] = html()
	return nil
}
func (f *fakePlatform) Now() float64 { return 0 }
func (f *fakePlatform) Mark(string)  {}

func newRoot() *Root {
	f := &fakePlatform{}
	c := &Root{P: f}
	c.env = vugu.NewEventEnvImpl(&sync.RWMutex{}, make(chan bool, 1024))
	c.Cell, c.TravSteps, c.Samples, c.ModelSel = -1, "8", "1", -1
	f.OnRestart(c.restarted) // what Init does
	return c
}

func weightsFile() []byte {
	b := make([]byte, 20)
	b[0] = 10 // header length 10
	b[8] = '{'
	return b
}

func TestRootLoadEditRetrieve(t *testing.T) {
	c := newRoot()
	c.LoadOwnFile("m.safetensors", weightsFile())
	if c.LoadErr != "" || c.Info == nil || len(c.Gallery) != gallerySize {
		t.Fatalf("after load: err %q, info %v, %d samples", c.LoadErr, c.Info, len(c.Gallery))
	}
	if c.History.Current() == nil || c.Input.Label != "sample 1 x" {
		t.Fatal("the first sample must become the input, reconstructed")
	}
	c.ApplyAction(1) // the pad's click handler; the action runs in a goroutine: wait for it by taking the lock
	waitIdle(t, c)
	if c.History.Len() != 2 || c.History.Current().Label != "f-" || c.LastStep == nil {
		t.Fatalf("after an action: %d steps", c.History.Len())
	}
	cells := c.Cells()
	if !cells[1].Masked || !cells[1].Changed || cells[0].Changed {
		t.Fatalf("cells %+v: node 1 is masked and changed, node 0 neither", cells)
	}
	c.HoverCell(1)
	f := c.P.(*fakePlatform)
	if c.Cell != 1 || !strings.HasPrefix(f.fills["readout"], "Node 1 (row 1, column 2): code 3, was 2") ||
		!strings.Contains(f.fills["grid-sel"], `x="30" y="0"`) {
		t.Fatalf("hovering cell 1: cell %d, readout %q, outline %q", c.Cell, f.fills["readout"], f.fills["grid-sel"])
	}
	// x = the input, y = the action's result: the applied action is known.
	handle(c, func() { c.UseX("input"); c.UseY("current") })
	if tr := c.PairTruth(); tr.Action != 1 || tr.Kind != "applied action" {
		t.Fatalf("truth %+v", tr)
	}
	handle(c, c.Retrieve)
	waitRet(t, c)
	if len(c.Bars) != 2 || !c.Bars[0].Best || !c.Bars[1].True || !strings.Contains(c.Verdict, "differs from the applied action f-") {
		t.Fatalf("bars %+v verdict %q", c.Bars, c.Verdict)
	}
	want := `<tr class="best "><th scope="row">f+</th><td class="barcell">`
	if h := c.BarsHTML(); !strings.HasPrefix(h, want) || !strings.Contains(h, `<th scope="row">f- (known)</th>`) || !strings.Contains(h, `width="100.00"`) {
		t.Fatalf("bars markup %s", h)
	}
	handle(c, c.Undo)
	if c.History.Len() != 1 || c.LastStep != nil {
		t.Fatal("undo must return to the reconstruction and clear the result")
	}
	if len(c.Timings) == 0 {
		t.Fatal("no timings recorded")
	}
	if c.Kernel != "simd128" || !strings.Contains(KernelText(c.Kernel), "WebAssembly SIMD") {
		t.Fatalf("kernel %q shown as %q", c.Kernel, KernelText(c.Kernel))
	}
	if KernelText("") != "" || !strings.Contains(KernelText("go"), "could not start") {
		t.Fatal("KernelText: nothing before the engine said, the reason for Go's kernels")
	}
}

func TestRootBadLoadKeepsModel(t *testing.T) {
	c := newRoot()
	c.LoadOwnFile("m.safetensors", weightsFile())
	info, input := c.Info, c.Input
	bad := append([]byte("bad"), weightsFile()...)
	bad[0], bad[1], bad[2], bad[3], bad[8], bad[11] = 10, 0, 0, 0, 0, '{'
	c.LoadOwnFile("other.safetensors", bad)
	if c.LoadErr == "" || !strings.Contains(c.LoadErr, "previous model stays") {
		t.Fatalf("load error %q", c.LoadErr)
	}
	if c.Info != info || c.Input != input || c.History.Current() == nil {
		t.Fatal("a refused load must leave the model, input and history as they were")
	}
	c.LoadOwnFile("notes.txt", []byte("hello"))
	if !strings.Contains(c.LoadErr, "not a .safetensors file") {
		t.Fatalf("load error %q", c.LoadErr)
	}
	handle(c, func() { c.X = nil; c.Retrieve() })
	if c.RetErr != "choose x first" || c.RetBusy {
		t.Fatalf("retrieve without x: %q", c.RetErr)
	}
	handle(c, func() { c.TravSteps = "0"; c.Traverse() })
	if !strings.Contains(c.TravErr, "from 1 to 64") || c.TravBusy {
		t.Fatalf("traverse with 0 steps: %q", c.TravErr)
	}
}

// TestRootEngineCrash: an operation running when the worker crashes fails
// inline; the restart and the reload of the same weights are said in the
// model section; the state stays and works once the worker is back.
func TestRootEngineCrash(t *testing.T) {
	c := newRoot()
	f := c.P.(*fakePlatform)
	c.LoadOwnFile("m.safetensors", weightsFile())
	info, input := c.Info, c.Input
	f.setCrashed("simulated")
	f.onRestart(Restart{Why: "simulated", Reloading: true})
	if c.EngineBusy == "" || !strings.Contains(c.EngineErr, "crashed (simulated) and was restarted") {
		t.Fatalf("while reloading: busy %q, error %q", c.EngineBusy, c.EngineErr)
	}
	handle(c, func() { c.Apply(0) })
	waitIdle(t, c)
	if !strings.Contains(c.EditErr, "crashed (simulated)") || c.History.Len() != 1 {
		t.Fatalf("an action during the crash: error %q, %d steps", c.EditErr, c.History.Len())
	}
	f.setCrashed("")
	f.onRestart(Restart{Why: "simulated", Done: true, Checksum: info.Checksum})
	if c.EngineBusy != "" || !strings.Contains(c.EngineErr, "was reloaded (sha256 c0ffee012345…, as before)") {
		t.Fatalf("after the reload: busy %q, error %q", c.EngineBusy, c.EngineErr)
	}
	if c.Info != info || c.Input != input {
		t.Fatal("a restart must keep the model and the input")
	}
	handle(c, func() { c.Apply(0) })
	waitIdle(t, c)
	if c.EditErr != "" || c.History.Len() != 2 {
		t.Fatalf("an action after the restart: error %q, %d steps", c.EditErr, c.History.Len())
	}
	f.onRestart(Restart{Why: "again", Done: true, Checksum: "0123456789abcdef"})
	if !strings.Contains(c.EngineErr, "not c0ffee012345…") {
		t.Fatalf("other weights after a restart: %q", c.EngineErr)
	}
	f.onRestart(Restart{Why: "third", Done: true, Err: errors.New("no memory")})
	if !strings.Contains(c.EngineErr, "could not get m.safetensors back: no memory") {
		t.Fatalf("a failed reload: %q", c.EngineErr)
	}
	c.LoadOwnFile("m.safetensors", weightsFile())
	if c.EngineErr != "" {
		t.Fatalf("a load must clear the crash message: %q", c.EngineErr)
	}
}

// handle runs f as vugu runs an event handler: under the render lock
// (timers and goroutines of the page read the state under it too).
func handle(c *Root, f func()) {
	c.env.Lock()
	defer c.env.UnlockOnly()
	f()
}

func (f *fakePlatform) setCrashed(why string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = why
}

func waitIdle(t *testing.T, c *Root) {
	t.Helper()
	for i := 0; i < 5000; i++ { // up to 5 s
		c.env.Lock()
		busy := c.Busy != ""
		c.env.UnlockOnly()
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the edit never finished")
}

func waitRet(t *testing.T, c *Root) {
	t.Helper()
	for i := 0; i < 5000; i++ { // up to 5 s
		c.env.Lock()
		busy := c.RetBusy
		c.env.UnlockOnly()
		if !busy {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the retrieval never finished")
}

// A shipped model's load carries the manifest's sha256, which the platform
// checked the bytes against, so the worker need not hash them again; a
// person's own file carries none.
func TestLoadPassesTheCheckedSum(t *testing.T) {
	c := newRoot()
	f := c.P.(*fakePlatform)
	f.weights = weightsFile()
	sum := strings.Repeat("ab", 32)
	c.Models = []state.ModelOption{{Name: "weights/toy.safetensors", Path: "weights/toy.0123.safetensors", Size: 20, SHA256: sum}}
	c.loadShipped(0)
	c.LoadOwnFile("m.safetensors", weightsFile())
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.loadSums) != 2 || f.loadSums[0] != sum || f.loadSums[1] != "" {
		t.Fatalf("load requests carried sha256 %q, want [%s, \"\"]", f.loadSums, sum)
	}
	if c.LoadErr != "" || c.Info == nil {
		t.Fatalf("after the loads: err %q, info %v", c.LoadErr, c.Info)
	}
}

// TestPageTimingText: a request the worker started ahead says that the
// page's time is only its wait.
func TestPageTimingText(t *testing.T) {
	own := Timing{Op: "load", EngineMS: 40, TotalMS: 52}
	ahead := Timing{Op: "load", EngineMS: 40, TotalMS: 0.4, Ahead: true}
	if got := own.PageTimingText(); got != TimingText(52) {
		t.Errorf("own request: %q, want %q", got, TimingText(52))
	}
	if got := ahead.PageTimingText(); !strings.HasPrefix(got, TimingText(0.4)) || !strings.Contains(got, "waited") {
		t.Errorf("request started ahead: %q, want the wait said as such", got)
	}
}
