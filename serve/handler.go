package serve

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Response headers sent with every response, errors included.
const (
	// CSP allows our own scripts, workers and wasm compilation, and nothing
	// from any other origin.
	CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; " +
		"connect-src 'self'; img-src 'self' data: blob:; style-src 'self'; object-src 'none'; " +
		"base-uri 'none'; frame-ancestors 'none'"
	// CacheImmutable is sent for content-hashed names: their bytes never change.
	CacheImmutable = "public, max-age=31536000, immutable"
	// CacheRevalidate is sent for every other name (index.html, sw.js,
	// manifest.json): the browser must check for a new build each time.
	CacheRevalidate = "no-cache"
)

// Handler serves the files under one directory, read through an os.Root so
// that neither ".." nor symbolic links can reach outside it.
type Handler struct {
	root *os.Root

	mu    sync.Mutex
	etags map[string]etagEntry // file name -> hash of its bytes, for unhashed names
}

type etagEntry struct {
	size    int64
	modTime time.Time
	etag    string
}

// NewHandler opens dir for serving. Close releases it.
func NewHandler(dir string) (*Handler, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: directory %q: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("serve: %q is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: directory %q: %w", dir, err)
	}
	return &Handler{root: root, etags: map[string]etagEntry{}}, nil
}

// Close releases the directory.
func (h *Handler) Close() error { return h.root.Close() }

// errBadPath is the one answer to every request target we refuse to map to a
// file: the body does not echo the target back.
var errBadPath = errors.New("bad request path")

// ServeHTTP serves GET and HEAD for the files under the directory.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed, "method not allowed: this server serves GET and HEAD")
		return
	}
	// A GET with a body has no meaning here, and a body the server would
	// have to skip is how requests get smuggled past a front end.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		hd.Set("Connection", "close")
		fail(w, http.StatusBadRequest, "bad request: GET and HEAD take no body")
		return
	}
	name, err := requestName(r)
	if err != nil {
		hd.Set("Connection", "close")
		fail(w, http.StatusBadRequest, "bad request: "+err.Error())
		return
	}
	h.serveFile(w, r, name)
}

// requestName maps the request target to a file name under the root: the
// decoded path must be a ValidName, or empty for the root, with at most a
// trailing slash. Absolute-form targets ("GET http://host/x") are refused:
// this is an origin server, not a proxy.
func requestName(r *http.Request) (string, error) {
	if r.URL.IsAbs() || r.URL.Host != "" || r.URL.Opaque != "" {
		return "", errBadPath
	}
	p := r.URL.Path
	// The escaped form must decode to the same segments: "%2F" inside a
	// segment would otherwise turn into a separator after Clean.
	if strings.Contains(r.URL.RawPath, "%") {
		return "", errBadPath
	}
	if !strings.HasPrefix(p, "/") || len(p) > MaxNameLen+2 {
		return "", errBadPath
	}
	name := strings.TrimPrefix(p, "/")
	dir := strings.HasSuffix(name, "/")
	name = strings.TrimSuffix(name, "/")
	if name == "" {
		if dir || p == "/" {
			return "", nil
		}
		return "", errBadPath
	}
	if !ValidName(name) {
		return "", errBadPath
	}
	if dir {
		return name + "/", nil
	}
	return name, nil
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	st, err := h.root.Stat(name)
	if err != nil {
		notFound(w)
		return
	}
	if st.IsDir() {
		// A directory without its slash: send the browser to the slash form
		// so that relative links in its index.html resolve.
		if _, err := h.root.Stat(name + "/index.html"); err == nil {
			http.Redirect(w, r, "/"+name+"/", http.StatusMovedPermanently)
			return
		}
		notFound(w)
		return
	}
	if !st.Mode().IsRegular() {
		notFound(w)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ContentType(name))
	hash, hashed := NameHash(name)
	if hashed {
		hd.Set("Cache-Control", CacheImmutable)
	} else {
		hd.Set("Cache-Control", CacheRevalidate)
	}

	// Choose a precompressed variant the client accepts.
	served, token := name, ""
	q := acceptWeights(r.Header.Get("Accept-Encoding"))
	best := 0.0
	haveVariant := false
	for i, e := range encodings {
		vst, err := h.root.Stat(name + e.suffix)
		if err != nil || !vst.Mode().IsRegular() {
			continue
		}
		haveVariant = true
		if q[i] > best {
			best, served, token = q[i], name+e.suffix, e.token
		}
	}
	if haveVariant {
		hd.Add("Vary", "Accept-Encoding")
	}

	f, err := h.root.Open(served)
	if err != nil {
		notFound(w)
		return
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil || !fst.Mode().IsRegular() {
		notFound(w)
		return
	}
	if token != "" {
		hd.Set("Content-Encoding", token)
		// ServeContent leaves Content-Length out when there is a
		// Content-Encoding; the length of the encoded file is the right
		// one for a whole response, and lets clients see its size.
		if r.Header.Get("Range") == "" && r.Header.Get("If-Match") == "" && r.Header.Get("If-Unmodified-Since") == "" {
			hd.Set("Content-Length", strconv.FormatInt(fst.Size(), 10))
		}
	}
	var etag string
	if hashed {
		etag = hash
		if token != "" {
			etag += "-" + token
		}
	} else if etag, err = h.contentETag(served, f, fst); err != nil {
		fail(w, http.StatusInternalServerError, "internal error reading the file")
		return
	}
	hd.Set("Etag", `"`+etag+`"`)
	// ServeContent answers Range, If-Range, If-None-Match and HEAD.
	http.ServeContent(w, r, name, fst.ModTime(), f)
}

// contentETag hashes the bytes of an unhashed file, remembering the result
// until the file's size or modification time changes (a rebuild).
func (h *Handler) contentETag(name string, f *os.File, st fs.FileInfo) (string, error) {
	h.mu.Lock()
	e, ok := h.etags[name]
	h.mu.Unlock()
	if ok && e.size == st.Size() && e.modTime.Equal(st.ModTime()) {
		return e.etag, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	etag := hex.EncodeToString(sum.Sum(nil))[:HashHexLen]
	h.mu.Lock()
	h.etags[name] = etagEntry{size: st.Size(), modTime: st.ModTime(), etag: etag}
	h.mu.Unlock()
	return etag, nil
}

func notFound(w http.ResponseWriter) {
	fail(w, http.StatusNotFound, "404 page not found")
}

func fail(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	for _, k := range []string{"Cache-Control", "Etag", "Content-Encoding", "Last-Modified", "Vary"} {
		hd.Del(k)
	}
	http.Error(w, msg, code)
}
