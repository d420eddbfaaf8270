package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"ctvae/data"
	"ctvae/internal/imageio"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/serve"
	"ctvae/weights"
)

var (
	shotsDir = flag.String("e2e.shots", "", "directory for the screenshots (default: a temporary directory, logged)")
	require  = flag.Bool("e2e.require", false, "fail, not skip, when chromium is missing (CI)")
	benchN   = flag.Int("e2e.bench", 0, "timed repetitions of intervene and retrieve with the default config (a benchmark, off by default)")
)

// smallConfig is a fast model with the real geometry: 64x64 RGB, 8x8 codes.
const smallConfig = `{"in_channels": 3, "img_size": 64, "hidden_dims": [8, 16, 16], "embedding_dim": 8,
 "num_embeddings": 8, "codebooks": 1, "residual_layers": 2, "action_dim": 12, "causal_hidden_dims": [12, 6]}`

func modelBytes(t *testing.T, cfg ctvae.Config, seed uint64, dt weights.DType) []byte {
	t.Helper()
	ds, err := data.New("shapes3d")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range ds.Factors() {
		names = append(names, f.Name)
	}
	meta := ctvae.Meta{Dataset: "shapes3d", Factors: names, Actions: ds.ActionNames(), Preprocess: ctvae.PreprocessNone}
	b, err := modelfile.Encode(cfg, nn.InitParams(ctvae.Specs(cfg), seed), meta, dt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// site builds the real static site into dir with `go run ./build` (content-
// hashed names, manifest, service worker, precompressed variants) and adds
// the given extra files (test models) under their plain names.
func site(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "run", "./build", "-src", root, "-out", dir)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go run ./build: %v\n%s", err, out)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// serveDir serves dir on 127.0.0.1 and returns the base URL.
func serveDir(t *testing.T, dir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h, err := serve.NewHandler(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/"
}

func browser(t *testing.T) (context.Context, context.CancelFunc) {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if *require {
			t.Fatal("e2e: chromium is not installed (apt-get update && apt-get install -y chromium)")
		}
		t.Skip("e2e: chromium is not installed; install it with `apt-get update && apt-get install -y chromium` (CI passes -e2e.require)")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 1100),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	// This chromedp's protocol tables predate some events of Debian's
	// chromium (an unknown IP address space); those decode errors are noise.
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromedp: %s", msg)
		}
	}))
	// About a minute on an idle 2-core machine; the margin is for a loaded one.
	ctx, cancelT := context.WithTimeout(ctx, 5*time.Minute)
	chromedp.ListenTarget(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, string(a.Value)+a.Description)
			}
			t.Logf("console.%s: %s", e.Type, strings.Join(parts, " "))
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s", e.ExceptionDetails.Error())
		}
	})
	return ctx, func() { cancelT(); cancelC(); cancelA() }
}

// eval runs an async JavaScript expression and decodes its JSON result.
func eval(t *testing.T, ctx context.Context, what, js string, out any) {
	t.Helper()
	var raw []byte
	err := chromedp.Run(ctx, chromedp.Evaluate(js, &raw, func(p *runtime.EvaluateParams) *runtime.EvaluateParams {
		return p.WithAwaitPromise(true)
	}))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: result %s: %v", what, raw, err)
	}
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

func f32(t *testing.T, b64 string) []float32 {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(b)%4 != 0 {
		t.Fatalf("float32 payload: %v (%d bytes)", err, len(b))
	}
	f := make([]float32, len(b)/4)
	for i := range f {
		f[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return f
}

// closeProbs compares probabilities computed natively and in wasm: the same
// Go code, but amd64's math.Exp is assembly and wasm's is Go, so the last
// bits may differ (tolerance 1e-5 absolute).
func closeProbs(t *testing.T, what string, got []float64, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d probabilities, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-float64(want[i])) > 1e-5 {
			t.Fatalf("%s: p[%d] = %v in the browser, %v natively", what, i, got[i], want[i])
		}
	}
}

func ints(v []int32) []int {
	out := make([]int, len(v))
	for i, c := range v {
		out[i] = int(c)
	}
	return out
}

// oddPNG is a 96x80 RGB image: the worker must crop and resize it.
func oddPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 80))
	for y := 0; y < 80; y++ {
		for x := 0; x < 96; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 2), uint8(y * 3), uint8((x ^ y) * 4), 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// helpers is evaluated in the page once: base64 of a typed array's bytes.
const helpers = `globalThis.b64 = (a) => {
  const u = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  let s = '';
  for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode.apply(null, u.subarray(i, i + 8192));
  return btoa(s);
}; true`

func TestBrowser(t *testing.T) {
	ctx, cancel := browser(t)
	defer cancel()
	shots := *shotsDir
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	smallCfg, err := ctvae.ParseConfig([]byte(smallConfig))
	if err != nil {
		t.Fatal(err)
	}
	small := modelBytes(t, smallCfg, 3, weights.F32)
	def := modelBytes(t, ctvae.DefaultConfig(), 1, weights.F16)
	corrupt := slices.Clone(small[:len(small)-100])
	corrupt[40] ^= 0x5a
	picture := oddPNG(t)
	dir := t.TempDir()
	site(t, dir, map[string][]byte{"model.safetensors": small, "default.safetensors": def,
		"corrupt.safetensors": corrupt, "odd.png": picture})
	base := serveDir(t, dir)

	start := time.Now()
	var ok bool
	if err := chromedp.Run(ctx, chromedp.Navigate(base+"example.html"),
		chromedp.WaitVisible(`body[data-ready="true"]`, chromedp.ByQuery)); err != nil {
		t.Fatalf("example.html did not start the engine: %v", err)
	}
	eval(t, ctx, "helpers", helpers, &ok)
	t.Logf("engine ready in %v", time.Since(start))

	// ---------------------------------------------------------------- small model
	var r1 struct {
		Checksum, X, Y, Truth, PNGNotice   string
		Rec, Itv, CodesX, CodesY, PNGCodes []int32
		ItvName                            string
		Best                               int
		Probs                              []float64
		MS                                 float64
	}
	eval(t, ctx, "small model", fmt.Sprintf(`(async () => {
  const m = example.model();
  const info = await example.load('model.safetensors', %q);
  const s = await example.samplePair();
  const rec = await m.reconstruct(s.x);
  const itv = await m.intervene(s.x, 'scale+');
  const ret = await example.retrieve();
  const png = await (await fetch('odd.png')).blob();
  const pr = await m.reconstruct(png);
  return {checksum: info.checksum, x: b64(s.x), y: b64(s.y), truth: s.sample.action.name,
    rec: Array.from(rec.codes), itv: Array.from(itv.codes), itvName: itv.action.name,
    best: ret.retrieval.best.index, probs: Array.from(ret.probs), codesX: Array.from(ret.codesX),
    codesY: Array.from(ret.codesY), pngCodes: Array.from(pr.codes), pngNotice: pr.notice, ms: ret.ms};
})()`, weights.Checksum(small)), &r1)
	screenshot(t, ctx, shots, "1-small-retrieval.png")

	native, _, err := modelfile.Load(small, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r1.Checksum != weights.Checksum(small) {
		t.Fatalf("checksum %s in the browser, %s natively", r1.Checksum, weights.Checksum(small))
	}
	x, y := f32(t, r1.X), f32(t, r1.Y)
	rec, _ := native.Reconstruct(x)
	if !slices.Equal(r1.Rec, rec.Codes) {
		t.Fatalf("reconstruct codes differ:\nbrowser %v\nnative  %v", r1.Rec, rec.Codes)
	}
	a, _ := native.ParseAction("scale+")
	itv, _ := native.Intervene(x, a)
	if !slices.Equal(r1.Itv, itv.Codes) || r1.ItvName != "scale+" {
		t.Fatalf("intervene codes differ:\nbrowser %v\nnative  %v", r1.Itv, itv.Codes)
	}
	ret, err := native.Retrieve(context.Background(), x, y, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Best != ret.Best || !slices.Equal(r1.CodesX, ret.CodesX) || !slices.Equal(r1.CodesY, ret.CodesY) {
		t.Fatalf("retrieval differs: browser best %d, native %d", r1.Best, ret.Best)
	}
	closeProbs(t, "small retrieval", r1.Probs, ret.Probs)
	in, err := imageio.Decode(picture, 3, 64)
	if err != nil {
		t.Fatal(err)
	}
	prec, _ := native.Reconstruct(in.Data)
	if !slices.Equal(r1.PNGCodes, prec.Codes) || r1.PNGNotice != in.Notice || in.Notice == "" {
		t.Fatalf("PNG reconstruct: notice %q (native %q), codes equal %v", r1.PNGNotice, in.Notice, slices.Equal(r1.PNGCodes, prec.Codes))
	}
	t.Logf("small model: true action %s, retrieved %s in %.1f ms (worker); PNG notice %q", r1.Truth, native.ActionName(r1.Best), r1.MS, r1.PNGNotice)

	// ---------------------------------------------------------------- refused weights keep the model
	var r2 struct {
		Corrupt, Checksum, Missing, Info string
		Same                             bool
	}
	eval(t, ctx, "bad weights", `(async () => {
  const m = example.model();
  const before = await m.intervene(example.state.x, 'scale+');
  const fail = async (p) => { try { await p; return 'loaded'; } catch (e) { return e.code + ': ' + e.message; } };
  const corrupt = await fail(m.load('corrupt.safetensors'));
  const checksum = await fail(m.load('model.safetensors', {sha256: '00'.repeat(32)}));
  const missing = await fail(m.load('nothing-here.safetensors'));
  const after = await m.intervene(example.state.x, 'scale+');
  const info = await m.info();
  return {corrupt, checksum, missing, info: info.checksum,
    same: before.codes.length > 0 && before.codes.every((c, i) => c === after.codes[i])};
})()`, &r2)
	if !strings.HasPrefix(r2.Corrupt, "bad_weights: ") || !strings.Contains(r2.Corrupt, "previous model stays loaded") {
		t.Errorf("corrupt weights: %s", r2.Corrupt)
	}
	if !strings.HasPrefix(r2.Checksum, "checksum: ") || !strings.Contains(r2.Checksum, weights.Checksum(small)) {
		t.Errorf("sha256 mismatch: %s", r2.Checksum)
	}
	if !strings.HasPrefix(r2.Missing, "fetch: ") || !strings.Contains(r2.Missing, "404") {
		t.Errorf("missing weights: %s", r2.Missing)
	}
	if !r2.Same || r2.Info != weights.Checksum(small) {
		t.Fatalf("the previous model did not survive refused loads: same codes %v, checksum %s", r2.Same, r2.Info)
	}
	t.Logf("refused: %s | %s | %s", r2.Corrupt, r2.Checksum, r2.Missing)

	// ---------------------------------------------------------------- default config: responsiveness, agreement, timing
	var r3 struct {
		Best, Frames, Steps  int
		Wall, MS             float64
		Probs                []float64
		CodesY               []int32
		Intervene, Retrieves []float64
		Load                 float64
	}
	eval(t, ctx, "default model", fmt.Sprintf(`(async () => {
  const m = example.model();
  const t0 = performance.now();
  await example.load('default.safetensors', %q);
  const load = performance.now() - t0;
  let steps = 0;
  const f0 = example.state.frames, w0 = performance.now();
  const r = await example.retrieve(({done}) => { steps = done; });
  const wall = performance.now() - w0, frames = example.state.frames - f0;
  const intervene = [], retrieves = [];
  for (let i = 0; i < %d; i++) {
    intervene.push((await m.intervene(example.state.x, i %% 12)).ms);
    retrieves.push((await m.retrieve(example.state.x, example.state.y)).ms);
  }
  return {best: r.retrieval.best.index, probs: Array.from(r.probs), codesY: Array.from(r.codesY),
    frames, steps, wall, ms: r.ms, intervene, retrieves, load};
})()`, weights.Checksum(def), *benchN), &r3)
	dnative, _, err := modelfile.Load(def, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dret, err := dnative.Retrieve(context.Background(), x, y, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Best != dret.Best || !slices.Equal(r3.CodesY, dret.CodesY) {
		t.Fatalf("default retrieval: browser best %d, native %d", r3.Best, dret.Best)
	}
	closeProbs(t, "default retrieval", r3.Probs, dret.Probs)
	// At 60 frames per second the page draws a frame every ~17 ms; allow a
	// slow headless compositor a third of that.
	if want := int(r3.Wall / 50); r3.Frames < 2 || r3.Frames < want {
		t.Fatalf("the page drew %d frames during a %.0f ms retrieval: the UI thread was blocked", r3.Frames, r3.Wall)
	}
	if r3.Steps != 2+12 {
		t.Fatalf("retrieval reported %d progress steps, want 14", r3.Steps)
	}
	t.Logf("default config: load %.0f ms (fetch+verify+parse); retrieval %.1f ms in the worker, %.1f ms wall, %d frames drawn meanwhile",
		r3.Load, r3.MS, r3.Wall, r3.Frames)
	if *benchN > 0 {
		t.Logf("BENCH default config, worker ms: intervene median %.1f %v; retrieve median %.1f %v", median(r3.Intervene), r3.Intervene, median(r3.Retrieves), r3.Retrieves)
	}
	screenshot(t, ctx, shots, "2-default-retrieval.png")

	// ---------------------------------------------------------------- cancellation
	var r4 struct {
		Outcome    string
		Steps      int
		AfterCodes int
	}
	eval(t, ctx, "cancel", `(async () => {
  const m = example.model();
  const ac = new AbortController();
  let steps = 0, outcome;
  try {
    await m.retrieve(example.state.x, example.state.y, {signal: ac.signal,
      onProgress: ({done}) => { steps = done; if (done === 3) ac.abort(); }});
    outcome = 'finished';
  } catch (e) { outcome = e.name + '/' + e.code; }
  const after = await m.intervene(example.state.x, 0);
  return {outcome, steps, afterCodes: after.codes.length};
})()`, &r4)
	if r4.Outcome != "AbortError/cancelled" || r4.Steps >= 14 || r4.AfterCodes != 64 {
		t.Fatalf("cancel: outcome %s after %d of 14 steps, then %d codes", r4.Outcome, r4.Steps, r4.AfterCodes)
	}
	t.Logf("cancel: stopped after %d of 14 steps", r4.Steps)

	// ---------------------------------------------------------------- crash: restart and reload
	var r5 struct {
		Code, Checksum string
		Restarts       int
	}
	eval(t, ctx, "crash", `(async () => {
  const m = example.model();
  await m.load('model.safetensors');
  let running;
  const started = new Promise((r) => { running = r; });
  const p = m.retrieve(example.state.x, example.state.y, {onProgress: running});
  await started; // the request is in the worker
  // A dead worker: stop it and deliver the error event a crash raises.
  m.worker.terminate();
  m.worker.dispatchEvent(new ErrorEvent('error', {message: 'simulated crash'}));
  let code = 'resolved';
  try { await p; } catch (e) { code = e.code + ': ' + e.message; }
  const info = await m.info();
  return {code, checksum: info.checksum, restarts: m.restarts};
})()`, &r5)
	if !strings.HasPrefix(r5.Code, "crashed: ") || r5.Checksum != weights.Checksum(small) || r5.Restarts != 1 {
		t.Fatalf("crash: %+v", r5)
	}
	t.Logf("crash: %s; restarted with %s", r5.Code, r5.Checksum)

	// Transfer sizes of the wasm programs, for the record: the build's .br
	// variants are what a browser downloads.
	var manifest struct {
		Files map[string]struct {
			Path string `json:"path"`
			Size int64  `json:"size"`
		} `json:"files"`
	}
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mb, &manifest); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	for _, name := range []string{"engine.wasm", "app.wasm"} {
		f, ok := manifest.Files[name]
		if !ok {
			t.Errorf("manifest.json lists no %s", name)
			continue
		}
		br, err := os.Stat(filepath.Join(dir, f.Path+".br"))
		if err != nil {
			t.Errorf("%s has no brotli variant: %v", name, err)
			continue
		}
		t.Logf("%s: %d bytes, brotli %d bytes", name, f.Size, br.Size())
	}
	t.Logf("total e2e %v", time.Since(start))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[len(s)/2]
}
