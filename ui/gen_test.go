package ui

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates root_gen.go from root.vugu in a scratch
// directory and compares it with the committed file, so the committed
// output is both current and reproducible.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go tool vugugen")
	}
	dir := t.TempDir()
	for _, name := range []string{"root.vugu", "root.go", "view.go", "platform.go"} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "tool", "vugugen", "-skip-go-mod", "-skip-main", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("vugugen: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "root_gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := TidyGenerated(raw)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("root_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("root_gen.go is stale: run go generate ./ui")
	}
}
