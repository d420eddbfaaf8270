package ui

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVuguRenderScript checks that static/vugu-render.js is the helper
// script of the vugu version in go.mod: boot.js installs it in place of
// domrender's eval, so a stale copy would break rendering silently.
func TestVuguRenderScript(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/vugu/vugu").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "domrender", "renderer-js-script.go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("static", "vugu-render.js"))
	if err != nil {
		t.Fatal(err)
	}
	body := strings.SplitN(string(got), "\n", 2)[1]
	body = strings.TrimSuffix(body, "\n")
	// The Go source holds the script as a quoted string; compare a
	// distinctive stretch both ways of quoting would keep.
	if !strings.HasPrefix(body, "(function(){if(window.vuguRender)return;") {
		t.Fatalf("vugu-render.js does not start like vugu's helper script")
	}
	quoted := strings.ReplaceAll(strings.ReplaceAll(body, `\`, `\\`), `"`, `\"`)
	if !strings.Contains(string(src), `"`+quoted+`"`) {
		t.Fatal("static/vugu-render.js differs from the vugu version in go.mod: run go generate ./ui")
	}
}
