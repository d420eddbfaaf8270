package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"ctvae/serve"
)

// Options say where the sources are, where the site goes, and which go
// command compiles it.
type Options struct {
	Src string    // the repository root
	Out string    // the site directory to (re)create, normally dist
	Go  string    // the go command
	Log io.Writer // progress and skipped sources
}

// A program is a Go main compiled to wasm.
type program struct {
	dir  string // package directory under Src
	name string // logical name of the .wasm
}

var programs = []program{
	{"wasm/engine", "engine.wasm"},
	{"wasm/app", "app.wasm"},
}

// A source is a directory of files copied into the site.
type source struct {
	dir       string          // under Src
	to        string          // prefix of the logical names ("" for the top)
	exts      map[string]bool // nil: every file
	recursive bool
}

var sources = []source{
	{dir: "wasm/js", recursive: true},   // ctvae.js, the worker bootstrap, the example page
	{dir: "ui/static", recursive: true}, // index.html, css, icons
	{dir: "weights/pretrained", to: "weights", exts: map[string]bool{".safetensors": true, ".md": true}},
	{dir: "weights/pretrained/samples", to: "samples", exts: map[string]bool{".png": true, ".jpg": true, ".jpeg": true}},
}

// Build assembles the site into o.Out and returns its manifest. It builds in
// a fresh directory beside o.Out and swaps it in only when everything
// succeeded, so a failed build leaves the previous site intact.
func Build(o Options) (Manifest, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if err := checkOut(o.Out); err != nil {
		return Manifest{}, err
	}
	goVersion, err := goEnv(o, "GOVERSION")
	if err != nil {
		return Manifest{}, err
	}
	goroot, err := goEnv(o, "GOROOT")
	if err != nil {
		return Manifest{}, err
	}

	var assets []asset
	for _, p := range programs {
		a, ok, err := compile(o, p)
		if err != nil {
			return Manifest{}, err
		}
		if ok {
			assets = append(assets, a)
		}
	}
	execJS := filepath.Join(goroot, "lib", "wasm", "wasm_exec.js")
	b, err := os.ReadFile(execJS)
	if err != nil {
		return Manifest{}, fmt.Errorf("build: wasm_exec.js of %s: %w", goVersion, err)
	}
	// wasm_exec.js is Go's own: never rewritten.
	assets = append(assets, asset{name: "wasm_exec.js", data: b, origin: execJS})
	for _, s := range sources {
		more, err := collect(o, s)
		if err != nil {
			return Manifest{}, err
		}
		assets = append(assets, more...)
	}
	if err := checkNames(assets); err != nil {
		return Manifest{}, err
	}

	files, err := name(assets)
	if err != nil {
		return Manifest{}, err
	}
	m := newManifest(goVersion, files)
	mj := m.encode()
	sw := serviceWorker(m, mj)
	files = append(files,
		file{name: manifestName, path: manifestName, data: mj, sha256: sum(mj)},
		file{name: swName, path: swName, data: sw, sha256: sum(sw)})
	vs := variants(files)
	if err := write(o.Out, files, vs); err != nil {
		return Manifest{}, err
	}
	var total int64
	for _, f := range files {
		total += int64(len(f.data))
	}
	fmt.Fprintf(o.Log, "build: wrote %s: %d files (%d bytes) and %d precompressed variants\n", o.Out, len(files), total, len(vs))
	return m, nil
}

func goEnv(o Options, key string) (string, error) {
	cmd := exec.Command(o.Go, "env", key)
	cmd.Dir = o.Src
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build: %s env %s: %w", o.Go, key, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// compile builds one wasm program, or reports it skipped when its directory
// has no Go files yet.
func compile(o Options, p program) (asset, bool, error) {
	dir := filepath.Join(o.Src, filepath.FromSlash(p.dir))
	gofiles, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	if len(gofiles) == 0 {
		fmt.Fprintf(o.Log, "build: skipping %s: no Go files in %s (not written yet?)\n", p.name, dir)
		return asset{}, false, nil
	}
	tmp, err := os.MkdirTemp("", "ctvae-build-")
	if err != nil {
		return asset{}, false, fmt.Errorf("build: %w", err)
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, p.name)
	cmd := exec.Command(o.Go, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./"+p.dir)
	cmd.Dir = o.Src
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fmt.Fprintf(o.Log, "build: compiling %s (GOOS=js GOARCH=wasm)\n", p.dir)
	if err := cmd.Run(); err != nil {
		return asset{}, false, fmt.Errorf("build: compiling %s: %v\n%s", p.dir, err, stderr.Bytes())
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return asset{}, false, fmt.Errorf("build: %w", err)
	}
	return asset{name: p.name, data: b, origin: p.dir}, true, nil
}

// collect reads the files of one source directory; a missing directory is
// skipped with a message. Hidden files (.gitkeep) are left out.
func collect(o Options, s source) ([]asset, error) {
	root := filepath.Join(o.Src, filepath.FromSlash(s.dir))
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		fmt.Fprintf(o.Log, "build: skipping %s: not present\n", s.dir)
		return nil, nil
	}
	var out []asset
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != root {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if p != root && !s.recursive {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if s.exts != nil && !s.exts[strings.ToLower(path.Ext(rel))] {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("build: %s/%s: not a regular file (links are not followed: copy the file)", s.dir, rel)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("build: %w", err)
		}
		name := path.Join(s.to, rel)
		out = append(out, asset{name: name, data: b, origin: path.Join(s.dir, rel), rewrite: rewritable[path.Ext(name)]})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkNames refuses names the server would refuse, names of generated
// files, and two sources for one name.
func checkNames(assets []asset) error {
	seen := map[string]string{}
	sort.SliceStable(assets, func(i, j int) bool { return assets[i].name < assets[j].name })
	for _, a := range assets {
		if !serve.ValidName(a.name) {
			return fmt.Errorf("build: %s: the site name %q has characters outside [A-Za-z0-9._-] or a segment starting with '.'", a.origin, a.name)
		}
		if a.name == manifestName || a.name == swName {
			return fmt.Errorf("build: %s: %s is generated by the builder; rename the source file", a.origin, a.name)
		}
		if _, hashed := serve.NameHash(a.name); hashed {
			return fmt.Errorf("build: %s: %q already looks content-hashed (a %d-hex-digit part before the extension); rename it", a.origin, a.name, serve.HashHexLen)
		}
		if prev, dup := seen[a.name]; dup {
			return fmt.Errorf("build: %s and %s both make %q", prev, a.origin, a.name)
		}
		seen[a.name] = a.origin
	}
	return nil
}

// checkOut refuses to replace a directory that is not a previous build: a
// mistyped -out must not delete someone's files.
func checkOut(out string) error {
	if out == "" {
		return errors.New("build: no output directory")
	}
	entries, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("build: output %s: %w", out, err)
	}
	if len(entries) == 0 {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(out, manifestName))
	var m Manifest
	if err != nil || json.Unmarshal(b, &m) != nil || m.Format != ManifestFormat {
		return fmt.Errorf("build: output %s is not empty and holds no %s of format %q: refusing to replace it", out, manifestName, ManifestFormat)
	}
	return nil
}

// write creates the site in a new directory beside out and renames it into
// place, removing the previous build.
func write(out string, files []file, vs []variant) error {
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".new-")
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	put := func(p string, b []byte) error {
		dst := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return fmt.Errorf("build: %w", err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return fmt.Errorf("build: %w", err)
		}
		return nil
	}
	for _, f := range files {
		if err := put(f.path, f.data); err != nil {
			return err
		}
	}
	for _, v := range vs {
		if err := put(v.path, v.data); err != nil {
			return err
		}
	}
	old := ""
	if _, err := os.Stat(out); err == nil {
		old = tmp + ".old"
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("build: replacing %s: %w", out, err)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		if old != "" {
			os.Rename(old, out)
		}
		return fmt.Errorf("build: replacing %s: %w", out, err)
	}
	ok = true
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("build: removing the previous build: %w", err)
		}
	}
	return nil
}
