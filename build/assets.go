package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"ctvae/serve"
)

// An asset is one file of the site before naming: its logical name (the path
// a placeholder refers to), its bytes, and where it came from (for errors).
type asset struct {
	name    string
	data    []byte
	origin  string
	rewrite bool // the file may hold {{asset "..."}} placeholders
}

// A file is one file of the site after naming.
type file struct {
	name   string // logical name
	path   string // path under dist/, content-hashed unless unhashed(name)
	data   []byte
	sha256 string // hex, of data
}

// rewritable are the extensions whose files may hold placeholders.
var rewritable = map[string]bool{".html": true, ".js": true, ".mjs": true, ".css": true, ".webmanifest": true}

// Generated names: the builder writes them last, from every other file.
const (
	manifestName = "manifest.json"
	swName       = "sw.js"
)

// unhashed reports whether a file keeps its name: pages are entry points a
// user types or links to, and the manifest and service worker must be found
// at a fixed address to find everything else.
func unhashed(name string) bool {
	return path.Ext(name) == ".html" || name == manifestName || name == swName
}

// placeholder is the one template form: {{asset "logical/name.ext"}}.
var (
	placeholder = regexp.MustCompile(`\{\{\s*asset\s+"([^"\n]*)"\s*\}\}`)
	opening     = regexp.MustCompile(`\{\{\s*asset\b`)
)

// references returns the logical names a's placeholders refer to, in order
// of appearance, checking that every "{{asset" opens a well-formed
// placeholder.
func references(a asset) ([]string, error) {
	if !a.rewrite {
		return nil, nil
	}
	var names []string
	for i, line := range bytes.Split(a.data, []byte("\n")) {
		good := placeholder.FindAllSubmatchIndex(line, -1)
		opens := opening.FindAllIndex(line, -1)
		if len(opens) != len(good) {
			return nil, fmt.Errorf("build: %s:%d: malformed placeholder, want {{asset \"name\"}}", a.origin, i+1)
		}
		for _, m := range good {
			names = append(names, string(line[m[2]:m[3]]))
		}
	}
	return names, nil
}

// name assigns every asset its path under dist/, rewriting placeholders
// first: a file's hash covers the names of the files it refers to, so a
// change anywhere renames everything that depends on it. Files are named in
// dependency order; a cycle of references is an error.
func name(assets []asset) ([]file, error) {
	byName := map[string]*asset{}
	for i := range assets {
		byName[assets[i].name] = &assets[i]
	}
	named := map[string]string{} // logical name -> path, once named
	visiting := map[string]bool{}
	var out []file
	var visit func(a *asset, stack []string) error
	visit = func(a *asset, stack []string) error {
		if _, done := named[a.name]; done {
			return nil
		}
		if visiting[a.name] {
			return fmt.Errorf("build: placeholders form a cycle: %s", strings.Join(append(stack, a.name), " -> "))
		}
		visiting[a.name] = true
		defer delete(visiting, a.name)
		refs, err := references(*a)
		if err != nil {
			return err
		}
		for _, r := range refs {
			if dep, ok := byName[r]; ok {
				if err := visit(dep, append(stack, a.name)); err != nil {
					return err
				}
			}
		}
		data, err := rewrite(*a, func(ref string) (string, bool) {
			if p, ok := named[ref]; ok {
				return p, true
			}
			if ref == manifestName || ref == swName {
				return ref, true
			}
			return "", false
		})
		if err != nil {
			return err
		}
		f := file{name: a.name, data: data, sha256: sum(data)}
		f.path = f.name
		if !unhashed(f.name) {
			f.path = serve.HashedName(f.name, f.sha256)
		}
		out = append(out, f)
		named[a.name] = f.path
		return nil
	}
	// Visit in name order so that errors are reported deterministically.
	order := make([]*asset, len(assets))
	for i := range assets {
		order[i] = &assets[i]
	}
	sort.Slice(order, func(i, j int) bool { return order[i].name < order[j].name })
	for _, a := range order {
		if err := visit(a, nil); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// rewrite replaces each placeholder in a with the path of the file it names,
// relative to a's own directory (see relative).
func rewrite(a asset, lookup func(string) (string, bool)) ([]byte, error) {
	if !a.rewrite {
		return a.data, nil
	}
	lines := bytes.Split(a.data, []byte("\n"))
	for i, line := range lines {
		var err error
		lines[i] = placeholder.ReplaceAllFunc(line, func(m []byte) []byte {
			ref := string(placeholder.FindSubmatch(m)[1])
			p, ok := lookup(ref)
			if !ok && err == nil {
				err = fmt.Errorf("build: %s:%d: unknown asset %q (no source file has that name)", a.origin, i+1, ref)
			}
			return []byte(relative(path.Dir(a.name), p))
		})
		if err != nil {
			return nil, err
		}
	}
	return bytes.Join(lines, []byte("\n")), nil
}

// relative returns target (a path under dist/) as seen from directory dir
// (also under dist/; "." for the top), starting with "./" or "../" so that
// ES module imports accept it as a relative specifier.
func relative(dir, target string) string {
	var from []string
	if dir != "." && dir != "" {
		from = strings.Split(dir, "/")
	}
	to := strings.Split(target, "/")
	common := 0
	for common < len(from) && common < len(to)-1 && from[common] == to[common] {
		common++
	}
	up := len(from) - common
	rest := strings.Join(to[common:], "/")
	if up == 0 {
		return "./" + rest
	}
	return strings.Repeat("../", up) + rest
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
