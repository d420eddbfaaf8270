package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"ctvae/weights"
)

// TestTrainEvalCLI trains a tiny VQ-VAE for two steps, resumes it for one
// more, evaluates the result as JSON, then trains its causal layer for a
// step and evaluates retrieval.
func TestTrainEvalCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := writeTinyDSpritesConfig(t, dir)
	vq := filepath.Join(dir, "vq.safetensors")
	code, out, errs := runCLI(t, "train", "--dataset", "dsprites", "--config", cfg, "--steps", "2", "--batch", "4", "--epoch-images", "8", "--out", vq, "--log-every", "1")
	if code != 0 || !strings.Contains(out, "after step 2") || !strings.Contains(errs, "img/s") {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "train", "--resume", vq+".ckpt", "--steps", "3", "--out", vq)
	if code != 0 || !strings.Contains(out, "after step 3") {
		t.Fatalf("train --resume: exit %d\n%s\n%s", code, out, errs)
	}
	csv, err := os.ReadFile(vq + ".csv")
	if err != nil || strings.Count(string(csv), "\n") != 4 {
		t.Fatalf("loss CSV: %v\n%s", err, csv)
	}
	if st, err := os.Stat(vq + ".csv.png"); err != nil || st.Size() < 1000 {
		t.Fatalf("learning curves: %v", err)
	}
	plotPNG := filepath.Join(dir, "both.png")
	code, out, errs = runCLI(t, "plot", "--out", plotPNG, vq+".csv", vq+".csv")
	if code != 0 || !strings.Contains(out, "wrote "+plotPNG) {
		t.Fatalf("plot: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "eval", "--weights", vq, "--images", "3", "--json")
	var rep struct {
		ReconMSE  float64 `json:"recon_mse"`
		CodesUsed int     `json:"codes_used"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.ReconMSE <= 0 || rep.CodesUsed < 1 {
		t.Fatalf("eval: exit %d\n%s\n%s", code, out, errs)
	}
	ct := filepath.Join(dir, "ct.safetensors")
	code, out, errs = runCLI(t, "train", "--phase", "causal", "--recipe", "balanced", "--dataset", "dsprites", "--config", cfg,
		"--init", vq, "--steps", "1", "--batch", "2", "--out", ct)
	if code != 0 {
		t.Fatalf("train --phase causal: exit %d\n%s\n%s", code, out, errs)
	}
	grid := filepath.Join(dir, "grid.png")
	code, out, errs = runCLI(t, "eval", "--weights", ct, "--images", "1", "--pairs", "3", "--grid", grid, "--grid-images", "2", "--grid-steps", "2")
	if g, err := os.ReadFile(grid); err != nil || len(g) < 100 || !strings.Contains(errs, "wrote "+grid) {
		t.Fatalf("grid: %v\n%s", err, errs)
	} else if img, err := png.Decode(bytes.NewReader(g)); err != nil || img.Bounds().Dx() != 6+4*(64+6) || img.Bounds().Dy() != 6+2*(10*(64+6)+6) {
		t.Fatalf("grid PNG: %v %v", err, img.Bounds())
	}
	if code != 0 || !strings.Contains(out, "action accuracy") || !strings.Contains(out, "pos_x") {
		t.Fatalf("eval with pairs: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, errs = runCLI(t, "eval", "--weights", ct, "--images", "1", "--pairs", "2", "--samples", "3")
	if code != 0 || !strings.Contains(out, "sample mode, 3 samples") {
		t.Fatalf("eval --samples: exit %d\n%s\n%s", code, out, errs)
	}
}

// writeTinyDSpritesConfig writes a tiny dSprites config with a causal layer
// into dir and returns its path.
func writeTinyDSpritesConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(cfg, []byte(`{"in_channels": 1, "img_size": 64, "hidden_dims": [4, 8, 8], "embedding_dim": 8,
		"num_embeddings": 16, "codebooks": 1, "residual_layers": 1, "action_dim": 10, "causal_hidden_dims": [6, 4]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTrainEvalCLIBadInputs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--dataset", "dsprites"}, "--out is required"},
		{[]string{"train", "--out", filepath.Join(dir, "x")}, "--dataset and --config are required"},
		{[]string{"train", "--dataset", "mnist", "--config", "testdata/tiny.json", "--out", filepath.Join(dir, "x")}, "unknown dataset"},
		{[]string{"train", "--dataset", "shapes3d", "--config", "testdata/tiny.json", "--out", filepath.Join(dir, "x")}, "img_size"},
		{[]string{"train", "--resume", filepath.Join(dir, "missing"), "--out", filepath.Join(dir, "x")}, "no such file"},
		{[]string{"train", "--phase", "causal", "--dropout", "1", "--dataset", "dsprites", "--config", "testdata/tiny.json", "--out", filepath.Join(dir, "x")}, "dropout 1, want in [0, 1)"},
		{[]string{"eval"}, "--weights is required"},
		{[]string{"eval", "--weights", "x", "--table-baseline", "-5"}, "--table-baseline -5, want 0..1000000"},
		{[]string{"plot", "x.csv"}, "--out is required"},
		{[]string{"eval", "--weights", "x", "--samples", "-1"}, "--samples -1, want 0..256"},
		{[]string{"eval", "--weights", "x", "--grid", "g.png", "--grid-steps", "0"}, "want 1..32 and 1..16"},
		{[]string{"plot", "--out", filepath.Join(dir, "p.png")}, "name at least one loss log"},
		{[]string{"plot", "--out", filepath.Join(dir, "p.png"), "testdata/tiny.json"}, "testdata/tiny.json: curves:"},
		{[]string{"eval", "--weights", "testdata/tiny.json"}, "testdata/tiny.json"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want exit 1 and %q", c.args, code, errs, c.want)
		}
	}
}

// TestTrainResumeLearningRate resumes a run with an explicit --lr and a
// --lr-final/--lr-steps anneal: the override is logged, the loss log shows
// the new rates, and a second resume without the flags keeps the anneal's
// end (the checkpoint recorded it) without logging an override.
func TestTrainResumeLearningRate(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "tiny.json")
	if err := os.WriteFile(cfg, []byte(`{"in_channels": 1, "img_size": 64, "hidden_dims": [4, 8, 8], "embedding_dim": 8,
		"num_embeddings": 16, "codebooks": 1, "residual_layers": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "vq.safetensors")
	code, o, errs := runCLI(t, "train", "--dataset", "dsprites", "--config", cfg, "--steps", "2", "--batch", "4",
		"--epoch-images", "8", "--decay", "1", "--lr", "5e-4", "--out", out)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, o, errs)
	}
	code, o, errs = runCLI(t, "train", "--resume", out+".ckpt", "--steps", "5", "--lr", "2e-3", "--lr-final", "1e-3", "--lr-steps", "2", "--out", out)
	if want := "learning rate from step 2: 0.002 (was 0.0005), half-cosine anneal to 0.001 at step 4"; code != 0 || !strings.Contains(errs, want) {
		t.Fatalf("train --resume --lr: exit %d, want %q in stderr\n%s\n%s", code, want, o, errs)
	}
	code, o, errs = runCLI(t, "train", "--resume", out+".ckpt", "--steps", "6", "--out", out)
	if code != 0 || strings.Contains(errs, "learning rate from") {
		t.Fatalf("plain resume: exit %d\n%s\n%s", code, o, errs)
	}
	csv, err := os.ReadFile(out + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	var lrs []string
	for _, line := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		lrs = append(lrs, strings.Split(line, ",")[2])
	}
	if got, want := strings.Join(lrs, " "), "0.0005 0.0005 0.002 0.0015 0.001 0.001"; got != want {
		t.Errorf("learning rates in the loss log: %s, want %s", got, want)
	}
	code, _, errs = runCLI(t, "train", "--resume", out+".ckpt", "--lr-final", "1e-4", "--out", out)
	if code != 1 || !strings.Contains(errs, "give both or neither") {
		t.Errorf("--lr-final without --lr-steps: exit %d, stderr %q", code, errs)
	}
	code, _, errs = runCLI(t, "train", "--resume", out+".ckpt", "--lr", "3", "--out", out)
	if code != 1 || !strings.Contains(errs, "learning rate 3, want in (0, 1)") {
		t.Errorf("--lr 3 on resume: exit %d, stderr %q", code, errs)
	}
}

// TestTrainDecoderPhaseCLI fine-tunes the decoder of a tiny whole model
// (dataset and config from --init), resumes it, checks that the model file
// keeps the input's metadata and every non-decoder tensor, and that flags
// the phase would ignore or contradict are refused.
func TestTrainDecoderPhaseCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := writeTinyDSpritesConfig(t, dir)
	vq, ct, dec := filepath.Join(dir, "vq.safetensors"), filepath.Join(dir, "ct.safetensors"), filepath.Join(dir, "dec.safetensors")
	for _, args := range [][]string{
		{"train", "--dataset", "dsprites", "--config", cfg, "--steps", "2", "--batch", "4", "--epoch-images", "8", "--out", vq},
		{"train", "--phase", "causal", "--recipe", "balanced", "--dataset", "dsprites", "--config", cfg, "--init", vq, "--steps", "1", "--batch", "2", "--out", ct, "--dtype", "f16"},
		{"train", "--phase", "decoder", "--init", ct, "--steps", "2", "--batch", "4", "--epoch-images", "8", "--out", dec, "--dtype", "f16"},
		{"train", "--resume", dec + ".ckpt", "--steps", "3", "--out", dec, "--dtype", "f16"},
	} {
		if code, out, errs := runCLI(t, args...); code != 0 {
			t.Fatalf("%q: exit %d\n%s\n%s", args, code, out, errs)
		}
	}
	read := func(path string) *weights.File {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := weights.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	in, out := read(ct), read(dec)
	if !maps.Equal(in.Metadata, out.Metadata) {
		t.Errorf("metadata: in %v, out %v", in.Metadata, out.Metadata)
	}
	for _, ti := range in.Tensors {
		to, ok := out.Get(ti.Name)
		same := ok && slices.Equal(ti.Data, to.Data)
		if dec := strings.HasPrefix(ti.Name, "decoder."); same == dec {
			t.Errorf("%s: unchanged %v after the decoder phase", ti.Name, same)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--phase", "decoder"}, "--phase decoder needs --init"},
		{[]string{"--phase", "decoder", "--init", ct, "--recipe", "balanced"}, "--recipe is an option of --phase causal, not of --phase decoder"},
		{[]string{"--phase", "vqvae", "--dataset", "dsprites", "--config", cfg, "--dropout", "0"}, "--dropout is an option of --phase causal"},
		{[]string{"--phase", "decoder", "--init", ct, "--codebook-init", "data"}, "keeps the codebook frozen"},
		{[]string{"--phase", "decoder", "--init", ct, "--config", "testdata/tiny.json"}, "leave --config out"},
		{[]string{"--phase", "decoder", "--init", ct, "--dataset", "shapes3d"}, "img_size"},
		{[]string{"--resume", dec + ".ckpt", "--phase", "causal"}, "--phase with --resume"},
	} {
		args := append([]string{"train", "--out", filepath.Join(dir, "x"), "--steps", "1"}, c.args...)
		code, _, errs := runCLI(t, args...)
		if code != 1 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, stderr %q, want exit 1 and %q", c.args, code, errs, c.want)
		}
	}
}

// The progress line's ETA ends at whichever limit comes first: the
// minutes, or the step count at the pace so far.
func TestETA(t *testing.T) {
	for _, c := range []struct {
		elapsed, budget time.Duration
		done, left      int64
		bySteps         bool
		want            time.Duration
	}{
		{10 * time.Minute, 80 * time.Minute, 4000, 16000, true, 40 * time.Minute},
		{10 * time.Minute, 30 * time.Minute, 4000, 16000, true, 20 * time.Minute},
		{10 * time.Minute, 80 * time.Minute, 4000, 16000, false, 70 * time.Minute},
		{10 * time.Minute, 80 * time.Minute, 0, 16000, true, 70 * time.Minute},
		{90 * time.Minute, 80 * time.Minute, 10, 5, true, 0},
		{10 * time.Minute, 80 * time.Minute, 10, -3, true, 0},
	} {
		if got := eta(c.elapsed, c.budget, c.done, c.left, c.bySteps); got != c.want {
			t.Errorf("eta(%v, %v, %d done, %d left, by steps %v) = %v, want %v", c.elapsed, c.budget, c.done, c.left, c.bySteps, got, c.want)
		}
	}
}
