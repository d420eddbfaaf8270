package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"ctvae/internal/golden"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/weights"
)

// Checkpoint fixtures written by internal/golden/gen_checkpoints.py (PyTorch)
// from the tiny goldens' weights.
const ckptDir = "../../internal/golden/testdata/checkpoints"

func ckpt(name string) string { return filepath.Join(ckptDir, name) }

// goldenConfig writes a golden file's config as a JSON config file.
func goldenConfig(t *testing.T, g *golden.File) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(g.Metadata["config"]), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func openGolden(t *testing.T, name string) *golden.File {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../internal/golden/testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return &golden.File{Name: name, File: f}
}

func goldenTensor(t *testing.T, g *golden.File, name string) []float32 {
	t.Helper()
	tt, err := g.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	return tt.Data
}

// closeTo compares with a relative tolerance of 1e-5 of the largest
// magnitude: the converted weights are bit-identical to the golden's, so
// only the runtime's float32 rounding against PyTorch's remains.
func closeTo(t *testing.T, what string, got, want []float32) {
	t.Helper()
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	if d, at := golden.MaxRelDiff(got, want, scale); d > 1e-5 {
		t.Errorf("%s: element %d is %g, want %g (relative difference %.3g)", what, at, got[at], want[at], d)
	}
}

func codesMatch(t *testing.T, what string, got []int32, want []float32) {
	t.Helper()
	for i := range want {
		if float32(got[i]) != want[i] {
			t.Fatalf("%s: code %d is %d, want %g", what, i, got[i], want[i])
		}
	}
}

// checkGoldenOutputs runs the converted model on the golden inputs: VQ-VAE
// codes and reconstructions, and for a CT-VAE the base-mode reconstruction
// and every tested intervention (deterministic mode, as the goldens).
func checkGoldenOutputs(t *testing.T, path string, g *golden.File) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, info, err := modelfile.Load(b, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Meta.Preprocess != weights.PreprocessNone {
		t.Fatalf("preprocess %q, the goldens need none", info.Meta.Preprocess)
	}
	x := goldenTensor(t, g, "io.x")
	per, n := m.ImageLen(), m.Nodes()
	for i := 0; i < len(x)/per; i++ {
		xi := x[i*per : (i+1)*per]
		r, err := m.ReconstructVQ(xi)
		if err != nil {
			t.Fatal(err)
		}
		codesMatch(t, fmt.Sprintf("image %d codes", i), r.Codes, goldenTensor(t, g, "io.codes")[i*n:(i+1)*n])
		closeTo(t, fmt.Sprintf("image %d recon", i), r.Image, goldenTensor(t, g, "io.recon")[i*per:(i+1)*per])
		if !m.HasCausal() {
			continue
		}
		if r, err = m.Reconstruct(xi); err != nil {
			t.Fatal(err)
		}
		closeTo(t, fmt.Sprintf("image %d ct_recon", i), r.Image, goldenTensor(t, g, "io.ct_recon")[i*per:(i+1)*per])
		for a := 0; a < m.NumActions(); a++ {
			if r, err = m.Intervene(xi, a); err != nil {
				t.Fatal(err)
			}
			codesMatch(t, fmt.Sprintf("image %d action %d", i, a), r.Codes, goldenTensor(t, g, fmt.Sprintf("io.int.a%d.codes", a))[i*n:(i+1)*n])
			closeTo(t, fmt.Sprintf("image %d action %d image", i, a), r.Image, goldenTensor(t, g, fmt.Sprintf("io.int.a%d.image", a))[i*per:(i+1)*per])
		}
	}
}

// TestConvertGolden: each PyTorch fixture, converted with --preprocess none
// (the goldens were computed without the official padding), reproduces the
// golden outputs of the weights it was saved from.
func TestConvertGolden(t *testing.T) {
	ct := openGolden(t, "ctvae_tiny.safetensors")
	vq := openGolden(t, "vqvae_tiny_k2.safetensors")
	for _, c := range []struct {
		file   string
		g      *golden.File
		config string // "" (from the checkpoint), "json" or a YAML path
		want   []string
	}{
		{"ctvae_tiny_state_dict.pt", ct, "json", []string{"bare state_dict, 62 model tensors (62 F32)"}},
		{"ctvae_tiny_lightning.ckpt", ct, "", []string{"pytorch-lightning 1.6.5 checkpoint, epoch 3, global_step 120",
			"config: from the checkpoint's hyper_parameters.model_params", "dropped: optimizer_states (114 tensors)",
			"dropped: state_dict key val_metric.running_mean (tensor [3] float32)"}},
		{"vqvae_tiny_k2_views.pt", vq, ckpt("vqvae_tiny_k2.yaml"), []string{"24 model tensors (24 F32)"}},
	} {
		out := filepath.Join(t.TempDir(), "out.safetensors")
		args := []string{"convert", "--ckpt", ckpt(c.file), "--out", out, "--preprocess", "none"}
		switch c.config {
		case "":
		case "json":
			args = append(args, "--config", goldenConfig(t, c.g))
		default:
			args = append(args, "--config", c.config)
		}
		code, stdout, stderr := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.file, code, stderr)
		}
		for _, w := range append(c.want, "preprocess: none (as given)", "wrote "+out) {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: output lacks %q:\n%s", c.file, w, stdout)
			}
		}
		checkGoldenOutputs(t, out, c.g)
	}
}

// TestConvertDefaultsAndRetype: a checkpoint converts with the official
// preprocessing by default; a float16 checkpoint stays float16 (its values
// are the golden's rounded to float16, which the float32 weights file then
// holds exactly); re-converting a safetensors file keeps its metadata
// unless a flag overrides it.
func TestConvertDefaultsAndRetype(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.safetensors")
	if code, stdout, stderr := runCLI(t, "convert", "--ckpt", ckpt("vqvae_tiny_k2_f16.ckpt"), "--out", a, "--dataset", "shapes3d"); code != 0 ||
		!strings.Contains(stdout, "preprocess: official-pad42 (default for PyTorch checkpoints") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	info := parseModel(t, a)
	if info.Meta.Preprocess != weights.PreprocessOfficialPad42 || info.Meta.Dataset != "shapes3d" || info.Config.Codebooks != 2 {
		t.Errorf("meta %+v config %+v", info.Meta, info.Config)
	}
	for _, tt := range info.File.Tensors {
		if tt.DType != weights.F16 {
			t.Fatalf("tensor %s stored as %s, want F16 (the input's dtype)", tt.Name, tt.DType)
		}
	}
	// Re-type to F32 and keep the metadata; then override the preprocessing.
	b := filepath.Join(dir, "b.safetensors")
	if code, stdout, stderr := runCLI(t, "convert", "--ckpt", a, "--out", b, "--dtype", "f32"); code != 0 ||
		!strings.Contains(stdout, "config: from the safetensors metadata") || !strings.Contains(stdout, "preprocess: official-pad42 (from the safetensors metadata)") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	ib := parseModel(t, b)
	if ib.Meta.Preprocess != weights.PreprocessOfficialPad42 || ib.Meta.Dataset != "shapes3d" {
		t.Errorf("re-typed file lost its metadata: %+v", ib.Meta)
	}
	for i, tt := range ib.File.Tensors {
		if tt.DType != weights.F32 || !slices.Equal(tt.Data, info.File.Tensors[i].Data) {
			t.Fatalf("tensor %s: %s, values changed by re-typing a float16 file to F32", tt.Name, tt.DType)
		}
	}
	c := filepath.Join(dir, "c.safetensors")
	if code, _, stderr := runCLI(t, "convert", "--ckpt", b, "--out", c, "--preprocess", "none"); code != 0 {
		t.Fatal(stderr)
	}
	if p := parseModel(t, c).Meta.Preprocess; p != weights.PreprocessNone {
		t.Errorf("--preprocess none gave %q", p)
	}
}

func parseModel(t *testing.T, path string) *modelfile.Info {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	info, err := modelfile.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// TestConvertConfigPrecedence: --config wins over the checkpoint's
// hyper_parameters, and the differences are printed.
func TestConvertConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.json")
	// The tiny CT-VAE with other causal_hidden_dims: the tensors do not fit.
	if err := os.WriteFile(cfg, []byte(`{"in_channels": 1, "img_size": 32, "hidden_dims": [8, 16], "embedding_dim": 8, "num_embeddings": 8, "residual_layers": 2, "action_dim": 4, "causal_hidden_dims": [10, 6]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "convert", "--ckpt", ckpt("ctvae_tiny_lightning.ckpt"), "--config", cfg, "--out", filepath.Join(dir, "o.safetensors"))
	if code != 1 || !strings.Contains(stdout, "config: --config differs from the checkpoint's hyper_parameters.model_params (using --config): causal_hidden_dims [10,6] vs [12,6]") ||
		!strings.Contains(stderr, `tensor "ct_layer.graph_discovers.0.0.weight": shape [12 16], want [10 16]`) {
		t.Errorf("exit %d\n%s%s", code, stdout, stderr)
	}
}

func TestConvertBadInputs(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.safetensors")
	notZip := filepath.Join(dir, "notzip.ckpt")
	truncated := filepath.Join(dir, "truncated.ckpt")
	full, err := os.ReadFile(ckpt("small.pt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(notZip, []byte("not a checkpoint at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, full[:len(full)-30], 0o644); err != nil {
		t.Fatal(err)
	}
	vqYAML := ckpt("vqvae_tiny_k2.yaml")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no flags", nil, "--ckpt and --out are required"},
		{"missing file", []string{"--ckpt", filepath.Join(dir, "nope.ckpt")}, "no such file"},
		{"not a zip", []string{"--ckpt", notZip}, "notzip.ckpt: checkpoint: neither a torch.save zip archive nor a safetensors file"},
		{"truncated", []string{"--ckpt", truncated}, "checkpoint: not a valid zip archive (truncated or corrupt?)"},
		{"os.system", []string{"--ckpt", ckpt("bad_os_system.pt")}, "refusing global os.system"},
		{"missing storage", []string{"--ckpt", ckpt("bad_missing_storage.pt")}, `storage "0" (FloatStorage) is missing from the archive`},
		{"view past storage", []string{"--ckpt", ckpt("bad_view.pt")}, `tensor "w": view (size [3 3], stride [3 1], offset 0) reaches element 8 of storage "0", which holds 6`},
		{"unknown storage", []string{"--ckpt", ckpt("bad_unknown_storage.pt")}, "refusing global torch.QInt8Storage"},
		{"float64", []string{"--ckpt", ckpt("bad_double.pt")}, "storage type torch.DoubleStorage (float64) is not supported"},
		{"shapes", []string{"--ckpt", ckpt("bad_shapes.pt"), "--config", vqYAML},
			"missing tensor \"encoder.0.0.bias\" [4]\n  tensor \"decoder.0.0.bias\": shape [3], want [8]\n  unexpected tensor \"encoder.99.weight\" [2]"},
		{"other architecture", []string{"--ckpt", ckpt("vqvae_tiny_k2_views.pt"), "--config", ckpt("betavae.yaml")}, "model_params name BetaVAE: not a VQ-VAE or CT-VAE config"},
		{"no config", []string{"--ckpt", ckpt("vqvae_tiny_k2_views.pt")}, "the input holds no model config"},
		{"dataset actions", []string{"--ckpt", ckpt("ctvae_tiny_lightning.ckpt"), "--dataset", "shapes3d"}, "dataset shapes3d has 12 actions, the config has action_dim 4"},
		{"unknown dataset", []string{"--ckpt", ckpt("vqvae_tiny_k2_f16.ckpt"), "--dataset", "mnist"}, "mnist"},
		{"bad preprocess", []string{"--ckpt", ckpt("vqvae_tiny_k2_f16.ckpt"), "--preprocess", "pad"}, `--preprocess "pad", want "official-pad42" or "none"`},
		{"bad dtype", []string{"--ckpt", ckpt("vqvae_tiny_k2_f16.ckpt"), "--dtype", "f64"}, `--dtype "f64"`},
	} {
		args := append([]string{"convert"}, c.args...)
		if c.args != nil {
			args = append(args, "--out", out)
		}
		code, _, stderr := runCLI(t, args...)
		if code != 1 || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q, want it to contain %q", c.name, code, stderr, c.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("%s: wrote %s despite the error", c.name, out)
		}
	}
}
