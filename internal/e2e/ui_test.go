package e2e

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/ui/state"
	"ctvae/weights"
)

// uiHooks runs in every document of the page before its own scripts (the
// page's Content-Security-Policy does not apply to it). It adds nothing the
// app reads: a requestAnimationFrame counter, the time of the last click,
// DOM readers, and a watcher that stamps the moment a result shows (a
// MutationObserver, so the time does not depend on how often Go polls).
const uiHooks = `(() => {
  const t = window.__e2e = {frames: 0, click: 0, interactive: 0, armed: null};
  const tick = () => { t.frames++; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  t.x = (xpath) => document.evaluate(xpath, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue;
  t.text = (sel) => { const e = document.querySelector(sel); return e ? e.textContent.trim() : ''; };
  t.texts = (sel) => Array.from(document.querySelectorAll(sel), (e) => e.textContent.trim());
  t.codes = () => t.texts('svg.grid text.code').map(Number);
  t.busy = () => t.texts('[role=status]').some((s) => s.endsWith('…'));
  t.problems = () => t.texts('[role=alert], [role=status], #boot-status').join(' | ');
  t.timings = () => Object.fromEntries(Array.from(document.querySelectorAll('table.timings tbody tr'),
    (r) => [r.querySelector('th').textContent.trim(), Array.from(r.querySelectorAll('td'), (d) => d.textContent.trim())]));
  t.pixels = (id) => {
    const c = document.getElementById(id);
    if (!c || !c.width) return null;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let s = '';
    for (let i = 0; i < d.length; i += 8192) s += String.fromCharCode.apply(null, d.subarray(i, i + 8192));
    return {w: c.width, h: c.height, rgba: btoa(s)};
  };
  document.addEventListener('click', () => {
    t.click = performance.now();
    if (t.armed) t.armed.frames0 = t.frames;
  }, true);
  const check = () => {
    if (!t.interactive && document.querySelector('svg.grid text.code')) t.interactive = performance.now();
    const a = t.armed;
    if (a && !a.at) {
      if (!a.started && a.start()) a.started = true;
      if (a.started && a.done()) { a.at = performance.now(); a.frames = t.frames - a.frames0; }
    }
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, characterData: true, attributes: true});
  t.long = [];
  try { new PerformanceObserver((l) => { for (const e of l.getEntries()) t.long.push([e.startTime, e.duration]); }).observe({type: 'longtask', buffered: true}); } catch (e) {}
  t.arm = (done, start) => { t.armed = {done, start: start || (() => true), started: false, at: 0, frames0: t.frames}; check(); };
})()`

// timeline lists the page's start-up marks (Platform.Mark, start.js, boot.js) and
// navigation milestones, in ms from the navigation.
const timeline = `(() => {
  const n = performance.getEntriesByType('navigation')[0];
  const e = [['html', n.responseEnd], ['dom-ready', n.domContentLoadedEventEnd]];
  for (const m of performance.getEntriesByType('mark')) if (m.name.startsWith('ctvae:')) e.push([m.name.slice(6), m.startTime]);
  // A resource's start; "cache" when the HTTP cache (or the memory cache)
  // answered it, "sw" when it went through the service worker and not to
  // the network.
  const via = (r) => (r.deliveryType === 'cache' ? ' cache' : r.workerStart > 0 && r.transferSize === 0 ? ' sw' : '');
  for (const r of performance.getEntriesByType('resource')) e.push([r.name.split('/').pop().replace(/\.[0-9a-f]{12,}\./, '.') + via(r) + ' ' + Math.round(r.startTime) + '..', r.responseEnd]);
  e.push(['interactive', __e2e.interactive]);
  const ops = Object.entries(__e2e.timings()).map(([op, [w, p]]) => op + ' ' + w + ' / ' + p);
  return e.sort((a, b) => a[1] - b[1]).map(([k, v]) => k + ' ' + Math.round(v)).join(', ') +
    '; last operations, in the worker / as seen by the page: ' + ops.join(', ');
})()`

// uiPage drives the app like a person: clicks, picks and file inputs; it
// reads what the page shows.
type uiPage struct {
	t   *testing.T
	ctx context.Context
}

func (p uiPage) run(what string, actions ...chromedp.Action) {
	p.t.Helper()
	if err := chromedp.Run(p.ctx, actions...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

func (p uiPage) eval(what, js string, out any) {
	p.t.Helper()
	eval(p.t, p.ctx, what, js, out)
}

func (p uiPage) str(js string) string {
	p.t.Helper()
	var s string
	p.eval(js, js, &s)
	return s
}

// waitFor polls the JavaScript condition cond until it holds.
func (p uiPage) waitFor(what, cond string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var ok bool
		p.eval(what, "!!("+cond+")", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %v; the page says: %s", what, timeout, p.str("__e2e.problems()"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// click waits until the element at xpath is enabled and clicks it with
// the mouse.
func (p uiPage) click(xpath string) {
	p.t.Helper()
	p.waitFor("enabled: "+xpath, fmt.Sprintf("(e => e && !e.disabled)(__e2e.x(%q))", xpath), time.Minute)
	p.run("click "+xpath, chromedp.Click(xpath, chromedp.BySearch, chromedp.NodeVisible))
}

// shown is one result as the page showed it.
type shown struct {
	MS     float64 // from the click to the result in the DOM
	Frames int     // frames drawn meanwhile
}

// act clicks xpath and waits until done (a JavaScript condition) holds,
// after start held (for results that first disappear: "" when none do).
func (p uiPage) act(what, xpath, start, done string, timeout time.Duration) shown {
	p.t.Helper()
	if start == "" {
		start = "true"
	}
	var ok bool
	p.eval("arm "+what, fmt.Sprintf("__e2e.arm(() => (%s), () => (%s)), true", done, start), &ok)
	p.click(xpath)
	p.waitFor(what, "__e2e.armed.at > 0", timeout)
	var s shown
	p.eval(what, "({ms: __e2e.armed.at - __e2e.click, frames: __e2e.armed.frames})", &s)
	return s
}

// pick chooses option value in a <select>, as the change event of a
// person's choice delivers it.
func (p uiPage) pick(id, value string) {
	p.t.Helper()
	var ok bool
	p.eval("pick "+id, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q;
  e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === %[2]q; })()`, id, value), &ok)
	if !ok {
		p.t.Fatalf("#%s has no option %q", id, value)
	}
}

// typeIn sets a text or number input, as typing does (an input event).
func (p uiPage) typeIn(id, value string) {
	p.t.Helper()
	var ok bool
	p.eval("type into "+id, fmt.Sprintf(`(() => { const e = document.getElementById(%q); e.value = %q;
  e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, id, value), &ok)
}

func (p uiPage) codes() []int32 {
	p.t.Helper()
	var c []int32
	p.eval("codes", "__e2e.codes()", &c)
	return c
}

// pixels reads a canvas back (putImageData with opaque pixels reads back
// unchanged).
func (p uiPage) pixels(id string) state.Pixels {
	p.t.Helper()
	var r *struct {
		W, H int
		RGBA string
	}
	p.eval("pixels of "+id, fmt.Sprintf("__e2e.pixels(%q)", id), &r)
	if r == nil {
		p.t.Fatalf("canvas #%s is missing or empty", id)
	}
	b, err := base64.StdEncoding.DecodeString(r.RGBA)
	if err != nil {
		p.t.Fatal(err)
	}
	return state.Pixels{W: r.W, H: r.H, RGBA: b}
}

// timing is the timings table's row for op: in the worker, as seen by the
// page (ms).
func (p uiPage) timing(op string) (worker, total float64) {
	p.t.Helper()
	var rows map[string][]string
	p.eval("timings", "__e2e.timings()", &rows)
	r, ok := rows[op]
	if !ok || len(r) != 2 {
		p.t.Fatalf("the timings table has no row %q: %v", op, rows)
	}
	return parseMillis(p.t, r[0]), parseMillis(p.t, r[1])
}

// parseMillis reads state.Millis's text back.
func parseMillis(t *testing.T, s string) float64 {
	t.Helper()
	for unit, scale := range map[string]float64{" ms": 1, " s": 1000} {
		if v, ok := strings.CutSuffix(s, unit); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f * scale
			}
		}
	}
	t.Fatalf("timing %q is not a duration", s)
	return 0
}

// samePixels compares a canvas with the native engine's image: the same
// Go code, but the decoder's Tanh rests on math.Exp (assembly on amd64,
// Go in wasm), so a value may round to the neighbouring 8-bit level.
func samePixels(t *testing.T, what string, got, want state.Pixels) int {
	t.Helper()
	if got.W != want.W || got.H != want.H || len(got.RGBA) != len(want.RGBA) {
		t.Fatalf("%s: %dx%d on the page, %dx%d natively", what, got.W, got.H, want.W, want.H)
	}
	worst, off := 0, 0
	for i := range got.RGBA {
		d := int(got.RGBA[i]) - int(want.RGBA[i])
		if d < 0 {
			d = -d
		}
		if d > 1 {
			off++
		}
		worst = max(worst, d)
	}
	if off > 0 {
		t.Fatalf("%s: %d channel values differ from the native image by more than 1 (worst %d)", what, off, worst)
	}
	return worst
}

// sampleOf is a gallery pair rebuilt natively from what the page shows:
// the caption's factors give x's index; the known action moves one factor.
type sampleOf struct {
	x, y   []float32
	action int
}

func gallerySample(t *testing.T, ds data.Dataset, m *ctvae.Model, caption, truth string) sampleOf {
	t.Helper()
	fs := ds.Factors()
	parts := strings.Split(caption, ", ")
	if len(parts) != len(fs) {
		t.Fatalf("caption %q: %d factors, want %d", caption, len(parts), len(fs))
	}
	v := make([]int, len(fs))
	for i, part := range parts {
		name, val, _ := strings.Cut(part, " ")
		n, err := strconv.Atoi(val)
		if name != fs[i].Name || err != nil {
			t.Fatalf("caption %q: %q is not factor %s's value", caption, part, fs[i].Name)
		}
		v[i] = n
	}
	// "The true action is scale-."
	name, ok := strings.CutPrefix(truth, "The true action is ")
	if !ok {
		t.Fatalf("the pair's truth line is %q", truth)
	}
	a, err := m.ParseAction(strings.TrimSuffix(name, "."))
	if err != nil {
		t.Fatal(err)
	}
	s := sampleOf{action: a}
	render := func(v []int) []float32 {
		ix, err := ds.IndexOf(v)
		if err != nil {
			t.Fatal(err)
		}
		img := make([]float32, data.ImageLen(ds))
		if err := ds.Render(img, ix); err != nil {
			t.Fatal(err)
		}
		return img
	}
	s.x = render(v)
	if a < len(fs) {
		v[a]++
	} else {
		v[a-len(fs)]--
	}
	s.y = render(v)
	return s
}

func pixelsOf(t *testing.T, imgs []float32, steps int) state.Pixels {
	t.Helper()
	p, err := state.StripPixels(imgs, steps, 3, 64)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func nativeModel(t *testing.T, b []byte) *ctvae.Model {
	t.Helper()
	m, _, err := modelfile.Load(b, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// intervene is the native InterveneCodes, copied out of the model's buffers.
func intervene(t *testing.T, m *ctvae.Model, codes []int32, action string) ([]int32, []float32) {
	t.Helper()
	a, err := m.ParseAction(action)
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.InterveneCodes(codes, a)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(r.Codes), slices.Clone(r.Image)
}

func sameCodes(t *testing.T, what string, page, native []int32) {
	t.Helper()
	if !slices.Equal(page, native) {
		t.Fatalf("%s: the page shows codes\n%v\nthe native engine computes\n%v", what, page, native)
	}
}

// XPaths of the page's controls, found as a person finds them: by their
// labels.
const (
	xLoad     = `//button[normalize-space()='Load']`
	xTraverse = `//button[normalize-space()='Traverse']`
	xRetrieve = `//button[normalize-space()='Retrieve']`
)

func xPad(action string) string {
	f, sign := action[:len(action)-1], "plus"
	if strings.HasSuffix(action, "-") {
		sign = "minus"
	}
	return fmt.Sprintf(`//button[@aria-label='%s %s']`, f, sign)
}

func xThumb(i int) string { return fmt.Sprintf(`(//ul[@class='gallery']/li)[%d]//button`, i) }

// Page conditions.
const (
	summarySel  = `section[aria-labelledby=h-model] p.info`
	loadErrSel  = `section[aria-labelledby=h-model] p.error`
	inputErrSel = `section[aria-labelledby=h-input] p.error`
	truthJS     = `__e2e.texts('section[aria-labelledby=h-ret] p.note').find((s) => s.startsWith('The ')) || ''`
	idle        = `!__e2e.busy()`
)

func inputIs(label string) string {
	return fmt.Sprintf(`__e2e.text('#box-cv-input + figcaption') === %q && %s`, "input: "+label, idle)
}

func historyIs(path string) string {
	return fmt.Sprintf(`__e2e.texts('span.note').includes(%q) && %s`, "History: "+path, idle)
}

// TestBrowserUI drives index.html, the app, with two shipped test models:
// each feature through its controls, the results compared with the native
// engine on the same weights and inputs; the page keeps drawing during a
// retrieval; a corrupt file is refused inline and the model in use goes
// on; the site works offline from the service worker's cache.
func TestBrowserUI(t *testing.T) {
	ctx, cancel := browser(t)
	defer cancel()
	dir := shotDir(t)
	st := builtSite(t)
	base, stop := serveStoppable(t, st.dir)
	ds, err := data.New("shapes3d")
	if err != nil {
		t.Fatal(err)
	}
	small, def := nativeModel(t, st.small), nativeModel(t, st.def)
	smallSum, defSum := weights.Checksum(st.small), weights.Checksum(st.def)
	p := uiPage{t, ctx}
	workers := engineWorkers(ctx)
	p.run("install the test hooks", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(uiHooks).Do(ctx)
		return err
	}))
	began := time.Now()
	var bench []string
	benchf := func(format string, args ...any) {
		bench = append(bench, fmt.Sprintf(format, args...))
	}

	// ---------------------------------------------------------------- first visit: the small model loads itself
	p.run("open index.html", chromedp.Navigate(base))
	p.waitFor("the first shipped model loads and its first sample's reconstruction shows",
		`__e2e.interactive > 0 && `+inputIs("sample 1 x"), 2*time.Minute)
	var cold float64
	p.eval("cold load", "__e2e.interactive", &cold)
	if s := p.str(`__e2e.text('#boot-status')`); s != "" {
		t.Fatalf("the app is running, and the page still says %q", s)
	}
	summary := p.str(fmt.Sprintf("__e2e.text(%q)", summarySel))
	if !strings.HasPrefix(summary, strings.TrimSuffix(shippedSmall, ".safetensors")) || !strings.Contains(summary, smallSum[:12]) {
		t.Fatalf("the page loaded %q, want the small test model (sha256 %s…)", summary, smallSum[:12])
	}
	var options []string
	p.eval("model options", `__e2e.texts('#model-pick option')`, &options)
	if len(options) != 2 {
		t.Fatalf("the model picker lists %q, want the two shipped test models", options)
	}
	if note := p.str(`document.querySelector('[aria-labelledby="h-time"] .note').textContent`); !strings.Contains(note, "WebAssembly SIMD kernels") {
		t.Fatalf("the timings panel says %q, want the engine's WebAssembly SIMD kernels named", note)
	}
	benchf("cold load to interactive (navigation to the small model loaded and the first reconstruction shown): %.0f ms", cold)
	benchf("cold load timeline (ms from navigation): %s", p.str(timeline))

	// ---------------------------------------------------------------- reconstruct: pick a gallery sample
	p.act("reconstruct sample 3", xThumb(3), "", inputIs("sample 3 x"), time.Minute)
	s3 := gallerySample(t, ds, small, p.str(`__e2e.texts('ul.gallery .caption')[2]`), p.str(truthJS))
	worst := samePixels(t, "sample 3 as shown", p.pixels("cv-input"), pixelsOf(t, s3.x, 1))
	rec, err := small.Reconstruct(s3.x)
	if err != nil {
		t.Fatal(err)
	}
	recCodes := slices.Clone(rec.Codes)
	sameCodes(t, "reconstruct", p.codes(), recCodes)
	worst = max(worst, samePixels(t, "reconstruction", p.pixels("cv-current"), pixelsOf(t, rec.Image, 1)))

	// ---------------------------------------------------------------- traverse from the input
	const travAction, travSteps = "object_hue+", 4
	ta, _ := small.ParseAction(travAction)
	p.pick("trav-action", strconv.Itoa(ta))
	p.typeIn("trav-steps", strconv.Itoa(travSteps))
	label := fmt.Sprintf("%s applied 1..%d times to sample 3 x", travAction, travSteps)
	p.act("traverse", xTraverse, "", fmt.Sprintf(`__e2e.text('figure.strip figcaption') === %q`, label), time.Minute)
	trav, err := small.Traverse(context.Background(), s3.x, ta, travSteps, nil)
	if err != nil {
		t.Fatal(err)
	}
	var strip []float32
	for _, r := range trav {
		strip = append(strip, r.Image...)
	}
	worst = max(worst, samePixels(t, "traversal strip", p.pixels("cv-trav"), pixelsOf(t, strip, travSteps)))

	// ---------------------------------------------------------------- intervene with the action pad
	codes := recCodes
	var img []float32
	path := ""
	for _, a := range []string{"scale+", "orientation-"} {
		if path != "" {
			path += " → "
		}
		path += a
		p.act("intervene "+a, xPad(a), "", historyIs(path), time.Minute)
		codes, img = intervene(t, small, codes, a)
		sameCodes(t, "intervene "+path, p.codes(), codes)
	}
	worst = max(worst, samePixels(t, "image after "+path, p.pixels("cv-current"), pixelsOf(t, img, 1)))

	// ---------------------------------------------------------------- hover and arrow keys read a code; a hover does not render the page
	renders := func() int {
		var n int
		p.eval("renders", `performance.getEntriesByName('ctvae:sync').length`, &n)
		return n
	}
	var at struct{ X, Y float64 }
	p.eval("where cell 5 is", `(() => { const e = document.getElementById('gc-5'); e.scrollIntoView({block: 'center'});
  const r = e.getBoundingClientRect();
  return {x: r.x + r.width / 2, y: r.y + r.height / 2}; })()`, &at)
	before := renders()
	p.run("hover cell 5", chromedp.MouseEvent(input.MouseMoved, at.X, at.Y))
	readout := func(node int) string {
		side := 8
		return fmt.Sprintf(`__e2e.text('p.readout').startsWith(%q) && !!document.querySelector('#grid-sel rect')`,
			fmt.Sprintf("Node %d (row %d, column %d): code %d", node, node/side+1, node%side+1, codes[node]))
	}
	p.waitFor("the readout of cell 5", readout(5), time.Minute)
	if after := renders(); after != before {
		t.Fatalf("hovering a cell rendered the page %d times", after-before)
	}
	p.run("arrow down from cell 5", chromedp.Focus(`svg.grid`, chromedp.ByQuery), chromedp.KeyEvent(kb.ArrowDown))
	p.waitFor("the readout of cell 13", readout(13), time.Minute)
	t.Logf("hover and keys: %s", p.str(`__e2e.text('p.readout')`))
	t.Logf("small model: codes equal the native engine's; canvases within %d of its 8-bit levels", worst)

	// ---------------------------------------------------------------- retrieve: which action turns sample 3's x into its y?
	verdictGone, verdictShown := `!document.querySelector('p.verdict')`, `!!document.querySelector('p.verdict') && !!document.querySelector('table.bars tr.best th')`
	bestJS := `__e2e.text('table.bars tr.best th').replace(/ \(known\)$/, '')`
	p.act("retrieve (small)", xRetrieve, verdictGone, verdictShown, time.Minute)
	ret, err := small.Retrieve(context.Background(), s3.x, s3.y, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.str(bestJS), small.ActionName(ret.Best); got != want {
		t.Fatalf("retrieval: the page's best action is %q, natively %q (verdict %q)", got, want, p.str(`__e2e.text('p.verdict')`))
	}
	t.Logf("small model: %s", p.str(`__e2e.text('p.verdict')`))

	screenshot(t, ctx, dir, "ui-desktop.png")
	p.run("narrow viewport", chromedp.EmulateViewport(400, 900))
	screenshot(t, ctx, dir, "ui-narrow.png")
	p.run("desktop viewport", emulation.ClearDeviceMetricsOverride())

	if *benchN > 0 {
		latency(p, benchf, "small model", small.ActionName(0), path, *benchN, verdictGone, verdictShown)
	}

	// ---------------------------------------------------------------- the default config: load it from the picker
	p.pick("model-pick", "1")
	load := p.act("load the default-config model", xLoad, "",
		fmt.Sprintf(`__e2e.text(%q).includes(%q) && %s`, summarySel, defSum[:12], inputIs("sample 1 x")), 2*time.Minute)
	benchf("default-config model load (click Load to its first reconstruction shown; download, sha256, parse, gallery): %.0f ms", load.MS)
	s1 := gallerySample(t, ds, def, p.str(`__e2e.texts('ul.gallery .caption')[0]`), p.str(truthJS))
	drec, err := def.Reconstruct(s1.x)
	if err != nil {
		t.Fatal(err)
	}
	dcodes := slices.Clone(drec.Codes)
	sameCodes(t, "default reconstruct", p.codes(), dcodes)

	var idleFrames int
	p.eval("idle frames", `(async () => { const f0 = __e2e.frames; await new Promise((r) => setTimeout(r, 1000)); return __e2e.frames - f0; })()`, &idleFrames)
	// The retrieval runs in the worker: the page must go on drawing frames.
	r := p.act("retrieve (default)", xRetrieve, verdictGone, verdictShown, 2*time.Minute)
	dret, err := def.Retrieve(context.Background(), s1.x, s1.y, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.str(bestJS), def.ActionName(dret.Best); got != want {
		t.Fatalf("default retrieval: the page's best action is %q, natively %q", got, want)
	}
	// Each progress message re-renders the page, which takes the page's
	// thread for tens of ms on a loaded machine, so the frame rate drops
	// well below the idle 60 per second; an engine on the page's thread
	// would instead stop it: one task as long as the retrieval, next to no
	// frames.
	var longest float64
	p.eval("long tasks", `Math.max(0, ...__e2e.long.filter((e) => e[0] >= __e2e.click - 1).map((e) => e[1]))`, &longest)
	if r.Frames < 5 || float64(r.Frames) < r.MS/250 || longest > r.MS/2 {
		t.Fatalf("the page drew %d frames during a %.0f ms retrieval (%d in an idle second), its longest task took %.0f ms: its thread was blocked",
			r.Frames, r.MS, idleFrames, longest)
	}
	t.Logf("default config: %s; the page drew %d frames during the %.0f ms retrieval (%.0f per s; %d in an idle second), longest task %.0f ms",
		p.str(`__e2e.text('p.verdict')`), r.Frames, r.MS, float64(r.Frames)*1000/r.MS, idleFrames, longest)

	p.act("intervene shape+ (default)", xPad("shape+"), "", historyIs("shape+"), time.Minute)
	dcodes, _ = intervene(t, def, dcodes, "shape+")
	sameCodes(t, "default intervene shape+", p.codes(), dcodes)

	// ---------------------------------------------------------------- a corrupt file: an inline error, the model stays
	bad := filepath.Join(t.TempDir(), "corrupt.safetensors")
	if err := os.WriteFile(bad, corruptWeights(st.small), 0o644); err != nil {
		t.Fatal(err)
	}
	p.run("pick the corrupt file", chromedp.SetUploadFiles(`#weights-file`, []string{bad}, chromedp.ByQuery))
	p.waitFor("the corrupt file's error", fmt.Sprintf(`__e2e.text(%q).includes('previous model stays loaded') && %s`, loadErrSel, idle), time.Minute)
	loadErr := p.str(fmt.Sprintf("__e2e.text(%q)", loadErrSel))
	if !strings.Contains(loadErr, "refused") {
		t.Errorf("corrupt weights: the page says %q", loadErr)
	}
	if s := p.str(fmt.Sprintf("__e2e.text(%q)", summarySel)); !strings.Contains(s, defSum[:12]) {
		t.Fatalf("after the corrupt file the page says %q, want the default model still loaded", s)
	}
	p.act("intervene after the refused file", xPad("shape+"), "", historyIs("shape+ → shape+"), time.Minute)
	dcodes, _ = intervene(t, def, dcodes, "shape+")
	sameCodes(t, "intervene after the refused file", p.codes(), dcodes)
	t.Logf("corrupt file: %s", loadErr)
	screenshot(t, ctx, dir, "ui-corrupt-weights.png")

	// ---------------------------------------------------------------- bad input images: inline errors, the state stays
	junk := filepath.Join(t.TempDir(), "junk.png")
	if err := os.WriteFile(junk, []byte("not an image at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	huge := filepath.Join(t.TempDir(), "huge.png")
	if err := os.WriteFile(huge, hugePNGHeader(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ file, want string }{{junk, "not a PNG or JPEG"}, {huge, "Cannot show huge.png"}} {
		p.run("pick "+filepath.Base(c.file), chromedp.SetUploadFiles(`#input-file`, []string{c.file}, chromedp.ByQuery))
		p.waitFor(filepath.Base(c.file)+"'s error", fmt.Sprintf(`__e2e.text(%q).includes(%q) && %s`, inputErrSel, c.want, idle), time.Minute)
		t.Logf("bad input %s: %s", filepath.Base(c.file), p.str(fmt.Sprintf("__e2e.text(%q)", inputErrSel)))
	}
	p.act("intervene after the refused images", xPad("shape+"), "", historyIs("shape+ → shape+ → shape+"), time.Minute)
	dcodes, _ = intervene(t, def, dcodes, "shape+")
	sameCodes(t, "intervene after the refused images", p.codes(), dcodes)

	if *benchN > 0 {
		latency(p, benchf, "default config", "shape+", "shape+ → shape+ → shape+", *benchN, verdictGone, verdictShown)
	}

	// ---------------------------------------------------------------- offline: the service worker serves everything
	var sw string
	p.eval("service worker", `(async () => (await navigator.serviceWorker.ready).active.state)()`, &sw)
	if sw != "activated" {
		t.Fatalf("the service worker is %q, want activated", sw)
	}
	if *benchN > 0 {
		warmVisits(p, workers, base, benchf)
	}
	// ---------------------------------------------------------------- the engine's head start
	// A reload: the worker loads the cached weights, samples and
	// reconstructs before the page asks, and the page adopts all three.
	// With the cached file tampered (same size, one byte flipped) the
	// worker refuses it and asks nothing; the page downloads the weights
	// again, and the visit after that has its head start back.
	headStart(p, "reload", true)
	var tampered string
	p.eval("tamper with the cached weights", `(async () => {
  const c = await caches.open('ctvae-weights-v1');
  const k = (await c.keys()).find((r) => r.url.includes('`+strings.TrimSuffix(shippedSmall, ".safetensors")+`'));
  const b = new Uint8Array(await (await c.match(k)).arrayBuffer());
  b[b.length - 1] ^= 0xff;
  await c.put(k, new Response(b));
  return k.url;
})()`, &tampered)
	headStart(p, "reload with "+filepath.Base(tampered)+" tampered in the cache", false)
	if note := p.str(`__e2e.texts('section[aria-labelledby=h-model] p.note').join(' ')`); !strings.Contains(note, "downloaded") {
		t.Fatalf("after tampering with the cached weights the note says %q, want them downloaded again", note)
	}
	headStart(p, "reload after the download", true)
	sameCodes(t, "reconstruct after the head start", p.codes(), firstSampleCodes(t, ds, small, p))

	stop()
	if resp, err := http.Get(base); err == nil {
		resp.Body.Close()
		t.Fatal("the server still answers after it was stopped")
	}
	p.run("reload offline", chromedp.Reload())
	p.waitFor("the offline reload is interactive", `__e2e.interactive > 0 && `+inputIs("sample 1 x"), 2*time.Minute)
	var offline float64
	p.eval("offline load", "__e2e.interactive", &offline)
	if note := p.str(`__e2e.texts('section[aria-labelledby=h-model] p.note').join(' ')`); !strings.Contains(note, "from the offline cache") {
		t.Fatalf("offline, the weights note says %q, want them from the offline cache", note)
	}
	if s := p.str(fmt.Sprintf("__e2e.text(%q)", summarySel)); !strings.Contains(s, smallSum[:12]) {
		t.Fatalf("offline the page loaded %q, want the small model", s)
	}
	ocodes := firstSampleCodes(t, ds, small, p)
	offlineCodes := slices.Clone(ocodes)
	sameCodes(t, "offline reconstruct", p.codes(), ocodes)
	p.act("intervene offline", xPad("floor_hue+"), "", historyIs("floor_hue+"), time.Minute)
	ocodes, _ = intervene(t, small, ocodes, "floor_hue+")
	sameCodes(t, "offline intervene", p.codes(), ocodes)
	screenshot(t, ctx, dir, "ui-offline.png")
	benchf("offline reload to interactive (server stopped; service worker and weights cache): %.0f ms", offline)
	if *benchN > 0 {
		benchf("offline reload timeline (ms from navigation): %s", p.str(timeline))
		benchf("offline reload, in the engine worker (ms from the page's navigation): %s", workerTimeline(t, ctx, p, lastWorker(t, workers, "the offline reload")))
	}
	// Offline with the HTTP cache cleared too: everything from the service
	// worker's precache.
	p.run("clear the HTTP cache", network.ClearBrowserCache())
	p.run("reload offline without the HTTP cache", chromedp.Reload())
	p.waitFor("the offline reload without the HTTP cache is interactive", `__e2e.interactive > 0 && `+inputIs("sample 1 x"), 2*time.Minute)
	sameCodes(t, "offline reconstruct without the HTTP cache", p.codes(), offlineCodes)

	for _, b := range bench {
		if *benchN > 0 {
			t.Logf("BENCH %s", b)
		} else {
			t.Log(b)
		}
	}
	t.Logf("UI walk-through in %v", time.Since(began).Round(time.Millisecond))
}

// latency times n interventions (action a, pressed on top of the history
// path) and n retrievals through the page: the worker's and the page's
// durations from the timings table, and click to result on screen.
func latency(p uiPage, benchf func(string, ...any), model, a, path string, n int, verdictGone, verdictShown string) {
	p.t.Helper()
	var iw, ip, ic, rw, rp, rc []float64
	var ok bool
	p.eval("clear the measures", "performance.clearMeasures(), true", &ok)
	for range n {
		path += " → " + a
		s := p.act("bench intervene", xPad(a), "", historyIs(path), time.Minute)
		w, tot := p.timing("intervene")
		iw, ip, ic = append(iw, w), append(ip, tot), append(ic, s.MS)
	}
	// The page's renders during the interventions (Platform's measures):
	// how many, and the median of each phase.
	benchf("%s, renders during %d interventions: %s", model, n, p.str(`(() => {
  const by = {};
  for (const m of performance.getEntriesByType('measure')) if (m.name.startsWith('ctvae:')) (by[m.name.slice(6)] ||= []).push(m.duration);
  return Object.entries(by).map(([k, v]) => { v.sort((a, b) => a - b); return k + ' ' + v.length + 'x median ' + v[v.length >> 1].toFixed(1) + ' ms max ' + v[v.length - 1].toFixed(1); }).join(', ');
})()`))
	for range n {
		s := p.act("bench retrieve", xRetrieve, verdictGone, verdictShown, 2*time.Minute)
		w, tot := p.timing("retrieve")
		rw, rp, rc = append(rw, w), append(rp, tot), append(rc, s.MS)
	}
	for _, m := range []struct {
		what string
		v    []float64
	}{
		{"intervene in the worker", iw}, {"intervene as seen by the page", ip}, {"intervene click to codes shown", ic},
		{"retrieve in the worker", rw}, {"retrieve as seen by the page", rp}, {"retrieve click to verdict shown", rc},
	} {
		each := make([]string, len(m.v))
		for i, v := range m.v {
			each[i] = strconv.FormatFloat(v, 'f', 0, 64)
		}
		benchf("%s, %s: median of %d %.1f ms (%s)", model, m.what, n, median(m.v), strings.Join(each, " "))
	}
}

// hugePNGHeader is a PNG whose header claims 100000x100000 pixels (with a
// valid CRC): the worker must refuse it before decoding anything.
func hugePNGHeader() []byte {
	ihdr := []byte{'I', 'H', 'D', 'R', 0, 1, 0x86, 0xa0, 0, 1, 0x86, 0xa0, 8, 2, 0, 0, 0}
	b := []byte("\x89PNG\r\n\x1a\n")
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, ihdr...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(ihdr))
	return b
}

// workerTimeline reads the engine worker's start-up marks and the
// resource timings of its files, in ms from the page's navigation.
func workerTimeline(t *testing.T, ctx context.Context, p uiPage, id target.ID) string {
	t.Helper()
	var origin float64
	p.eval("time origin", "performance.timeOrigin", &origin)
	wctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel) // not before: cancelling closes the target, the page's engine
	var s string
	js := fmt.Sprintf(`(() => {
  const at = (v) => Math.round(performance.timeOrigin + v - %f);
  const e = [['worker-start', 0]];
  for (const m of performance.getEntriesByType('mark')) e.push([m.name, m.startTime]);
  for (const r of performance.getEntriesByType('resource')) e.push([r.name.split('/').pop().replace(/\.[0-9a-f]{12,}\./, '.') + ' fetched', r.responseEnd]);
  return e.sort((a, b) => a[1] - b[1]).map(([k, v]) => k + ' ' + at(v)).join(', ');
})()`, origin)
	if err := chromedp.Run(wctx, chromedp.Evaluate(js, &s)); err != nil {
		t.Fatalf("the engine worker's timeline: %v", err)
	}
	return s
}

// engineWorkers reports every engine worker the page starts: chromedp
// attaches to dedicated workers on its own, so each start is an event.
func engineWorkers(ctx context.Context) <-chan target.ID {
	ch := make(chan target.ID, 16)
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*target.EventAttachedToTarget); ok && e.TargetInfo.Type == "worker" && strings.Contains(e.TargetInfo.URL, "engine-worker") {
			select {
			case ch <- e.TargetInfo.TargetID:
			default:
			}
		}
	})
	return ch
}

// nextWorker waits for the next engine worker the page starts.
func nextWorker(t *testing.T, ch <-chan target.ID, what string) target.ID {
	t.Helper()
	select {
	case id := <-ch:
		return id
	case <-time.After(time.Minute):
		t.Fatalf("%s: no engine worker started within a minute", what)
		return ""
	}
}

// lastWorker is the engine worker the page started last.
func lastWorker(t *testing.T, ch <-chan target.ID, what string) target.ID {
	t.Helper()
	id := nextWorker(t, ch, what)
	for {
		select {
		case id = <-ch:
		default:
			return id
		}
	}
}

// inWorker runs JavaScript inside the worker with the given target id (a
// DevTools session of its own: the page cannot reach its worker's scope).
// The session is closed when the test ends, after the worker is gone.
func inWorker(t *testing.T, ctx context.Context, id target.ID, what, js string) {
	t.Helper()
	wctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(id))
	t.Cleanup(cancel)
	var ok bool
	if err := chromedp.Run(wctx, chromedp.Evaluate(js+"; true", &ok)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowserUIWorkerCrash crashes the app's engine worker twice: with an
// uncaught exception in the worker while a traversal runs there (the error
// event the page gets when a worker dies), and, while nothing runs, with the
// message its bootstrap posts when the Go program exits. Each time the
// running operation fails inline, the app starts a new worker and reloads
// the same weights, says so in the model section, and the history goes on
// with codes equal to the native engine's.
func TestBrowserUIWorkerCrash(t *testing.T) {
	ctx, cancel := browser(t)
	defer cancel()
	st := builtSite(t)
	base := serveDir(t, st.dir)
	ds, err := data.New("shapes3d")
	if err != nil {
		t.Fatal(err)
	}
	small, smallSum := nativeModel(t, st.small), weights.Checksum(st.small)
	workers := engineWorkers(ctx)
	p := uiPage{t, ctx}
	p.run("install the test hooks", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(uiHooks).Do(ctx)
		return err
	}))
	p.run("open index.html", chromedp.Navigate(base))
	p.waitFor("the small model and its first sample", `__e2e.interactive > 0 && `+inputIs("sample 1 x"), 2*time.Minute)
	first := nextWorker(t, workers, "the page's engine")
	s1 := gallerySample(t, ds, small, p.str(`__e2e.texts('ul.gallery .caption')[0]`), p.str(truthJS))
	rec, err := small.Reconstruct(s1.x)
	if err != nil {
		t.Fatal(err)
	}
	codes := slices.Clone(rec.Codes)
	sameCodes(t, "reconstruct", p.codes(), codes)
	p.act("intervene scale+", xPad("scale+"), "", historyIs("scale+"), time.Minute)
	codes, _ = intervene(t, small, codes, "scale+")
	sameCodes(t, "intervene scale+", p.codes(), codes)

	engineErrJS := fmt.Sprintf(`__e2e.texts(%q).find((s) => s.startsWith('The engine worker')) || ''`, loadErrSel)
	reloaded := func(why string) string {
		return fmt.Sprintf(`((s) => s.includes(%q) && s.includes(%q))(%s) && %s`,
			"crashed ("+why+")", "was reloaded (sha256 "+smallSum[:12]+"…, as before)", engineErrJS, idle)
	}

	// ---------------------------------------------------------------- a crash during a traversal
	p.typeIn("trav-steps", "64")
	p.click(xTraverse)
	p.waitFor("the traversal runs", `!!document.querySelector('progress[aria-label="traversal progress"]')`, time.Minute)
	const why1 = "Uncaught Error: e2e: the engine worker dies"
	inWorker(t, ctx, first, "crash the engine worker", `setTimeout(() => { throw new Error('e2e: the engine worker dies'); }, 0)`)
	p.waitFor("the restart and the reload", reloaded(why1), time.Minute)
	travErr := p.str(`__e2e.text('section[aria-labelledby=h-edit] p.error')`)
	if !strings.HasPrefix(travErr, "the engine worker crashed ("+why1+"); it was restarted") {
		t.Fatalf("the traversal that was running says %q", travErr)
	}
	second := nextWorker(t, workers, "the restart")
	if second == first {
		t.Fatal("the restart reused the crashed worker")
	}
	if s := p.str(fmt.Sprintf("__e2e.text(%q)", summarySel)); !strings.Contains(s, smallSum[:12]) {
		t.Fatalf("after the crash the page says %q, want the small model", s)
	}
	t.Logf("crash during a traversal: %q; %q", travErr, p.str(engineErrJS))
	screenshot(t, ctx, shotDir(t), "ui-worker-crash.png")

	// The history goes on in the new worker, and retrieval works.
	p.act("intervene after the crash", xPad("floor_hue+"), "", historyIs("scale+ → floor_hue+"), time.Minute)
	codes, _ = intervene(t, small, codes, "floor_hue+")
	sameCodes(t, "intervene after the crash", p.codes(), codes)
	verdictGone, verdictShown := `!document.querySelector('p.verdict')`, `!!document.querySelector('p.verdict') && !!document.querySelector('table.bars tr.best th')`
	p.act("retrieve after the crash", xRetrieve, verdictGone, verdictShown, time.Minute)
	ret, err := small.Retrieve(context.Background(), s1.x, s1.y, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.str(`__e2e.text('table.bars tr.best th').replace(/ \(known\)$/, '')`), small.ActionName(ret.Best); got != want {
		t.Fatalf("retrieval after the crash: the page's best action is %q, natively %q", got, want)
	}

	// ---------------------------------------------------------------- the Go program exits while the page is idle
	const why2 = "engine-worker: the engine program exited"
	inWorker(t, ctx, second, "report an exit", fmt.Sprintf(`self.postMessage({head: JSON.stringify({id: -1, type: 'fatal', code: 'fatal', message: %q})})`, why2))
	p.waitFor("the second restart and reload", reloaded(why2), time.Minute)
	if third := nextWorker(t, workers, "the second restart"); third == second {
		t.Fatal("the second restart reused the worker")
	}
	p.act("intervene after the second crash", xPad("floor_hue+"), "", historyIs("scale+ → floor_hue+ → floor_hue+"), time.Minute)
	codes, _ = intervene(t, small, codes, "floor_hue+")
	sameCodes(t, "intervene after the second crash", p.codes(), codes)
	t.Logf("exit while idle: %q", p.str(engineErrJS))
}

// warmVisits times the visits after the first (the site from the service
// worker's cache, the weights from the page's): -e2e.warm of them (default
// -e2e.bench), the median and each, with the timelines of the first and last.
func warmVisits(p uiPage, workers <-chan target.ID, base string, benchf func(string, ...any)) {
	visits := *benchN
	if *warmN > 0 {
		visits = *warmN
	}
	var warm []float64
	for i := range visits {
		warm = append(warm, visit(p, base))
		if i == 0 || i == visits-1 {
			benchf("warm visit %d of %d: timeline (ms from navigation): %s", i+1, visits, p.str(timeline))
			benchf("warm visit %d of %d: in the engine worker (ms from the page's navigation): %s", i+1, visits,
				workerTimeline(p.t, p.ctx, p, lastWorker(p.t, workers, "a warm visit")))
		}
	}
	benchf("warm load to interactive (visits after the first: site and weights cached): %s", spread(warm))
}

// visit opens base and returns the ms from navigation to interactive.
func visit(p uiPage, base string) float64 {
	p.t.Helper()
	p.run("visit "+base, chromedp.Navigate(base))
	p.waitFor("the visit of "+base+" is interactive", `__e2e.interactive > 0 && `+inputIs("sample 1 x"), 2*time.Minute)
	var ms float64
	p.eval("load time", "__e2e.interactive", &ms)
	return ms
}

// spread is "median of n M ms, fastest F (each ...)".
func spread(v []float64) string {
	each := make([]string, len(v))
	for i, x := range v {
		each[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return fmt.Sprintf("median of %d %.0f ms, fastest %.0f (%s)", len(v), median(v), slices.Min(v), strings.Join(each, " "))
}

// TestBrowserLoad is the load benchmark alone (make bench-load): a cold
// visit, then the warm visits of TestBrowserUI's benchmark, without the
// walk-through in between. With -e2e.against it also builds that tree's
// site and alternates visits between the two (this tree's first in odd
// rounds, the other's in even ones), so that a machine whose speed drifts
// slows both alike. It runs only with -e2e.bench.
func TestBrowserLoad(t *testing.T) {
	if *benchN == 0 {
		t.Skip("a benchmark: run with -e2e.bench=N")
	}
	ctx, cancel := browser(t)
	defer cancel()
	st := builtSite(t)
	base := serveDir(t, st.dir)
	p := uiPage{t, ctx}
	workers := engineWorkers(ctx)
	p.run("install the test hooks", chromedp.ActionFunc(func(ctx context.Context) error {
		_, err := page.AddScriptToEvaluateOnNewDocument(uiHooks).Do(ctx)
		return err
	}))
	var bench []string
	benchf := func(format string, args ...any) { bench = append(bench, fmt.Sprintf(format, args...)) }
	defer func() {
		for _, b := range bench {
			t.Logf("BENCH %s", b)
		}
	}()
	cold := visit(p, base)
	benchf("cold load to interactive: %.0f ms; timeline (ms from navigation): %s", cold, p.str(timeline))
	var sw string
	p.eval("service worker", `(async () => (await navigator.serviceWorker.ready).active.state)()`, &sw)
	if sw != "activated" {
		t.Fatalf("the service worker is %q, want activated", sw)
	}
	if *against == "" {
		warmVisits(p, workers, base, benchf)
		return
	}
	root, err := filepath.Abs(*against)
	if err != nil {
		t.Fatal(err)
	}
	other, err := buildSiteFrom(root)
	if err != nil {
		t.Fatal(err)
	}
	otherBase := serveDir(t, other.dir)
	benchf("the other tree's cold load: %.0f ms", visit(p, otherBase))
	visits := max(*warmN, *benchN)
	var mine, theirs, diff []float64
	for i := range visits {
		var a, b float64
		if i%2 == 0 {
			a, b = visit(p, base), visit(p, otherBase)
		} else {
			b, a = visit(p, otherBase), visit(p, base)
		}
		mine, theirs, diff = append(mine, a), append(theirs, b), append(diff, a-b)
		if i == visits-1 {
			benchf("the last visit's timeline (ms from navigation; %s): %s", map[bool]string{true: "the other tree", false: "this tree"}[i%2 == 0], p.str(timeline))
		}
	}
	benchf("warm load, this tree: %s", spread(mine))
	benchf("warm load, %s: %s", *against, spread(theirs))
	benchf("this tree minus the other, visit pair by pair: median %.0f ms (%d of %d pairs faster here)", median(diff),
		len(slices.DeleteFunc(slices.Clone(diff), func(d float64) bool { return d >= 0 })), len(diff))
}

// headStart reloads the page and checks whether the page adopted the
// engine worker's own load, sample and reconstruction (want), or the worker
// asked nothing and the page did it all itself.
func headStart(p uiPage, what string, want bool) {
	t := p.t
	t.Helper()
	p.run(what, chromedp.Reload())
	p.waitFor(what+": interactive", `__e2e.interactive > 0 && `+inputIs("sample 1 x"), 2*time.Minute)
	var marks []string
	p.eval(what+": marks", `performance.getEntriesByType('mark').map((m) => m.name.replace('ctvae:', '')).filter((n) => n.startsWith('adopted-') || n === 'ahead-none')`, &marks)
	got := strings.Join(marks, " ")
	if want && got != "adopted-load adopted-sample adopted-reconstruct" {
		t.Fatalf("%s: the page adopted %q of the worker's head start, want its load, sample and reconstruct", what, got)
	}
	if !want && got != "ahead-none" {
		t.Fatalf("%s: the page saw %q of the worker's head start, want ahead-none (the worker refused the cached weights)", what, got)
	}
	t.Logf("%s: %s", what, got)
}

// firstSampleCodes is the native engine's reconstruction codes of the
// first gallery sample the page shows.
func firstSampleCodes(t *testing.T, ds data.Dataset, m *ctvae.Model, p uiPage) []int32 {
	t.Helper()
	s := gallerySample(t, ds, m, p.str(`__e2e.texts('ul.gallery .caption')[0]`), p.str(truthJS))
	rec, err := m.Reconstruct(s.x)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Codes
}
