package ui

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vugu/vugu"

	"ctvae/ui/state"
	"ctvae/wasm/protocol"
)

// gallerySize is how many sample pairs the gallery shows; each costs one
// "sample" request (a few ms of rendering in the worker).
const gallerySize = 8

// GalleryItem is one seeded transition pair of the model's dataset.
type GalleryItem struct {
	X, Y   state.Image
	Action protocol.Named // the true action x -> y
	Names  []string       // factor names
}

// Timing is the last duration of one kind of operation.
type Timing struct {
	Op       string
	EngineMS float64 // in the worker
	TotalMS  float64 // as the page saw it, including transfers and queueing
	Ahead    bool    // the worker started it before the page asked (TotalMS is the page's wait)
}

// Root is the page. Fields are read by root.vugu; they change only under
// the EventEnv lock (event handlers hold it; goroutines take it).
type Root struct {
	P   Platform `vugu:"data"`
	env vugu.EventEnv

	// Model
	Models      []state.ModelOption
	ModelSel    int
	ManifestErr string
	Loading     bool
	LoadPhase   string
	LoadDone    int64
	LoadTotal   int64
	LoadErr     string
	Info        *protocol.Info
	ModelTitle  string
	ModelNote   string // where the weights came from
	Untrained   bool
	EngineErr   string // the engine worker crashed: what happened to it and the model
	EngineBusy  string // the restarted worker is getting the model back, "" when not

	// Input
	Gallery     []GalleryItem
	GalleryBusy bool
	GalleryErr  string
	galleryGen  uint64 // counts fillGallery runs; a run stops when a newer one began
	Input       *state.Image
	InputNotice string
	InputErr    string

	// Edit
	History  state.History
	Busy     string // the operation in flight on the edit panel, "" when idle
	editSeq  uint64 // counts actions applied, for the delayed busy render
	EditErr  string
	Cell     int          // the code-grid cell shown in the readout, -1 for none
	LastStep *state.Image // the current step as an image for retrieval

	// Traversal
	TravAction int
	TravSteps  string
	TravBusy   bool
	TravDone   int
	TravTotal  int
	TravErr    string
	TravCount  int
	TravLabel  string
	travImages []float32
	travVer    uint64 // NextVersion of travImages
	travCancel context.CancelFunc

	// Retrieval
	X, Y      *state.Image
	RetBusy   bool
	RetDone   int
	RetTotal  int
	RetErr    string
	Bars      []state.Bar
	barsVer   uint64 // NextVersion of Bars
	Verdict   string
	retCancel context.CancelFunc
	Samples   string
	RetNotice string

	Timings []Timing
	// Kernel is the engine's kernels (Platform.Kernel) as of the last call.
	Kernel string

	ownWeights []byte // the last user file, kept so that Load can retry
	ownName    string
}

// Init starts listing the shipped models; it runs once, before the first
// render.
func (c *Root) Init(ctx vugu.InitCtx) {
	c.env = ctx.EventEnv()
	c.Cell, c.TravSteps, c.Samples, c.ModelSel = -1, "8", "1", -1
	c.P.OnRestart(c.restarted)
	go c.listModels()
}

// restarted shows an engine restart (see Platform.OnRestart) in the model
// section. Nothing of the page's state is dropped: the history holds codes
// and images, which the new worker takes as they are once it has the model
// again; the operation that was running has failed with its own message.
func (c *Root) restarted(r Restart) {
	c.locked(func() {
		c.EngineBusy = ""
		model := "the model"
		if c.Info != nil {
			model = c.ModelTitle
		}
		switch {
		case !r.Done:
			c.EngineErr = fmt.Sprintf("The engine worker crashed (%s) and was restarted.", r.Why)
			if r.Reloading {
				c.EngineBusy = "Reloading " + model + " into the new engine worker"
			}
		case r.Err != nil:
			c.EngineErr = fmt.Sprintf("The engine worker crashed (%s) and could not get %s back: %s. Load a model again.", r.Why, model, message(r.Err))
		case c.Info == nil:
			c.EngineErr = fmt.Sprintf("The engine worker crashed (%s) and was restarted; no model was loaded.", r.Why)
		case r.Checksum != c.Info.Checksum:
			c.EngineErr = fmt.Sprintf("The engine worker crashed (%s); the restarted worker has weights with sha256 %s…, not %s…: load the model again.",
				r.Why, short(r.Checksum), short(c.Info.Checksum))
		default:
			c.EngineErr = fmt.Sprintf("The engine worker crashed (%s). It was restarted and %s was reloaded (sha256 %s…, as before): "+
				"the input, history and results are kept; an operation that was running must be started again.", r.Why, model, short(r.Checksum))
		}
	})
}

// DrawCanvases brings the platform-drawn parts up to date after a render:
// each canvas (kept outside vugu's reach, so a render does not clear it) and
// the code grid's cells. Everything comes with its version, so the platform
// only touches what changed: redrawing every canvas on every render (a
// hover, a progress message) was a large part of a render's cost. The
// render loop calls it (vugu's Rendered hook is not called for the root
// component).
func (c *Root) DrawCanvases() {
	if c.P == nil {
		return
	}
	for _, d := range c.canvases() {
		_ = c.P.Draw(d.id, d.ver, d.pixels) // a failed draw leaves a blank canvas; the page stays usable
	}
	if s := c.History.Current(); s != nil {
		_ = c.P.Fill("grid-cells", s.Ver, c.GridHTML)
		c.drawCell()
	}
	if len(c.Bars) > 0 {
		_ = c.P.Fill("bars", c.barsVer, c.BarsHTML)
	}
}

// canvasDraw is one canvas to show: its image's version and how to make its
// pixels, called only when the canvas must be redrawn.
type canvasDraw struct {
	id     string
	ver    uint64
	pixels func() (state.Pixels, bool)
}

func (c *Root) canvases() []canvasDraw {
	var out []canvasDraw
	put := func(id string, im *state.Image) {
		if im != nil {
			out = append(out, canvasDraw{id, im.Ver, func() (state.Pixels, bool) { return c.pixels(im) }})
		}
	}
	for i := range c.Gallery {
		put("cv-g-"+strconv.Itoa(i), &c.Gallery[i].X)
	}
	put("cv-input", c.Input)
	if s := c.History.Current(); s != nil && c.Info != nil {
		ch, size := c.Info.Channels, c.Info.Size
		out = append(out, canvasDraw{"cv-current", s.Ver, func() (state.Pixels, bool) {
			p, err := state.ImagePixels(s.Image, ch, size)
			return p, err == nil
		}})
		if s.Adj != nil {
			out = append(out, canvasDraw{"cv-adj", s.Ver, func() (state.Pixels, bool) {
				p, _, err := state.HeatmapPixels(s.Adj, len(s.Codes))
				return p, err == nil
			}})
		}
	}
	if c.TravCount > 0 && c.Info != nil {
		imgs, n, ch, size := c.travImages, c.TravCount, c.Info.Channels, c.Info.Size
		out = append(out, canvasDraw{"cv-trav", c.travVer, func() (state.Pixels, bool) {
			p, err := state.StripPixels(imgs, n, ch, size)
			return p, err == nil
		}})
	}
	put("cv-x", c.X)
	put("cv-y", c.Y)
	return out
}

func (c *Root) pixels(im *state.Image) (state.Pixels, bool) {
	if im == nil {
		return state.Pixels{}, false
	}
	if im.Preview.RGBA != nil {
		return im.Preview, true
	}
	if im.F32 == nil {
		return state.Pixels{}, false
	}
	ch, s := 3, 64
	if c.Info != nil {
		ch, s = c.Info.Channels, c.Info.Size
	}
	if len(im.F32) == 1*s*s {
		ch = 1
	}
	p, err := state.ImagePixels(im.F32, ch, s)
	return p, err == nil
}

// locked runs f under the render lock and re-renders: the way a goroutine
// changes the page.
func (c *Root) locked(f func()) {
	c.env.Lock()
	defer c.env.UnlockRender()
	f()
}

// progressGap is the least time between two renders for progress messages:
// each render takes the page's thread for a while, and a retrieval sends
// a message per graph sample, so rendering each one halved the frame rate
// and made the page see the result late.
const progressGap = 50 // ms

// progress returns a progress callback that records done/total with set
// under the lock but renders at most once per progressGap, and not before
// busyDelay has passed (most operations end sooner, and their result is
// rendered anyway); an update it holds back is rendered by a timer while
// busy (read under the lock) holds, so the bar does not stick.
func (c *Root) progress(busy func() bool, set func(done, total int)) func(done, total int) {
	var mu sync.Mutex
	last := c.P.Now() + float64(busyDelay/time.Millisecond) - progressGap // when the last progress render was asked for
	var timer bool                                                        // a render is scheduled
	return func(done, total int) {
		c.env.Lock()
		set(done, total)
		mu.Lock()
		now := c.P.Now()
		wait := last + progressGap - now
		render := wait <= 0 && !timer
		if render {
			last = now
		} else if !timer {
			timer = true
			time.AfterFunc(time.Duration(max(wait, 1)*float64(time.Millisecond)), func() {
				mu.Lock()
				timer, last = false, c.P.Now()
				mu.Unlock()
				c.env.Lock()
				if busy() {
					c.env.UnlockRender()
				} else {
					c.env.UnlockOnly()
				}
			})
		}
		mu.Unlock()
		if render {
			c.env.UnlockRender()
		} else {
			c.env.UnlockOnly()
		}
	}
}

// call runs one engine request and records its timing.
func (c *Root) call(ctx context.Context, op string, req protocol.Request, progress func(done, total int)) (protocol.Response, error) {
	t0 := c.P.Now()
	resp, err := c.P.Call(ctx, req, progress)
	total := c.P.Now() - t0
	if err == nil {
		// No render for the timing alone: every caller renders its result
		// right after (a render costs the page's thread tens of ms).
		c.env.Lock()
		c.timed(op, resp.Head.MS, total, resp.Head.Ahead)
		c.Kernel = c.P.Kernel()
		c.env.UnlockOnly()
	}
	return resp, err
}

// stays adds to a failed load's message that the model in use is kept,
// unless it says so already (the engine's refusal of a weights file does).
func stays(msg string) string {
	if strings.Contains(strings.ToLower(msg), "previous model stays loaded") {
		return msg
	}
	return msg + " The previous model stays loaded."
}

func (c *Root) timed(op string, engine *float64, total float64, ahead bool) {
	t := Timing{Op: op, TotalMS: total, EngineMS: -1, Ahead: ahead}
	if engine != nil {
		t.EngineMS = *engine
	}
	for i := range c.Timings {
		if c.Timings[i].Op == op {
			c.Timings[i] = t
			return
		}
	}
	c.Timings = append(c.Timings, t)
}

// message is an error as a person should read it: the engine's own text,
// which names the problem; a cancellation is said plainly.
func message(err error) string {
	var e *protocol.Error
	if errors.As(err, &e) && e.Code == protocol.CodeCancelled {
		return "Cancelled."
	}
	if errors.Is(err, context.Canceled) {
		return "Cancelled."
	}
	return err.Error()
}

// ---------------------------------------------------------------- model

func (c *Root) listModels() {
	b, err := c.P.Manifest(context.Background())
	c.P.Mark("manifest")
	var ms []state.ModelOption
	if err == nil {
		ms, err = state.ParseManifest(b)
	}
	auto := false
	c.env.Lock()
	switch {
	case err != nil:
		c.ManifestErr = "Could not list the shipped models: " + err.Error() + ". You can still load a .safetensors file of your own."
	case len(ms) == 0:
		c.ManifestErr = "This build ships no model: load a .safetensors file of your own."
	default:
		c.Models, c.ModelSel, auto = ms, 0, true
	}
	if auto {
		c.env.UnlockOnly() // shown with the load's progress or result (renders cost the start-up)
	} else {
		c.env.UnlockRender()
	}
	if auto {
		// One small model is loaded right away so the page shows something;
		// the others load on request.
		c.loadShipped(0)
	}
}

// SelectModel is the change handler of the model picker.
func (c *Root) SelectModel(e vugu.DOMEvent) {
	if i, err := strconv.Atoi(e.PropString("target", "value")); err == nil && i >= 0 && i < len(c.Models) {
		c.ModelSel = i
	}
}

// LoadSelected loads the picked shipped model.
func (c *Root) LoadSelected() {
	if c.Loading || c.ModelSel < 0 || c.ModelSel >= len(c.Models) {
		return
	}
	go c.loadShipped(c.ModelSel)
}

func (c *Root) loadShipped(i int) {
	var m state.ModelOption
	ok := true
	c.env.Lock()
	if c.Loading {
		ok = false
	} else {
		m = c.Models[i]
		c.Loading, c.LoadErr, c.LoadPhase, c.LoadDone, c.LoadTotal = true, "", "Downloading "+m.Title(), 0, m.Size
	}
	c.env.UnlockOnly()
	if !ok {
		return
	}
	// The progress is rendered only once loading takes a while: weights
	// from the cache come at once, and each render costs the start-up.
	slow := false
	c.renderLater(func() bool { slow = true; return c.Loading })
	bar := c.progress(func() bool { return c.Loading }, func(done, total int) {
		c.LoadDone = int64(done)
		if total > 0 {
			c.LoadTotal = int64(total)
		}
	})
	data, cached, err := c.P.Weights(context.Background(), m, func(loaded, total int64) {
		c.env.Lock()
		late := slow
		c.env.UnlockOnly()
		if late {
			bar(int(loaded), int(total))
			return
		}
		c.env.Lock()
		c.LoadDone = loaded
		if total > 0 {
			c.LoadTotal = total
		}
		c.env.UnlockOnly()
	})
	if err != nil {
		c.locked(func() { c.Loading, c.LoadErr = false, stays(err.Error()) })
		return
	}
	note := "downloaded (" + state.Bytes(int64(len(data))) + "), sha256 checked, cached for offline use"
	if cached {
		note = "from the offline cache (" + state.Bytes(int64(len(data))) + "), sha256 checked"
	}
	c.load(data, m.SHA256, m.Title(), note, m.Untrained)
}

// LoadOwnFile takes a person's weights file (file input or drop).
func (c *Root) LoadOwnFile(name string, data []byte) {
	head := data[:min(len(data), 16)]
	var err error
	c.locked(func() {
		if err = state.CheckWeightsFile(name, int64(len(data)), head); err != nil {
			c.LoadErr = stays(err.Error())
			return
		}
		if c.Loading {
			err = errors.New("busy")
			c.LoadErr = "A model is loading; try again when it is done."
			return
		}
		c.Loading, c.LoadErr, c.LoadPhase, c.LoadDone, c.LoadTotal = true, "", "Reading "+name, int64(len(data)), int64(len(data))
		c.ownWeights, c.ownName = data, name
	})
	if err != nil {
		return
	}
	c.load(data, "", name, "your file ("+state.Bytes(int64(len(data)))+")", false)
}

// load sends weights to the worker; on success everything that depended on
// the old model (codes, history, results) is cleared and the gallery is
// rendered for the new model's dataset. sum is the sha256 the page checked
// the weights against (the manifest's), "" for a person's own file: the
// worker then reports it as the model's checksum instead of hashing the
// file again.
func (c *Root) load(data []byte, sum, title, note string, untrained bool) {
	c.env.Lock()
	c.LoadPhase = "Loading " + title + " into the engine"
	c.env.UnlockOnly()
	c.renderLater(func() bool { return c.Loading && c.LoadPhase == "Loading "+title+" into the engine" })
	resp, err := c.call(context.Background(), "load", protocol.Request{Op: protocol.OpLoad, Weights: data, SHA256: sum}, nil)
	c.P.Mark("engine-loaded")
	if err == nil && resp.Head.Info == nil {
		resp, err = c.call(context.Background(), "info", protocol.Request{Op: protocol.OpInfo}, nil)
	}
	if err == nil && resp.Head.Info == nil {
		err = errors.New("the engine answered without model information")
	}
	if err != nil {
		c.locked(func() { c.Loading, c.LoadErr = false, stays(message(err)) })
		return
	}
	// The new model is rendered with its first reconstruction, which
	// fillGallery asks for at once, so that the worker does not wait for a
	// render of the page in between; only if that is slow is it rendered
	// on its own.
	c.env.Lock()
	c.Loading = false
	c.Info, c.ModelTitle, c.ModelNote, c.Untrained = resp.Head.Info, title, note, untrained
	c.History.Clear()
	c.Input, c.X, c.Y, c.LastStep, c.Bars, c.Verdict, c.TravCount = nil, nil, nil, nil, nil, "", 0
	c.Gallery, c.GalleryErr, c.InputErr, c.EditErr, c.RetErr, c.TravErr = nil, "", "", "", "", ""
	c.TravAction, c.LoadErr, c.EngineErr = 0, "", ""
	info := c.Info
	c.env.UnlockOnly()
	c.renderLater(func() bool { return c.Info == info && c.History.Current() == nil })
	c.fillGallery()
}

// ---------------------------------------------------------------- input

// fillGallery renders the model's sample pairs in the worker. The first
// one becomes the input and is reconstructed before the others are asked
// for, so the page is usable after one sample rather than all of them.
func (c *Root) fillGallery() {
	var ds string
	var gen uint64
	// No render of its own: the first sample's reconstruction, which
	// follows at once, renders it (each render takes the page's thread).
	c.env.Lock()
	c.galleryGen++
	gen = c.galleryGen
	c.GalleryBusy, c.Gallery = true, make([]GalleryItem, 0, gallerySize) // appends keep &c.Gallery[i] valid
	if c.Info != nil {
		ds = c.Info.Dataset
	}
	c.env.UnlockOnly()
	var err error
	if ds == "" {
		err = errors.New("the model records no dataset, so there are no samples to show; upload an image instead")
	}
	for seed := uint64(1); err == nil && seed <= gallerySize; seed++ {
		var item GalleryItem
		if item, err = c.sample(seed); err != nil {
			break
		}
		var first *state.Image
		c.env.Lock()
		stale := gen != c.galleryGen // another model was loaded meanwhile: its own gallery is being filled
		if !stale {
			c.Gallery = append(c.Gallery, item)
			if len(c.Gallery) == 1 && c.Input == nil {
				first = &c.Gallery[0].X
				c.X, c.Y = first, &c.Gallery[0].Y
			}
		}
		if first != nil {
			c.env.UnlockOnly() // setInput renders it with its reconstruction
		} else {
			c.env.UnlockRender()
		}
		if stale {
			return
		}
		if first != nil {
			c.setInput(first)
		}
	}
	c.P.Mark("gallery")
	c.locked(func() {
		if gen != c.galleryGen {
			return
		}
		c.GalleryBusy = false
		if err != nil {
			c.GalleryErr = "Samples: " + message(err)
		}
	})
}

// sample asks the worker for the gallery pair with the given seed.
func (c *Root) sample(seed uint64) (GalleryItem, error) {
	resp, err := c.call(context.Background(), "sample", protocol.Request{Op: protocol.OpSample, Seed: seed}, nil)
	if err != nil {
		return GalleryItem{}, err
	}
	s, x, y := resp.Head.Sample, resp.Array("x"), resp.Array("y")
	if s == nil || x == nil || y == nil {
		return GalleryItem{}, errors.New("the engine's sample answer lacks its images")
	}
	label := fmt.Sprintf("sample %d", seed)
	return GalleryItem{
		X: state.Image{Label: label + " x", Source: state.FromSample, F32: x.F32, Seed: seed, Side: 0, Factors: s.FactorsX,
			Ver: state.NextVersion()},
		Y: state.Image{Label: label + " y", Source: state.FromSample, F32: y.F32, Seed: seed, Side: 1, Factors: s.FactorsY,
			Ver: state.NextVersion()},
		Action: s.Action, Names: s.Names,
	}, nil
}

// PickSample makes gallery item i the input, and its pair the retrieval's
// x and y.
func (c *Root) PickSample(i int) {
	if i < 0 || i >= len(c.Gallery) || c.Busy != "" {
		return
	}
	g := &c.Gallery[i]
	c.X, c.Y, c.Bars, c.Verdict, c.RetErr = &g.X, &g.Y, nil, "", ""
	im := g.X
	go c.setInput(&im)
}

// UploadInput takes a person's image as the input (file input or drop).
func (c *Root) UploadInput(name string, data []byte) {
	if err := state.CheckImageFile(name, int64(len(data)), data[:min(len(data), 16)]); err != nil {
		c.locked(func() { c.InputErr = err.Error() })
		return
	}
	im, err := c.uploaded(name, data)
	if err != nil {
		c.locked(func() { c.InputErr = "Cannot show " + name + ": " + err.Error() })
		return
	}
	c.setInput(im)
}

// UploadY takes a person's image as the retrieval's y.
func (c *Root) UploadY(name string, data []byte) {
	if err := state.CheckImageFile(name, int64(len(data)), data[:min(len(data), 16)]); err != nil {
		c.locked(func() { c.RetErr = err.Error() })
		return
	}
	im, err := c.uploaded(name, data)
	c.locked(func() {
		if err != nil {
			c.RetErr = "Cannot show " + name + ": " + err.Error()
			return
		}
		c.Y, c.RetErr, c.Bars, c.Verdict = im, "", nil, ""
	})
}

func (c *Root) uploaded(name string, data []byte) (*state.Image, error) {
	size, grey := 64, false
	c.locked(func() {
		if c.Info != nil {
			size, grey = c.Info.Size, c.Info.Channels == 1
		}
	})
	p, err := c.P.Preview(context.Background(), data, size)
	if err != nil {
		return nil, err
	}
	if grey {
		state.Grey(p)
	}
	return &state.Image{Label: name, Source: state.FromUpload, Encoded: data, Preview: p, Ver: state.NextVersion()}, nil
}

// setInput reconstructs im and starts a new history from it.
func (c *Root) setInput(im *state.Image) {
	ok, render := true, true
	c.env.Lock()
	switch {
	case c.Info == nil:
		c.Input, c.InputErr = im, "Load a model to reconstruct this image."
		ok = false
	case c.Busy != "":
		ok, render = false, false
	default:
		// The busy state is rendered only if the answer is slow (busyLater).
		c.editSeq++
		c.Busy, c.InputErr, c.EditErr, render = "reconstructing", "", "", false
	}
	seq := c.editSeq
	if render {
		c.env.UnlockRender()
	} else {
		c.env.UnlockOnly()
	}
	if !ok {
		return
	}
	c.busyLater(seq)
	resp, err := c.call(context.Background(), "reconstruct", protocol.Request{Op: protocol.OpReconstruct, Image: im.Input()}, nil)
	c.P.Mark("reconstructed")
	c.locked(func() {
		c.Busy = ""
		if err != nil {
			c.InputErr = "Cannot use " + im.Label + ": " + message(err) + " The previous input stays."
			return
		}
		step, err := stepOf(resp, "reconstruction", -1)
		if err != nil {
			c.InputErr = err.Error()
			return
		}
		c.Input, c.InputNotice, c.Cell = im, resp.Head.Notice, -1
		c.History.Start(step)
		c.LastStep, c.TravCount = nil, 0
	})
}

func stepOf(resp protocol.Response, label string, action int) (state.Step, error) {
	s := state.Step{Label: label, Action: action, Ver: state.NextVersion()}
	img, codes := resp.Array("image"), resp.Array("codes")
	if img == nil || codes == nil {
		return s, errors.New("the engine's answer lacks the image or the codes")
	}
	s.Image, s.Codes = img.F32, codes.I32
	if a := resp.Array("input"); a != nil {
		s.Input = a.I32
	}
	if a := resp.Array("mask"); a != nil {
		s.Mask = a.F32
	}
	if a := resp.Array("adjacency"); a != nil {
		s.Adj = a.F32
	}
	if resp.Head.MS != nil {
		s.MS = *resp.Head.MS
	}
	return s, nil
}

// ---------------------------------------------------------------- edit

// busyDelay is how long an action may take before the page shows that it
// is busy: most answer sooner, and each render takes the page's thread.
const busyDelay = 150 * time.Millisecond

// ApplyAction is the action pad's click handler. The pad's buttons are
// handled by a native listener (wasm/app), not by vugu, which renders the
// whole page after each event it handles: here the page renders once, with
// the result, and shows the busy state only when the answer is slow.
func (c *Root) ApplyAction(a int) {
	c.env.Lock()
	seq, ok := c.apply(a)
	c.env.UnlockOnly()
	if !ok {
		c.locked(func() {}) // the pad may be out of date: show why nothing happened
		return
	}
	c.busyLater(seq)
}

// busyLater renders the edit panel's busy state after busyDelay if the
// operation numbered seq (editSeq) is still running then.
func (c *Root) busyLater(seq uint64) {
	c.renderLater(func() bool { return c.Busy != "" && c.editSeq == seq })
}

// renderLater renders the page after busyDelay if still (called under the
// render lock) holds then: for states that most operations leave before
// anyone could see them.
func (c *Root) renderLater(still func() bool) {
	time.AfterFunc(busyDelay, func() {
		c.env.Lock()
		if still() {
			c.env.UnlockRender()
			return
		}
		c.env.UnlockOnly()
	})
}

// Apply applies action a to the current step's codes; it is called with
// the render lock held.
func (c *Root) Apply(a int) { c.apply(a) }

func (c *Root) apply(a int) (seq uint64, ok bool) {
	cur := c.History.Current()
	if cur == nil || c.Busy != "" || c.Info == nil || a < 0 || a >= len(c.Info.Actions) {
		return 0, false
	}
	c.editSeq++
	c.Busy, c.EditErr = "applying "+c.Info.Actions[a], ""
	codes := cur.Codes
	name := c.Info.Actions[a]
	go func() {
		resp, err := c.call(context.Background(), "intervene", protocol.Request{Op: protocol.OpIntervene,
			Image: protocol.Input{Format: protocol.FormatCodes, Codes: codes}, Action: strconv.Itoa(a)}, nil)
		c.locked(func() {
			c.Busy = ""
			if err != nil {
				c.EditErr = name + ": " + message(err)
				return
			}
			step, err := stepOf(resp, name, a)
			if err != nil {
				c.EditErr = err.Error()
				return
			}
			parent := c.parentLabel(c.History.Len() - 1)
			c.History.Push(step)
			c.LastStep = &state.Image{Label: c.stepLabel(c.History.Len() - 1), Source: state.FromAction,
				F32: step.Image, Parent: parent, Action: a, Ver: step.Ver}
		})
	}()
	return c.editSeq, true
}

// stepLabel names step i for the retrieval slots.
func (c *Root) stepLabel(i int) string {
	if i == 0 {
		return "reconstruction of " + c.Input.Label
	}
	return c.Input.Label + " after " + strings.Join(c.History.Path()[:i], ", ")
}

// parentLabel names step i as the image an action was applied to: the
// reconstruction stands for the input itself, so that x = input, y = its
// first action's result is a pair with a known action.
func (c *Root) parentLabel(i int) string {
	if i == 0 {
		return c.Input.Label
	}
	return c.stepLabel(i)
}

// Undo drops the last action.
func (c *Root) Undo() {
	if c.Busy == "" && c.History.Undo() {
		c.afterHistory()
	}
}

// Reset goes back to the reconstruction.
func (c *Root) Reset() {
	if c.Busy == "" && c.History.Reset() {
		c.afterHistory()
	}
}

func (c *Root) afterHistory() {
	c.EditErr, c.LastStep = "", nil
	if n := c.History.Len(); n > 1 {
		s := c.History.Current()
		c.LastStep = &state.Image{Label: c.stepLabel(n - 1), Source: state.FromAction, F32: s.Image,
			Parent: c.parentLabel(n - 2), Action: s.Action}
	}
}

// HoverCell shows cell i of the code grid in the readout. It is the grid's
// mouseover handler, a native listener in wasm/app (the cell is the rect
// under the pointer, id gc-<node>, see GridHTML): as a vugu handler it
// rendered the whole page for every cell the pointer crossed. Only the
// readout and the selection outline change, and the platform puts them.
func (c *Root) HoverCell(i int) {
	c.env.Lock()
	defer c.env.UnlockOnly()
	s := c.History.Current()
	if s == nil || i < 0 || i >= len(s.Codes) || i == c.Cell {
		return
	}
	c.Cell = i
	c.drawCell()
}

// drawCell puts the readout and the selection outline of the grid, which
// the template leaves empty; called with the render lock held.
func (c *Root) drawCell() {
	s := c.History.Current()
	if s == nil {
		return
	}
	ver := s.Ver<<16 | uint64(c.Cell+1)&0xffff // the step and the cell
	_ = c.P.Fill("readout", ver, func() string { return html.EscapeString(c.CellText()) })
	_ = c.P.Fill("grid-sel", ver, c.SelHTML)
}

// GridKey moves the readout's cell with the arrow keys (the grid is one
// tab stop; arrows walk it).
func (c *Root) GridKey(e vugu.DOMEvent) {
	cur := c.History.Current()
	if cur == nil {
		return
	}
	n := len(cur.Codes)
	side := gridSide(n)
	i := c.Cell
	if i < 0 {
		i = 0
	}
	switch e.PropString("key") {
	case "ArrowRight":
		i++
	case "ArrowLeft":
		i--
	case "ArrowDown":
		i += side
	case "ArrowUp":
		i -= side
	case "Home":
		i = 0
	case "End":
		i = n - 1
	default:
		return
	}
	e.PreventDefault()
	c.Cell = max(0, min(n-1, i))
}

func gridSide(n int) int {
	s := 1
	for s*s < n {
		s++
	}
	return s
}

// ---------------------------------------------------------------- traversal

// SetTravAction is the change handler of the traversal's action picker.
func (c *Root) SetTravAction(e vugu.DOMEvent) {
	if i, err := strconv.Atoi(e.PropString("target", "value")); err == nil {
		c.TravAction = i
	}
}

// SetTravSteps is the input handler of the traversal's length.
func (c *Root) SetTravSteps(e vugu.DOMEvent) { c.TravSteps = e.PropString("target", "value") }

// Traverse applies the chosen action 1..k times from the current image.
func (c *Root) Traverse() {
	if c.TravBusy || c.Info == nil || c.History.Current() == nil {
		return
	}
	k, err := state.ParseSteps(c.TravSteps, protocol.MaxSteps)
	if err != nil {
		c.TravErr = err.Error()
		return
	}
	a := c.TravAction
	if a < 0 || a >= len(c.Info.Actions) {
		c.TravErr = "choose an action"
		return
	}
	// A traversal starts from an image: the input itself before any action,
	// else the current decoded image.
	from := c.Input.Input()
	label := c.Input.Label
	if c.History.Len() > 1 {
		from = protocol.Input{Format: protocol.FormatF32, F32: c.History.Current().Image}
		label = c.stepLabel(c.History.Len() - 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.travCancel, c.TravBusy, c.TravErr, c.TravDone, c.TravTotal = cancel, true, "", 0, k
	name := c.Info.Actions[a]
	go func() {
		defer cancel()
		resp, err := c.call(ctx, "traverse", protocol.Request{Op: protocol.OpTraverse, Image: from, Action: strconv.Itoa(a), Steps: k},
			c.progress(func() bool { return c.TravBusy }, func(done, total int) { c.TravDone, c.TravTotal = max(done, c.TravDone), total }))
		c.locked(func() {
			c.TravBusy, c.travCancel = false, nil
			if err != nil {
				c.TravErr = message(err)
				return
			}
			img := resp.Array("image")
			if img == nil || resp.Head.Steps < 1 {
				c.TravErr = "the engine's traversal answer lacks its images"
				return
			}
			c.travImages, c.TravCount, c.travVer = img.F32, resp.Head.Steps, state.NextVersion()
			c.TravLabel = fmt.Sprintf("%s applied 1..%d times to %s", name, resp.Head.Steps, label)
		})
	}()
}

// CancelTraverse stops the traversal in the worker.
func (c *Root) CancelTraverse() {
	if c.travCancel != nil {
		c.travCancel()
	}
}

// ---------------------------------------------------------------- retrieval

// UseX and UseY fill a retrieval slot: "input", "current", "sx", "sy" (the
// picked sample pair's x or y).
func (c *Root) UseX(what string) {
	c.X = c.choice(what, c.X)
	c.Bars, c.Verdict, c.RetErr = nil, "", ""
}

// UseY fills y; see UseX.
func (c *Root) UseY(what string) {
	c.Y = c.choice(what, c.Y)
	c.Bars, c.Verdict, c.RetErr = nil, "", ""
}

func (c *Root) choice(what string, old *state.Image) *state.Image {
	switch what {
	case "input":
		if c.Input != nil {
			return c.Input
		}
	case "current":
		if c.LastStep != nil {
			return c.LastStep
		}
	}
	return old
}

// PairTruth is what is known about x -> y.
func (c *Root) PairTruth() state.Truth {
	return state.PairTruth(c.X, c.Y, func(seed uint64) (int, bool) {
		for _, g := range c.Gallery {
			if g.X.Seed == seed {
				return g.Action.Index, true
			}
		}
		return 0, false
	})
}

// SetSamples is the input handler of the retrieval's sample count.
func (c *Root) SetSamples(e vugu.DOMEvent) { c.Samples = e.PropString("target", "value") }

// Retrieve finds the action that turns x into y.
func (c *Root) Retrieve() {
	if c.RetBusy {
		return
	}
	if c.Info == nil {
		c.RetErr = "Load a model first."
		return
	}
	if err := state.CheckPair(c.X, c.Y); err != nil {
		c.RetErr = err.Error()
		return
	}
	n, err := state.ParseSteps(c.Samples, protocol.MaxSamples)
	if err != nil {
		c.RetErr = "samples: " + err.Error()
		return
	}
	if c.Info.Sampling == "mode" && n > 1 {
		n = 1 // deterministic sampling gives the same graph every time
	}
	truth := c.PairTruth()
	x, y := c.X.Input(), c.Y.Input()
	ctx, cancel := context.WithCancel(context.Background())
	c.retCancel, c.RetBusy, c.RetErr, c.RetDone, c.RetTotal, c.Bars, c.Verdict = cancel, true, "", 0, 0, nil, ""
	go func() {
		defer cancel()
		resp, err := c.call(ctx, "retrieve", protocol.Request{Op: protocol.OpRetrieve, X: x, Y: y, Samples: n},
			c.progress(func() bool { return c.RetBusy }, func(done, total int) { c.RetDone, c.RetTotal = max(done, c.RetDone), total }))
		c.locked(func() {
			c.RetBusy, c.retCancel = false, nil
			if err != nil {
				c.RetErr = message(err)
				return
			}
			r := resp.Head.Retrieval
			if r == nil {
				c.RetErr = "the engine's retrieval answer lacks its result"
				return
			}
			c.Bars, c.barsVer = state.Bars(r, truth.Action), state.NextVersion()
			c.Verdict = state.Verdict(r, truth, c.actionName)
			c.RetNotice = resp.Head.Notice
		})
	}()
}

// CancelRetrieve stops the retrieval in the worker.
func (c *Root) CancelRetrieve() {
	if c.retCancel != nil {
		c.retCancel()
	}
}

func (c *Root) actionName(a int) string {
	if c.Info != nil && a >= 0 && a < len(c.Info.Actions) {
		return c.Info.Actions[a]
	}
	return fmt.Sprintf("action %d", a)
}

// FileError reports a file that could not be read, in the slot's section.
func (c *Root) FileError(slot string, err error) {
	msg := "Cannot read the file: " + err.Error()
	switch slot {
	case "weights":
		c.LoadErr = msg
	case "input":
		c.InputErr = msg
	default:
		c.RetErr = msg
	}
}

// KernelText says what the engine computes with, for the timings panel.
func KernelText(kernel string) string {
	switch kernel {
	case "simd128":
		return "The engine runs its WebAssembly SIMD kernels."
	case "go":
		return "The engine runs Go's scalar kernels, 3-4x slower: its WebAssembly SIMD ones could not start in this browser (the console says why)."
	}
	return ""
}
