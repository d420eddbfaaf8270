package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"ctvae/serve"
)

// tree writes files (slash paths -> content) under a new temporary source
// root and returns it.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, s := range files {
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// site is a source tree using every kind of source and placeholder.
func site() map[string]string {
	weights := strings.Repeat("\x00\x00\x80\x3f", 4096) // float32 ones: compressible
	return map[string]string{
		"wasm/js/ctvae.js": "// CTVAE\n" +
			"const worker = new URL('{{asset \"engine-worker.js\"}}', import.meta.url);\n" +
			"const exec = new URL('{{asset \"wasm_exec.js\"}}', import.meta.url);\n",
		"wasm/js/engine-worker.js": "self.onmessage = () => {};\n",
		"wasm/js/example.html":     "<script type=\"module\" src=\"{{asset \"ctvae.js\"}}\"></script>\n",
		"ui/static/index.html": "<!doctype html>\n<link rel=\"stylesheet\" href=\"{{ asset \"css/site.css\" }}\">\n" +
			"<script type=\"module\" src=\"{{asset \"app.js\"}}\"></script>\n",
		"ui/static/app.js": "import { CTVAE } from '{{asset \"ctvae.js\"}}';\n" +
			"fetch(new URL('{{asset \"manifest.json\"}}', import.meta.url));\n" +
			"navigator.serviceWorker.register(new URL('{{asset \"sw.js\"}}', import.meta.url));\n" +
			"const w = '{{asset \"weights/toy.safetensors\"}}';\n",
		"ui/static/css/site.css":             "body { background: url({{asset \"icons/logo.png\"}}); }\n",
		"ui/static/icons/logo.png":           "\x89PNG\r\n\x1a\nnot really",
		"ui/static/.gitkeep":                 "",
		"weights/pretrained/toy.safetensors": weights,
		"weights/pretrained/toy.md":          "# toy model card\n",
		"weights/pretrained/toy.json":        "{\"not\": \"copied\"}",
		"weights/pretrained/samples/a.png":   "\x89PNG sample",
	}
}

func build(t *testing.T, src, out string) (Manifest, string, error) {
	t.Helper()
	var log bytes.Buffer
	m, err := Build(Options{Src: src, Out: out, Log: &log})
	return m, log.String(), err
}

func readDist(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func goVersion(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestBuildSite(t *testing.T) {
	src := tree(t, site())
	out := filepath.Join(t.TempDir(), "dist")
	m, log, err := build(t, src, out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"skipping engine.wasm", "skipping app.wasm"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	dist := readDist(t, out)

	t.Run("manifest", func(t *testing.T) {
		want := []string{"app.js", "css/site.css", "ctvae.js", "engine-worker.js", "example.html", "icons/logo.png",
			"index.html", "samples/a.png", "wasm_exec.js", "weights/toy.md", "weights/toy.safetensors"}
		var got []string
		for name := range sortedFiles(m) {
			got = append(got, name)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("manifest names\n%v\nwant\n%v", got, want)
		}
		if m.Format != ManifestFormat || m.Go != goVersion(t) {
			t.Errorf("manifest format %q go %q", m.Format, m.Go)
		}
		var onDisk Manifest
		if err := json.Unmarshal(dist["manifest.json"], &onDisk); err != nil {
			t.Fatal(err)
		}
		if len(onDisk.Files) != len(m.Files) {
			t.Errorf("manifest.json has %d files, Build returned %d", len(onDisk.Files), len(m.Files))
		}
		for name, f := range onDisk.Files {
			b, ok := dist[f.Path]
			if !ok {
				t.Errorf("%s: %s is not in dist", name, f.Path)
				continue
			}
			if int64(len(b)) != f.Size || sum(b) != f.SHA256 {
				t.Errorf("%s: size %d sha256 %s in the manifest, file has %d %s", name, f.Size, f.SHA256, len(b), sum(b))
			}
			wantPath := serve.HashedName(name, f.SHA256)
			if name == "index.html" || name == "example.html" {
				wantPath = name
			}
			if f.Path != wantPath {
				t.Errorf("%s: path %s, want %s", name, f.Path, wantPath)
			}
		}
		// Every file of dist is in the manifest, is generated, or is a variant.
		for p := range dist {
			base := strings.TrimSuffix(strings.TrimSuffix(p, ".br"), ".gz")
			listed := base == manifestName || base == swName
			for _, f := range onDisk.Files {
				listed = listed || f.Path == base
			}
			if !listed {
				t.Errorf("dist/%s is not in the manifest", p)
			}
		}
		if _, ok := dist["wasm_exec.js"]; ok {
			t.Errorf("wasm_exec.js kept its name: it must be hashed")
		}
	})

	t.Run("placeholders", func(t *testing.T) {
		p := func(name string) string { return m.Files[name].Path }
		checks := map[string][]string{
			"index.html":   {`href="./` + p("css/site.css") + `"`, `src="./` + p("app.js") + `"`},
			"example.html": {`src="./` + p("ctvae.js") + `"`},
			"ctvae.js":     {`new URL('./` + p("engine-worker.js") + `'`, `new URL('./` + p("wasm_exec.js") + `'`},
			"app.js": {`from './` + p("ctvae.js") + `'`, `'./manifest.json'`, `'./sw.js'`,
				`'./` + p("weights/toy.safetensors") + `'`},
			"css/site.css": {`url(../` + p("icons/logo.png") + `)`},
		}
		for name, wants := range checks {
			body := string(dist[p(name)])
			for _, w := range wants {
				if !strings.Contains(body, w) {
					t.Errorf("%s does not contain %s:\n%s", name, w, body)
				}
			}
			if strings.Contains(body, "{{") {
				t.Errorf("%s still has a placeholder:\n%s", name, body)
			}
		}
	})

	t.Run("service worker", func(t *testing.T) {
		sw := string(dist[swName])
		for _, f := range m.Files {
			if !strings.Contains(sw, `"`+f.Path+`"`) {
				t.Errorf("sw.js does not precache %s", f.Path)
			}
		}
		for _, w := range []string{`"manifest.json"`, `""`, `const CACHE = "` + SiteCachePrefix + sum(dist[manifestName])[:16] + `"`} {
			if !strings.Contains(sw, w) {
				t.Errorf("sw.js lacks %s", w)
			}
		}
		if node, err := exec.LookPath("node"); err == nil {
			p := filepath.Join(out, swName)
			if b, err := exec.Command(node, "--check", p).CombinedOutput(); err != nil {
				t.Errorf("node --check sw.js: %v\n%s", err, b)
			}
		}
	})

	t.Run("variants", func(t *testing.T) {
		n := 0
		for p, b := range dist {
			var orig []byte
			var r io.Reader
			switch {
			case strings.HasSuffix(p, ".gz"):
				orig = dist[strings.TrimSuffix(p, ".gz")]
				zr, err := gzip.NewReader(bytes.NewReader(b))
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				r = zr
			case strings.HasSuffix(p, ".br"):
				orig = dist[strings.TrimSuffix(p, ".br")]
				r = brotli.NewReader(bytes.NewReader(b))
			default:
				continue
			}
			n++
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, orig) {
				t.Errorf("%s does not decode to its file (%v)", p, err)
			}
			if !worthIt(len(b), len(orig)) {
				t.Errorf("%s (%d bytes) kept though not 5%% smaller than %d", p, len(b), len(orig))
			}
		}
		for _, name := range []string{"weights/toy.safetensors", "wasm_exec.js"} {
			for _, suf := range []string{".br", ".gz"} {
				if _, ok := dist[m.Files[name].Path+suf]; !ok {
					t.Errorf("no %s variant of %s", suf, name)
				}
			}
		}
		for _, name := range []string{"icons/logo.png", "samples/a.png"} {
			for _, suf := range []string{".br", ".gz"} {
				if _, ok := dist[m.Files[name].Path+suf]; ok {
					t.Errorf("%s has a %s variant: images are not precompressed", name, suf)
				}
			}
		}
		if n == 0 {
			t.Error("no variants written")
		}
	})
}

func TestBuildDeterministic(t *testing.T) {
	src := tree(t, site())
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, out := range []string{a, b} {
		if _, _, err := build(t, src, out); err != nil {
			t.Fatal(err)
		}
	}
	da, db := readDist(t, a), readDist(t, b)
	if len(da) != len(db) {
		t.Fatalf("%d files vs %d", len(da), len(db))
	}
	for p, x := range da {
		if !bytes.Equal(x, db[p]) {
			t.Errorf("%s differs between two builds of the same tree", p)
		}
	}
}

// TestHashPropagates: changing an image renames the stylesheet that refers
// to it, and the page that refers to the stylesheet changes content.
func TestHashPropagates(t *testing.T) {
	files := site()
	m1, _, err := build(t, tree(t, files), filepath.Join(t.TempDir(), "d"))
	if err != nil {
		t.Fatal(err)
	}
	files["ui/static/icons/logo.png"] = "\x89PNG\r\n\x1a\nanother logo"
	m2, _, err := build(t, tree(t, files), filepath.Join(t.TempDir(), "d"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"icons/logo.png", "css/site.css", "index.html"} {
		if m1.Files[name].SHA256 == m2.Files[name].SHA256 {
			t.Errorf("%s unchanged after the logo changed", name)
		}
	}
	for _, name := range []string{"ctvae.js", "app.js", "weights/toy.safetensors"} {
		if m1.Files[name] != m2.Files[name] {
			t.Errorf("%s changed though it does not depend on the logo", name)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		edit  map[string]string
		wants []string
	}{
		{"unknown asset", map[string]string{"wasm/js/x.js": "a\nb\nimport '{{asset \"nope.js\"}}';\n"},
			[]string{"wasm/js/x.js:3", `unknown asset "nope.js"`}},
		{"unknown asset in html", map[string]string{"ui/static/p.html": "<img src=\"{{asset \"icons/missing.png\"}}\">"},
			[]string{"ui/static/p.html:1", "icons/missing.png"}},
		{"malformed", map[string]string{"ui/static/p.css": "x\n{{asset nope.css}}\n"},
			[]string{"ui/static/p.css:2", "malformed placeholder"}},
		{"unclosed", map[string]string{"ui/static/q.js": "'{{asset \"app.js\"'\n"},
			[]string{"ui/static/q.js:1", "malformed placeholder"}},
		{"cycle", map[string]string{"ui/static/a.js": "'{{asset \"b.js\"}}'", "ui/static/b.js": "'{{asset \"a.js\"}}'"},
			[]string{"cycle", "a.js -> b.js -> a.js"}},
		{"self reference", map[string]string{"ui/static/s.js": "'{{asset \"s.js\"}}'"},
			[]string{"cycle", "s.js -> s.js"}},
		{"duplicate", map[string]string{"wasm/js/index.html": "<p>"},
			[]string{"wasm/js/index.html", "ui/static/index.html", `"index.html"`}},
		{"reserved sw.js", map[string]string{"ui/static/sw.js": ""},
			[]string{"ui/static/sw.js", "generated"}},
		{"reserved manifest", map[string]string{"wasm/js/manifest.json": "{}"},
			[]string{"wasm/js/manifest.json", "generated"}},
		{"bad name", map[string]string{"ui/static/my file.js": ""},
			[]string{"ui/static/my file.js", "characters"}},
		{"already hashed", map[string]string{"ui/static/x.0123456789abcdef.js": ""},
			[]string{"x.0123456789abcdef.js", "content-hashed"}},
	} {
		files := site()
		for k, v := range c.edit {
			files[k] = v
		}
		out := filepath.Join(t.TempDir(), "dist")
		_, _, err := build(t, tree(t, files), out)
		if err == nil {
			t.Errorf("%s: built without error", c.name)
			continue
		}
		for _, w := range c.wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
		if !strings.HasPrefix(err.Error(), "build: ") {
			t.Errorf("%s: error %q does not name the package", c.name, err)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%s: a failed build created %s", c.name, out)
		}
	}
}

func TestBuildSymlinkSource(t *testing.T) {
	src := tree(t, site())
	if err := os.Symlink("/etc/hostname", filepath.Join(src, "ui", "static", "host.txt")); err != nil {
		t.Fatal(err)
	}
	_, _, err := build(t, src, filepath.Join(t.TempDir(), "dist"))
	if err == nil || !strings.Contains(err.Error(), "host.txt") || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("a symlinked source: error %v, want one naming host.txt", err)
	}
}

// TestOutput: a rebuild replaces a previous build (no stale hashed files),
// a failed build leaves it as it was, and a directory that is not a build
// is never replaced.
func TestOutput(t *testing.T) {
	files := site()
	src := tree(t, files)
	out := filepath.Join(t.TempDir(), "dist")
	m1, _, err := build(t, src, out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "wasm", "js", "ctvae.js"), []byte("// v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m2, _, err := build(t, src, out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, m1.Files["ctvae.js"].Path)); err == nil {
		t.Errorf("the previous build's %s is still in dist", m1.Files["ctvae.js"].Path)
	}
	before := readDist(t, out)
	if err := os.WriteFile(filepath.Join(src, "wasm", "js", "bad.js"), []byte("{{asset \"nope\"}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := build(t, src, out); err == nil {
		t.Fatal("a bad source built")
	}
	after := readDist(t, out)
	if len(after) != len(before) || !bytes.Equal(after[manifestName], before[manifestName]) {
		t.Errorf("a failed build changed dist")
	}
	if _, err := os.Stat(filepath.Join(out, m2.Files["ctvae.js"].Path)); err != nil {
		t.Errorf("the good build's ctvae.js is gone: %v", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".dist.new-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary directories left behind: %v", leftovers)
	}

	foreign := t.TempDir()
	keep := filepath.Join(foreign, "thesis.tex")
	if err := os.WriteFile(keep, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = build(t, tree(t, site()), foreign)
	if err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("building over a foreign directory: %v, want a refusal", err)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "precious" {
		t.Errorf("the foreign directory was changed")
	}
}

func TestIncompressibleSkipped(t *testing.T) {
	noise := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	vs := variants([]file{{name: "weights/noise.safetensors", path: "weights/noise.x.safetensors", data: noise}})
	if len(vs) != 0 {
		t.Errorf("random bytes got %d variants", len(vs))
	}
}

func TestRelative(t *testing.T) {
	for _, c := range []struct{ dir, target, want string }{
		{".", "a.js", "./a.js"},
		{".", "css/a.css", "./css/a.css"},
		{"css", "icons/a.png", "../icons/a.png"},
		{"css", "css/b.css", "./b.css"},
		{"a/b", "a/c/d.js", "../c/d.js"},
		{"a/b", "x.js", "../../x.js"},
		{"a", "a/b/c.js", "./b/c.js"},
		{"css", "css", "../css"},
	} {
		if got := relative(c.dir, c.target); got != c.want {
			t.Errorf("relative(%q, %q) = %q, want %q", c.dir, c.target, got, c.want)
		}
	}
}

// TestCompileWasm builds a real (tiny) wasm program from a source tree with
// its own module, as the builder does for wasm/engine.
func TestCompileWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a wasm program")
	}
	files := site()
	files["go.mod"] = "module fake\n\ngo 1.26\n"
	files["wasm/engine/main.go"] = "package main\n\nfunc main() { println(\"engine\") }\n"
	files["wasm/js/ctvae.js"] += "const wasm = '{{asset \"engine.wasm\"}}';\n"
	src := tree(t, files)
	out := filepath.Join(t.TempDir(), "dist")
	m, log, err := build(t, src, out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, "compiling wasm/engine") || !strings.Contains(log, "skipping app.wasm") {
		t.Errorf("log:\n%s", log)
	}
	f, ok := m.Files["engine.wasm"]
	if !ok {
		t.Fatal("no engine.wasm in the manifest")
	}
	b, err := os.ReadFile(filepath.Join(out, f.Path))
	if err != nil || !bytes.HasPrefix(b, []byte("\x00asm")) {
		t.Fatalf("%s is not wasm (%v)", f.Path, err)
	}
	js, _ := os.ReadFile(filepath.Join(out, m.Files["ctvae.js"].Path))
	if !regexp.MustCompile(`'\./engine\.[0-9a-f]{16}\.wasm'`).Match(js) {
		t.Errorf("ctvae.js does not refer to the hashed wasm:\n%s", js)
	}
	if _, err := os.Stat(filepath.Join(out, f.Path+".br")); err != nil {
		t.Errorf("no brotli variant of the wasm: %v", err)
	}
}

// TestServeBuiltSite serves a built site with package serve: every file of
// the manifest answers 200 with the caching its name calls for, and the
// variants are chosen.
func TestServeBuiltSite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dist")
	m, _, err := build(t, tree(t, site()), out)
	if err != nil {
		t.Fatal(err)
	}
	h, err := serve.NewHandler(out)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	paths := []string{"", manifestName, swName}
	for _, f := range m.Files {
		paths = append(paths, f.Path)
	}
	for _, p := range paths {
		req := httptest.NewRequest("GET", "/"+p, nil)
		req.Header.Set("Accept-Encoding", "br, gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET /%s: %d", p, rec.Code)
			continue
		}
		_, hashed := serve.NameHash(p)
		want := serve.CacheRevalidate
		if hashed {
			want = serve.CacheImmutable
		}
		if got := rec.Header().Get("Cache-Control"); got != want {
			t.Errorf("GET /%s: Cache-Control %q, want %q", p, got, want)
		}
	}
	req := httptest.NewRequest("GET", "/"+m.Files["weights/toy.safetensors"].Path, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" || rec.Header().Get("Content-Type") != "application/octet-stream" {
		t.Errorf("weights: Content-Encoding %q Content-Type %q", rec.Header().Get("Content-Encoding"), rec.Header().Get("Content-Type"))
	}
}
