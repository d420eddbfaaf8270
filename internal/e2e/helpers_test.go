package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/serve"
	"ctvae/weights"
)

var (
	shotsDir = flag.String("e2e.shots", "", "directory for the screenshots (default: a temporary directory, logged)")
	require  = flag.Bool("e2e.require", false, "fail, not skip, when chromium is missing (CI)")
	benchN   = flag.Int("e2e.bench", 0, "timed repetitions of intervene and retrieve, in the API page and the app, plus load times (a benchmark, off by default)")
	warmN    = flag.Int("e2e.warm", 0, "warm visits timed when benchmarking (default: as many as -e2e.bench)")
	against  = flag.String("e2e.against", "", "TestBrowserLoad: the root of another tree of this repository (a git worktree of an older commit) whose site is timed too, visit for visit alternately")
)

// smallConfig is a fast model with the real geometry: 64x64 RGB, 8x8 codes.
const smallConfig = `{"in_channels": 3, "img_size": 64, "hidden_dims": [8, 16, 16], "embedding_dim": 8,
 "num_embeddings": 8, "codebooks": 1, "residual_layers": 2, "action_dim": 12, "causal_hidden_dims": [12, 6]}`

// Names of the test models among the site's shipped weights. Both say
// "untrained", as random-init weights must; by name the small one sorts
// first, so it is the one the page loads on its own.
const (
	shippedSmall   = "shapes3d-small-untrained.safetensors"
	shippedDefault = "shapes3d-untrained.safetensors"
)

func encodeModel(cfg ctvae.Config, seed uint64, dt weights.DType) ([]byte, error) {
	ds, err := data.New("shapes3d")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, f := range ds.Factors() {
		names = append(names, f.Name)
	}
	meta := ctvae.Meta{Dataset: "shapes3d", Factors: names, Actions: ds.ActionNames(), Preprocess: ctvae.PreprocessNone}
	specs := ctvae.Specs(cfg)
	params := nn.InitParams(specs, seed)
	// A random-init decoder draws nearly flat, dark images (outputs within
	// ±0.15), in which a wrong code moves a handful of 8-bit levels by one
	// or two. The last decoder layer is scaled up and biased to mid-grey so
	// that the images span the range and comparing pixels sees the codes.
	last := ""
	for _, s := range specs {
		if strings.HasPrefix(s.Name, "decoder.") && strings.HasSuffix(s.Name, ".weight") {
			last = strings.TrimSuffix(s.Name, ".weight")
		}
	}
	w, b := params[last+".weight"], params[last+".bias"]
	if w == nil || b == nil {
		return nil, fmt.Errorf("e2e: no last decoder layer among the model's parameters (found %q)", last)
	}
	for i := range w.Data {
		w.Data[i] *= 12
	}
	for i := range b.Data {
		b.Data[i] = 0.5
	}
	return modelfile.Encode(cfg, params, meta, dt)
}

// corruptWeights truncates a weights file and flips a header byte: a file
// that starts like safetensors, so only the engine's checks refuse it.
func corruptWeights(good []byte) []byte {
	b := slices.Clone(good[:len(good)-100])
	b[40] ^= 0x5a
	return b
}

// testSite is the site every test of the package serves: built once, since
// compiling and compressing the two wasm programs is most of a build.
type testSite struct {
	dir        string
	small, def []byte // the shipped test models
}

var shared struct {
	once sync.Once
	site testSite
	tmp  string // removed by TestMain
	err  error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if shared.tmp != "" {
		os.RemoveAll(shared.tmp)
	}
	os.Exit(code)
}

// builtSite returns the shared site, building it on first use.
func builtSite(t *testing.T) testSite {
	t.Helper()
	shared.once.Do(func() {
		start := time.Now()
		shared.site, shared.err = buildSite()
		if shared.err == nil {
			t.Logf("site built in %v", time.Since(start).Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.site
}

func buildSite() (testSite, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return testSite{}, err
	}
	return buildSiteFrom(root)
}

// buildSiteFrom builds the site of the repository tree at root, with the
// test models as its only shipped weights, in a new directory under
// shared.tmp.
func buildSiteFrom(root string) (testSite, error) {
	var s testSite
	smallCfg, err := ctvae.ParseConfig([]byte(smallConfig))
	if err != nil {
		return s, err
	}
	if s.small, err = encodeModel(smallCfg, 3, weights.F32); err != nil {
		return s, err
	}
	if s.def, err = encodeModel(ctvae.DefaultConfig(), 1, weights.F16); err != nil {
		return s, err
	}
	if shared.tmp == "" {
		if shared.tmp, err = os.MkdirTemp("", "ctvae-e2e-"); err != nil {
			return s, err
		}
	}
	tmp, err := os.MkdirTemp(shared.tmp, "site-")
	if err != nil {
		return s, err
	}
	src := filepath.Join(tmp, "src")
	if err := sourceTree(root, src, map[string][]byte{shippedSmall: s.small, shippedDefault: s.def}); err != nil {
		return s, err
	}
	s.dir = filepath.Join(tmp, "dist")
	build := exec.Command("go", "run", "./build", "-src", src, "-out", s.dir)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return s, fmt.Errorf("go run ./build: %v\n%s", err, out)
	}
	return s, nil
}

// sourceTree makes src a stand-in for the repository at root whose only
// shipped weights are the given files: every top-level entry is a link to
// the repository's, but weights/ is a directory of links whose pretrained/
// holds the test models. The repository itself is not touched.
func sourceTree(root, src string, models map[string][]byte) error {
	link := func(from, to string) error {
		entries, err := os.ReadDir(from)
		if err != nil {
			return err
		}
		for _, e := range entries {
			// Hidden entries (.git) and the outputs are not sources; the
			// repository's own pretrained weights are replaced.
			if strings.HasPrefix(e.Name(), ".") || (from == root && (e.Name() == "weights" || e.Name() == "bin" || e.Name() == "dist")) ||
				(from != root && e.Name() == "pretrained") {
				continue
			}
			if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
	pre := filepath.Join(src, "weights", "pretrained")
	if err := os.MkdirAll(pre, 0o755); err != nil {
		return err
	}
	if err := link(root, src); err != nil {
		return err
	}
	if err := link(filepath.Join(root, "weights"), filepath.Join(src, "weights")); err != nil {
		return err
	}
	for name, b := range models {
		if err := os.WriteFile(filepath.Join(pre, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// addFiles puts files into the built site under their plain names (outside
// the manifest: what a page fetches by name).
func addFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// serveDir serves dir on 127.0.0.1 and returns the base URL.
func serveDir(t *testing.T, dir string) string {
	base, _ := serveStoppable(t, dir)
	return base
}

// serveStoppable is serveDir with a stop function: after it, the address
// refuses connections, as when the network is gone.
func serveStoppable(t *testing.T, dir string) (string, func()) {
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
	stop := func() {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("stopping the server: %v", err)
		}
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String() + "/", stop
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
		chromedp.UserDataDir(profileDir(t)),
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

// shotDir is the -e2e.shots directory, or a temporary one.
func shotDir(t *testing.T) string {
	t.Helper()
	if *shotsDir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(*shotsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return *shotsDir
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	return s[len(s)/2]
}

// profileDir is a fresh Chromium profile. Chromium's helper processes may
// still write into it for a moment after the browser is cancelled, which
// makes t.TempDir's cleanup fail with "directory not empty"; so removal is
// retried for a few seconds and a leftover is only logged.
func profileDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctvae-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if i == 50 {
				t.Logf("leaving the Chromium profile %s: %v", dir, err)
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	return dir
}
