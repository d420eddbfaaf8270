// Package archtest enforces the dependency rules of DESIGN.md with `go list`:
// imports only go downward, and the runtime stays free of I/O.
package archtest

import (
	"os/exec"
	"path"
	"strings"
	"testing"
)

const module = "ctvae"

// allowed maps a package pattern (a path, or a path ending in /... for a
// subtree) to the patterns of our own packages it may import.
var allowed = map[string][]string{
	"runtime/tensor":      {},
	"runtime/kernels":     {"runtime/tensor"},
	"runtime/nn":          {"runtime/tensor", "runtime/kernels"},
	"runtime/vqvae":       {"runtime/tensor", "runtime/kernels", "runtime/nn"},
	"runtime/causal":      {"runtime/tensor", "runtime/kernels", "runtime/nn"},
	"runtime/ctvae":       {"runtime/tensor", "runtime/kernels", "runtime/nn", "runtime/vqvae", "runtime/causal"},
	"weights":             {},
	"weights/...":         {"weights"},
	"weights/checkpoint":  {"weights"},
	"data":                {},
	"serve":               {},
	"train":               {"runtime/...", "weights/...", "data", "internal/modelfile"},
	"train/curves":        {},
	"build":               {"weights", "serve"},
	"ui/...":              {"runtime/...", "weights", "data", "ui/...", "wasm/protocol"},
	"wasm/...":            {"runtime/...", "weights", "data", "ui/...", "internal/imageio", "internal/modelfile", "wasm/protocol"},
	"wasm/protocol":       {},
	"wasm/dispatch":       {"runtime/...", "data", "internal/imageio", "internal/modelfile", "wasm/protocol"},
	"wasm/engine":         {"wasm/dispatch", "wasm/protocol", "wasm/simd128"},
	"wasm/simd128":        {"runtime/kernels", "runtime/causal"},
	"internal/e2e":        {"serve", "build", "internal/...", "runtime/...", "weights", "data"},
	"internal/golden":     {"runtime/...", "weights", "internal/modelfile"},
	"internal/archtest":   {},
	"internal/imageio":    {},
	"internal/configfile": {"runtime/..."},
	"internal/modelfile":  {"runtime/...", "weights"},
	"cmd/ctvae":           {"runtime/...", "weights/...", "data", "train", "train/curves", "serve", "build", "internal/imageio", "internal/modelfile", "internal/configfile"},
}

// ioPackages are standard packages the pure runtime must not import.
var ioPackages = []string{"os", "net", "net/http", "io/ioutil", "syscall", "syscall/js", "os/exec", "time"}

func match(pattern, pkg string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == p || strings.HasPrefix(pkg, p+"/")
	}
	return pkg == pattern
}

func rulesFor(pkg string) ([]string, bool) {
	// The most specific rule wins: exact paths before subtrees.
	if r, ok := allowed[pkg]; ok {
		return r, true
	}
	best, found := "", false
	for pattern := range allowed {
		if match(pattern, pkg) && len(pattern) > len(best) {
			best, found = pattern, true
		}
	}
	return allowed[best], found
}

func TestImportDirections(t *testing.T) {
	for _, goos := range []string{"", "js"} {
		cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Imports \" \"}}", module+"/...")
		cmd.Dir = "../.."
		if goos != "" {
			cmd.Env = append(cmd.Environ(), "GOOS=js", "GOARCH=wasm")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list (GOOS=%q): %v\n%s", goos, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			full, imports, _ := strings.Cut(line, ":")
			pkg := strings.TrimPrefix(full, module+"/")
			rules, ok := rulesFor(pkg)
			if !ok {
				t.Errorf("package %s has no dependency rule in arch_test.go: add one", pkg)
				continue
			}
			for _, imp := range strings.Fields(imports) {
				if strings.HasPrefix(pkg, "runtime/") {
					for _, banned := range ioPackages {
						if imp == banned {
							t.Errorf("%s imports %s: the runtime does no I/O", pkg, imp)
						}
					}
				}
				own, isOwn := strings.CutPrefix(imp, module+"/")
				if !isOwn {
					continue
				}
				// wasm/protocol is plain Go written to be shared with Go pages
				// (the vugu components of ui/); the rest of wasm/ is mains.
				if strings.HasPrefix(own, "cmd/") || (strings.HasPrefix(own, "wasm") && own != "wasm/protocol" && !strings.HasPrefix(pkg, "wasm")) {
					t.Errorf("%s imports %s: nothing imports cmd or wasm", pkg, own)
					continue
				}
				okImp := false
				for _, r := range rules {
					if match(r, own) {
						okImp = true
					}
				}
				if !okImp {
					t.Errorf("%s imports %s, which the layering of DESIGN.md forbids (allowed: %v)", pkg, own, rules)
				}
			}
		}
	}
}

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, pkg string
		want         bool
	}{
		{"runtime/...", "runtime/nn", true},
		{"runtime/...", "runtime", true},
		{"runtime/...", "runtimex/nn", false},
		{"weights", "weights/pretrained", false},
		{path.Join("ui", "..."), "ui/app", true},
	} {
		if got := match(c.pattern, c.pkg); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.pkg, got, c.want)
		}
	}
}
