package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func writePNG(t *testing.T, path string, w, h int, fill func(x, y int) color.Color) {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, fill(x, y))
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCLIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "tiny.safetensors")
	if code, out, errs := runCLI(t, "init", "--config", "testdata/tiny.json", "--seed", "3", "--dataset", "shapes3d", "--out", w); code != 0 {
		t.Fatalf("init: %d %s %s", code, out, errs)
	}
	code, out, errs := runCLI(t, "info", "--json", w)
	if code != 0 {
		t.Fatalf("info: %s", errs)
	}
	var info map[string]any
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatal(err)
	}
	if info["dataset"] != "shapes3d" || len(info["actions"].([]any)) != 12 || info["problems"] != nil {
		t.Errorf("info: %v", info)
	}
	x, y := filepath.Join(dir, "x.png"), filepath.Join(dir, "y.png")
	writePNG(t, x, 32, 32, func(i, j int) color.Color { return color.RGBA{uint8(8 * i), uint8(8 * j), 128, 255} })
	writePNG(t, y, 48, 40, func(i, j int) color.Color { return color.RGBA{200, uint8(5 * j), uint8(5 * i), 255} })

	if code, _, errs = runCLI(t, "reconstruct", "--weights", w, "--in", x, "--out", filepath.Join(dir, "r.png")); code != 0 {
		t.Fatalf("reconstruct: %s", errs)
	}
	if code, _, errs = runCLI(t, "reconstruct", "--weights", w, "--in", y, "--out", filepath.Join(dir, "r2.png"), "--vq"); code != 0 || !strings.Contains(errs, "centre-cropped 48x40 to 40x40; resized 40x40 to 32x32") {
		t.Fatalf("reconstruct of a 48x40 image: code %d, stderr %q", code, errs)
	}
	steps := filepath.Join(dir, "steps")
	if code, out, errs = runCLI(t, "intervene", "--weights", w, "--in", x, "--action", "floor_hue+", "--steps", "3", "--out", steps); code != 0 {
		t.Fatalf("intervene: %s", errs)
	}
	for _, f := range []string{"step_1.png", "step_3.png", "steps.json"} {
		if _, err := os.Stat(filepath.Join(steps, f)); err != nil {
			t.Errorf("intervene did not write %s", f)
		}
	}
	code, out, errs = runCLI(t, "retrieve", "--weights", w, "--x", x, "--y", y, "--json")
	if code != 0 {
		t.Fatalf("retrieve: %s", errs)
	}
	var ret struct {
		Actions []struct {
			Prob float64 `json:"probability"`
		} `json:"actions"`
		Best string `json:"best_action"`
	}
	if err := json.Unmarshal([]byte(out), &ret); err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, a := range ret.Actions {
		sum += a.Prob
	}
	if len(ret.Actions) != 12 || sum < 0.999 || sum > 1.001 || ret.Best == "" {
		t.Errorf("retrieve: %d actions, probabilities sum to %g, best %q", len(ret.Actions), sum, ret.Best)
	}
	if code, _, errs = runCLI(t, "retrieve", "--weights", w, "--x", x, "--y", y, "--sampling", "sample", "--samples", "3"); code != 0 {
		t.Fatalf("retrieve in sample mode: %s", errs)
	}
}

func TestCLIBadInputs(t *testing.T) {
	dir := t.TempDir()
	w := filepath.Join(dir, "tiny.safetensors")
	if code, _, errs := runCLI(t, "init", "--config", "testdata/tiny.json", "--out", w); code != 0 {
		t.Fatal(errs)
	}
	vq := filepath.Join(dir, "vq.safetensors")
	os.WriteFile(filepath.Join(dir, "vq.json"), []byte(`{"in_channels": 1, "img_size": 16, "hidden_dims": [4], "embedding_dim": 4, "num_embeddings": 5, "codebooks": 1, "residual_layers": 1}`), 0o644)
	if code, _, errs := runCLI(t, "init", "--config", filepath.Join(dir, "vq.json"), "--out", vq); code != 0 {
		t.Fatal(errs)
	}
	x := filepath.Join(dir, "x.png")
	writePNG(t, x, 32, 32, func(i, j int) color.Color { return color.Gray{uint8(i * j)} })
	junk := filepath.Join(dir, "junk.png")
	os.WriteFile(junk, []byte("not an image"), 0o644)
	b, _ := os.ReadFile(w)
	trunc := filepath.Join(dir, "trunc.safetensors")
	os.WriteFile(trunc, b[:len(b)/2], 0o644)
	badCfg := filepath.Join(dir, "bad.json")
	os.WriteFile(badCfg, []byte(`{"in_channels": 3, "img_size": 30, "hidden_dims": [8, 16]}`), 0o644)
	unknown := filepath.Join(dir, "unknown.json")
	os.WriteFile(unknown, []byte(`{"in_channels": 3, "latent": 7}`), 0o644)

	cases := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"init"}, "--out is required"},
		{[]string{"init", "--config", badCfg, "--out", filepath.Join(dir, "o")}, "img_size = 30"},
		{[]string{"init", "--config", unknown, "--out", filepath.Join(dir, "o")}, `unknown field "latent"`},
		{[]string{"init", "--dtype", "f64", "--out", filepath.Join(dir, "o")}, `--dtype "f64"`},
		{[]string{"init", "--config", "testdata/tiny.json", "--dataset", "dsprites", "--out", filepath.Join(dir, "o")}, "dataset dsprites has 10 actions"},
		{[]string{"info", trunc}, "weights:"},
		{[]string{"reconstruct", "--weights", w, "--in", junk, "--out", filepath.Join(dir, "o.png")}, "not a PNG or JPEG"},
		{[]string{"reconstruct", "--weights", filepath.Join(dir, "missing"), "--in", x, "--out", filepath.Join(dir, "o.png")}, "no such file"},
		{[]string{"intervene", "--weights", w, "--in", x, "--action", "12", "--out", dir}, "action 12 out of range, want 0..11"},
		{[]string{"intervene", "--weights", w, "--in", x, "--action", "hue+", "--out", dir}, `unknown action "hue+"`},
		{[]string{"intervene", "--weights", w, "--in", x, "--action", "1", "--steps", "0", "--out", dir}, "traversal of 0 steps"},
		{[]string{"intervene", "--weights", vq, "--in", x, "--action", "0", "--out", dir}, "no causal layer"},
		{[]string{"retrieve", "--weights", vq, "--x", x, "--y", x}, "no causal layer"},
		{[]string{"retrieve", "--weights", w, "--x", x, "--y", x, "--samples", "4"}, "mode sampling, which is deterministic"},
		{[]string{"retrieve", "--weights", w, "--x", x, "--y", x, "--sampling", "gumbel"}, "gumbel"},
	}
	for _, c := range cases {
		code, _, errs := runCLI(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("ctvae %s: exit %d, stderr %q; want an error containing %q", strings.Join(c.args, " "), code, errs, c.want)
		}
	}
}
