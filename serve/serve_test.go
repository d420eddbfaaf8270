package serve

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// secret is written outside the served directory (and to a hidden file
// inside it); no response may ever contain it.
const secret = "TOP-SECRET-7f3a9c"

const (
	jsHash   = "0123456789abcdef"
	wasmHash = "fedcba9876543210"
)

// testSite is a served directory, a secret beside it, and the names used by
// the tests.
type testSite struct {
	dir        string // the served directory
	secretPath string // absolute path of the secret outside dir
}

func gz(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newSite(t testing.TB) testSite {
	t.Helper()
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	dir := filepath.Join(base, "dist")
	for _, d := range []string{outside, dir, filepath.Join(dir, "sub"), filepath.Join(dir, "docs"), filepath.Join(dir, "empty")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	secretPath := filepath.Join(outside, "secret.txt")
	js := []byte(strings.Repeat("export const x = 1;\n", 200))
	files := map[string][]byte{
		secretPath:                                       []byte(secret),
		filepath.Join(base, "secret.txt"):                []byte(secret),
		filepath.Join(dir, ".env"):                       []byte(secret),
		filepath.Join(dir, "index.html"):                 []byte("<!doctype html><title>ctvae</title>"),
		filepath.Join(dir, "sw.js"):                      []byte("self.addEventListener('fetch', () => {});"),
		filepath.Join(dir, "manifest.json"):              []byte(`{"files":{}}`),
		filepath.Join(dir, "app.webmanifest"):            []byte(`{"name":"ctvae"}`),
		filepath.Join(dir, "ctvae."+jsHash+".js"):        js,
		filepath.Join(dir, "ctvae."+jsHash+".js.gz"):     gz(t, js),
		filepath.Join(dir, "ctvae."+jsHash+".js.br"):     []byte("pretend-brotli"),
		filepath.Join(dir, "worker."+jsHash+".mjs"):      []byte("postMessage(1)"),
		filepath.Join(dir, "engine."+wasmHash+".wasm"):   append([]byte("\x00asm\x01\x00\x00\x00"), make([]byte, 64<<10)...),
		filepath.Join(dir, "m."+wasmHash+".safetensors"): []byte("01234567890123456789"),
		filepath.Join(dir, "cat.png"):                    []byte("\x89PNG\r\n\x1a\n"),
		filepath.Join(dir, "style."+jsHash+".css"):       []byte("body{}"),
		filepath.Join(dir, "sub", "page.html"):           []byte("<p>sub</p>"),
		filepath.Join(dir, "docs", "index.html"):         []byte("<p>docs</p>"),
		filepath.Join(dir, "noext"):                      []byte("plain"),
	}
	for p, b := range files {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		filepath.Join(dir, "link-out.txt"):  secretPath,
		filepath.Join(dir, "link-rel.txt"):  filepath.Join("..", "outside", "secret.txt"),
		filepath.Join(dir, "linkdir"):       outside,
		filepath.Join(dir, "sub", "up"):     filepath.Join("..", ".."),
		filepath.Join(dir, "link-in.html"):  "index.html", // inside: allowed
		filepath.Join(dir, "link-abs.html"): filepath.Join(dir, "index.html"),
	} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	return testSite{dir: dir, secretPath: secretPath}
}

func testConfig(dir string) Config {
	c := DefaultConfig(dir)
	c.ReadHeaderTimeout = 2 * time.Second
	c.ReadTimeout = 4 * time.Second
	c.WriteTimeout = 10 * time.Second
	c.IdleTimeout = 10 * time.Second
	return c
}

// start runs a server for cfg on 127.0.0.1 and returns its address.
func start(t testing.TB, cfg Config) string {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			s.Close()
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// client does not ask for or undo compression itself, so the tests see
// exactly what the server sent.
func client() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
		Timeout:   10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

type resp struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, c *http.Client, method, url string, hdr map[string]string) resp {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	r, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp{r.StatusCode, r.Header, string(b)}
}

// ----------------------------------------------------------------------------
// Names and Accept-Encoding

func TestHashedNameRoundTrip(t *testing.T) {
	sum := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, c := range []struct{ in, want string }{
		{"ctvae.js", "ctvae.0123456789abcdef.js"},
		{"css/site.css", "css/site.0123456789abcdef.css"},
		{"weights/dsprites.safetensors", "weights/dsprites.0123456789abcdef.safetensors"},
		{"a.b.js", "a.b.0123456789abcdef.js"},
		{"LICENSE", "LICENSE.0123456789abcdef"},
	} {
		got := HashedName(c.in, sum)
		if got != c.want {
			t.Errorf("HashedName(%q) = %q, want %q", c.in, got, c.want)
		}
		if h, ok := NameHash(got); !ok || h != sum[:HashHexLen] {
			t.Errorf("NameHash(%q) = %q, %v; want %q, true", got, h, ok, sum[:HashHexLen])
		}
	}
	for _, name := range []string{"index.html", "sw.js", "manifest.json", "ctvae.0123456789ABCDEF.js",
		"ctvae.0123456789abcde.js", "ctvae.0123456789abcdef0.js", ".0123456789abcdef.js", "0123456789abcdef"} {
		if h, ok := NameHash(name); ok {
			t.Errorf("NameHash(%q) = %q, true; want not hashed", name, h)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"index.html", true}, {"css/site.css", true}, {"a_b-c.1.js", true},
		{"", false}, {"/abs", false}, {"a//b", false}, {"a/", false}, {".env", false}, {"a/../b", false},
		{"..", false}, {".", false}, {"a\\b", false}, {"a\x00b", false}, {"a b", false}, {"a%2fb", false},
		{"é.js", false}, {"a;b", false}, {strings.Repeat("a", MaxNameLen+1), false},
	} {
		if got := ValidName(c.name); got != c.ok {
			t.Errorf("ValidName(%q) = %v, want %v", c.name, got, c.ok)
		}
	}
}

func TestAcceptWeights(t *testing.T) {
	for _, c := range []struct {
		header string
		br, gz float64
	}{
		{"", 0, 0},
		{"gzip", 0, 1},
		{"gzip, deflate, br", 1, 1},
		{"br;q=0.5, gzip;q=0.8", 0.5, 0.8},
		{"br;q=0, gzip", 0, 1},
		{"BR;Q=0.3", 0.3, 0},
		{"*", 1, 1},
		{"*;q=0.2, br", 1, 0.2},
		{"*;q=0", 0, 0},
		{"gzip;q=0, *", 1, 0},
		{"x-gzip", 0, 1},
		{"identity", 0, 0},
		{"br;q=2, gzip;q=abc", 0, 0},
		{"br;q=-1", 0, 0},
		{"br;level=5;q=0.7", 0.7, 0},
		{" br ; q=0.100 , gzip ; q=1.000 ", 0.1, 1},
		{",,,br", 1, 0},
	} {
		q := acceptWeights(c.header)
		if q[0] != c.br || q[1] != c.gz {
			t.Errorf("acceptWeights(%q) = br %v gzip %v, want br %v gzip %v", c.header, q[0], q[1], c.br, c.gz)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no dir", func(c *Config) { c.Dir = "" }, "Dir is empty"},
		{"missing dir", func(c *Config) { c.Dir = filepath.Join(dir, "nope") }, "nope"},
		{"file", func(c *Config) { c.Dir = filepath.Join(dir, "f") }, "not a directory"},
		{"zero timeout", func(c *Config) { c.WriteTimeout = 0 }, "WriteTimeout"},
		{"small headers", func(c *Config) { c.MaxHeaderBytes = 10 }, "MaxHeaderBytes"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := DefaultConfig(dir)
		c.edit(&cfg)
		_, err := New(cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "serve: ") {
			t.Errorf("%s: New error %v, want one naming %q", c.name, err, c.want)
		}
	}
}

// ----------------------------------------------------------------------------
// Headers, content types, caching, encodings, methods

func TestResponses(t *testing.T) {
	site := newSite(t)
	base := "http://" + start(t, testConfig(site.dir))
	c := client()
	js := "/ctvae." + jsHash + ".js"

	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/", "text/html; charset=utf-8", CacheRevalidate},
		{"/index.html", "text/html; charset=utf-8", CacheRevalidate},
		{"/sw.js", "text/javascript; charset=utf-8", CacheRevalidate},
		{"/manifest.json", "application/json", CacheRevalidate},
		{"/app.webmanifest", "application/manifest+json", CacheRevalidate},
		{js, "text/javascript; charset=utf-8", CacheImmutable},
		{"/worker." + jsHash + ".mjs", "text/javascript; charset=utf-8", CacheImmutable},
		{"/engine." + wasmHash + ".wasm", "application/wasm", CacheImmutable},
		{"/m." + wasmHash + ".safetensors", "application/octet-stream", CacheImmutable},
		{"/cat.png", "image/png", CacheRevalidate},
		{"/style." + jsHash + ".css", "text/css; charset=utf-8", CacheImmutable},
		{"/noext", "application/octet-stream", CacheRevalidate},
		{"/docs/", "text/html; charset=utf-8", CacheRevalidate},
		{"/link-in.html", "text/html; charset=utf-8", CacheRevalidate},
	} {
		r := do(t, c, "GET", base+tc.path, nil)
		if r.status != 200 {
			t.Errorf("GET %s: status %d, want 200 (%s)", tc.path, r.status, r.body)
			continue
		}
		for k, want := range map[string]string{
			"Content-Type":            tc.ctype,
			"Cache-Control":           tc.cache,
			"Content-Security-Policy": CSP,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("GET %s: %s = %q, want %q", tc.path, k, got, want)
			}
		}
		if r.header.Get("Content-Encoding") != "" {
			t.Errorf("GET %s without Accept-Encoding: Content-Encoding %q", tc.path, r.header.Get("Content-Encoding"))
		}
		if r.header.Get("Etag") == "" {
			t.Errorf("GET %s: no ETag", tc.path)
		}
	}

	t.Run("precompressed", func(t *testing.T) {
		for _, tc := range []struct {
			accept, encoding string
		}{
			{"", ""},
			{"gzip", "gzip"},
			{"br", "br"},
			{"gzip, deflate, br", "br"},
			{"br;q=0.5, gzip", "gzip"},
			{"br;q=0, gzip;q=0", ""},
			{"br;q=0", ""},
			{"*", "br"},
			{"*;q=0", ""},
			{"identity", ""},
			{"deflate", ""},
		} {
			r := do(t, c, "GET", base+js, map[string]string{"Accept-Encoding": tc.accept})
			if got := r.header.Get("Content-Encoding"); r.status != 200 || got != tc.encoding {
				t.Errorf("Accept-Encoding %q: status %d Content-Encoding %q, want 200 %q", tc.accept, r.status, got, tc.encoding)
			}
			if got := r.header.Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Accept-Encoding %q: Vary %q, want Accept-Encoding", tc.accept, got)
			}
			if got := r.header.Get("Content-Type"); got != "text/javascript; charset=utf-8" {
				t.Errorf("Accept-Encoding %q: Content-Type %q", tc.accept, got)
			}
			wantTag := `"` + jsHash + `"`
			if tc.encoding != "" {
				wantTag = `"` + jsHash + "-" + tc.encoding + `"`
			}
			if got := r.header.Get("Etag"); got != wantTag {
				t.Errorf("Accept-Encoding %q: ETag %s, want %s", tc.accept, got, wantTag)
			}
			if want := strconv.Itoa(len(r.body)); r.header.Get("Content-Length") != want {
				t.Errorf("Accept-Encoding %q: Content-Length %q, want %s", tc.accept, r.header.Get("Content-Length"), want)
			}
			switch tc.encoding {
			case "gzip":
				zr, err := gzip.NewReader(strings.NewReader(r.body))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(zr)
				if err != nil || !strings.HasPrefix(string(b), "export const x") {
					t.Errorf("gzip body does not decode to the file: %v", err)
				}
			case "br":
				if r.body != "pretend-brotli" {
					t.Errorf("br body %q, want the .br file", r.body)
				}
			}
		}
		// No variant on disk: no Vary, no encoding.
		r := do(t, c, "GET", base+"/index.html", map[string]string{"Accept-Encoding": "br, gzip"})
		if r.header.Get("Vary") != "" || r.header.Get("Content-Encoding") != "" {
			t.Errorf("index.html without variants: Vary %q Content-Encoding %q", r.header.Get("Vary"), r.header.Get("Content-Encoding"))
		}
	})

	t.Run("HEAD", func(t *testing.T) {
		r := do(t, c, "HEAD", base+"/engine."+wasmHash+".wasm", nil)
		if r.status != 200 || r.body != "" || r.header.Get("Content-Length") != "65544" {
			t.Errorf("HEAD: status %d, body %d bytes, Content-Length %q; want 200, 0, 65544", r.status, len(r.body), r.header.Get("Content-Length"))
		}
	})

	t.Run("HEAD precompressed", func(t *testing.T) {
		r := do(t, c, "HEAD", base+js, map[string]string{"Accept-Encoding": "br"})
		if r.status != 200 || r.header.Get("Content-Encoding") != "br" || r.header.Get("Content-Length") != "14" {
			t.Errorf("HEAD br: status %d Content-Encoding %q Content-Length %q; want 200 br 14", r.status, r.header.Get("Content-Encoding"), r.header.Get("Content-Length"))
		}
		r = do(t, c, "GET", base+js, map[string]string{"Accept-Encoding": "br", "Range": "bytes=0-3"})
		if r.status != 206 || r.body != "pret" || r.header.Get("Content-Range") != "bytes 0-3/14" {
			t.Errorf("Range on the br variant: status %d body %q Content-Range %q", r.status, r.body, r.header.Get("Content-Range"))
		}
		r = do(t, c, "GET", base+js, map[string]string{"Accept-Encoding": "br", "If-Match": `"other"`})
		if r.status != 412 {
			t.Errorf("If-Match mismatch: status %d, want 412", r.status)
		}
	})

	t.Run("Range", func(t *testing.T) {
		p := base + "/m." + wasmHash + ".safetensors"
		r := do(t, c, "GET", p, map[string]string{"Range": "bytes=2-5"})
		if r.status != 206 || r.body != "2345" || r.header.Get("Content-Range") != "bytes 2-5/20" {
			t.Errorf("Range 2-5: status %d body %q Content-Range %q", r.status, r.body, r.header.Get("Content-Range"))
		}
		r = do(t, c, "GET", p, map[string]string{"Range": "bytes=-3"})
		if r.status != 206 || r.body != "789" {
			t.Errorf("Range -3: status %d body %q", r.status, r.body)
		}
		r = do(t, c, "GET", p, map[string]string{"Range": "bytes=50-60"})
		if r.status != 416 {
			t.Errorf("Range past the end: status %d, want 416", r.status)
		}
		r = do(t, c, "GET", p, map[string]string{"Range": "bytes=0-1", "If-Range": `"other"`})
		if r.status != 200 || len(r.body) != 20 {
			t.Errorf("If-Range with a stale ETag: status %d, %d bytes; want the whole file", r.status, len(r.body))
		}
	})

	t.Run("conditional", func(t *testing.T) {
		for _, p := range []string{js, "/index.html"} {
			first := do(t, c, "GET", base+p, nil)
			r := do(t, c, "GET", base+p, map[string]string{"If-None-Match": first.header.Get("Etag")})
			if r.status != 304 || r.body != "" {
				t.Errorf("%s If-None-Match: status %d, want 304", p, r.status)
			}
		}
		// The ETag of an unhashed file follows its content.
		before := do(t, c, "GET", base+"/manifest.json", nil).header.Get("Etag")
		if err := os.WriteFile(filepath.Join(site.dir, "manifest.json"), []byte(`{"files":{"a":1}}`), 0o644); err != nil {
			t.Fatal(err)
		}
		after := do(t, c, "GET", base+"/manifest.json", nil).header.Get("Etag")
		if before == after {
			t.Errorf("manifest.json ETag %s unchanged after its content changed", before)
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{"/nope.js", "/empty/", "/empty", "/sub/", "/index.html/", "/.env", "/link-out.txt", "/linkdir/secret.txt",
			"/link-abs.html", // os.Root refuses absolute links, even to inside
		} {
			r := do(t, c, "GET", base+p, nil)
			if r.status != 404 && r.status != 400 {
				t.Errorf("GET %s: status %d, want 404", p, r.status)
			}
			if r.header.Get("Content-Security-Policy") != CSP || r.header.Get("Cache-Control") != "" || r.header.Get("Etag") != "" {
				t.Errorf("GET %s: error headers CSP %q Cache-Control %q ETag %q", p, r.header.Get("Content-Security-Policy"), r.header.Get("Cache-Control"), r.header.Get("Etag"))
			}
			if strings.Contains(r.body, secret) {
				t.Errorf("GET %s: the secret leaked", p)
			}
		}
	})

	t.Run("directory redirect", func(t *testing.T) {
		r := do(t, c, "GET", base+"/docs", nil)
		if r.status != 301 || r.header.Get("Location") != "/docs/" {
			t.Errorf("GET /docs: status %d Location %q, want 301 /docs/", r.status, r.header.Get("Location"))
		}
	})

	t.Run("methods", func(t *testing.T) {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"} {
			r := do(t, c, m, base+"/index.html", nil)
			if r.status != 405 || r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s: status %d Allow %q, want 405 \"GET, HEAD\"", m, r.status, r.header.Get("Allow"))
			}
		}
	})

	t.Run("query ignored", func(t *testing.T) {
		r := do(t, c, "GET", base+"/index.html?v=2", nil)
		if r.status != 200 {
			t.Errorf("GET with a query: status %d, want 200", r.status)
		}
	})
}

func TestAccessLog(t *testing.T) {
	site := newSite(t)
	var buf syncBuffer
	cfg := testConfig(site.dir)
	cfg.AccessLog = newLogger(&buf)
	base := "http://" + start(t, cfg)
	do(t, client(), "GET", base+"/index.html", nil)
	do(t, client(), "GET", base+"/missing", nil)
	out := buf.String()
	if !strings.Contains(out, `GET "/index.html" 200`) || !strings.Contains(out, `GET "/missing" 404`) {
		t.Errorf("access log %q lacks the two requests", out)
	}
}
