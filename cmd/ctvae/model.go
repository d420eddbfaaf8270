package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"ctvae/data"
	"ctvae/internal/configfile"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/weights"
)

func init() {
	register(command{name: "init", summary: "write a randomly initialised model (PyTorch default init)", run: runInit})
	register(command{name: "info", summary: "show a weights file: config, names, tensors, sizes, checksum", run: runInfo})
}

// readConfig reads a config as JSON, or as the official YAML's model_params.
func readConfig(path string) (ctvae.Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ctvae.Config{}, err
	}
	c, err := configfile.Parse(b)
	if err != nil {
		return ctvae.Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func runInit(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("init", stderr)
	configPath := fs.String("config", "", "model config: JSON with the official model_params names, or an official YAML experiment file; empty: the official default")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output .safetensors file (required)")
	dtype := fs.String("dtype", "f32", "on-disk dtype: f32, f16 or bf16")
	dataset := fs.String("dataset", "", "dataset name to record (names factors and actions when known: dsprites, shapes3d)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	dt, err := parseDType(*dtype)
	if err != nil {
		return err
	}
	cfg := ctvae.DefaultConfig()
	if *configPath != "" {
		if cfg, err = readConfig(*configPath); err != nil {
			return err
		}
	}
	meta := ctvae.Meta{Dataset: *dataset, Preprocess: ctvae.PreprocessNone}
	if *dataset != "" {
		if meta.Factors, meta.Actions, err = datasetNames(*dataset, cfg.ActionDim); err != nil {
			return err
		}
	}
	p := nn.InitParams(ctvae.Specs(cfg), *seed)
	b, err := modelfile.Encode(cfg, p, meta, dt)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d tensors, %d parameters, %d bytes (%s)\n", *out, len(p), countParams(p), len(b), dt)
	return nil
}

func countParams(p nn.Params) int {
	n := 0
	for _, t := range p {
		n += t.Len()
	}
	return n
}

func parseDType(s string) (weights.DType, error) {
	switch strings.ToLower(s) {
	case "f32":
		return weights.F32, nil
	case "f16":
		return weights.F16, nil
	case "bf16":
		return weights.BF16, nil
	}
	return "", fmt.Errorf("--dtype %q, want f32, f16 or bf16", s)
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("want exactly one weights file argument")
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	info, err := modelfile.Parse(b)
	if err != nil {
		return err
	}
	// The table decides which tensors belong; report any mismatch now.
	checkErr := nn.Check(ctvae.Specs(info.Config), modelfile.Params(info.File))
	type row struct {
		Name  string `json:"name"`
		Shape []int  `json:"shape"`
		DType string `json:"dtype"`
	}
	var rows []row
	var params int
	for _, t := range info.File.Tensors {
		rows = append(rows, row{t.Name, t.Shape, string(t.DType)})
		params += tensor.Numel(t.Shape)
	}
	if *asJSON {
		v := map[string]any{"file": filepath.Base(fs.Arg(0)), "bytes": len(b), "sha256": info.Checksum,
			"config": info.Config, "dataset": info.Meta.Dataset, "factors": info.Meta.Factors,
			"actions": info.Meta.Actions, "preprocess": info.Meta.Preprocess, "parameters": params, "tensors": rows}
		if checkErr != nil {
			v["problems"] = checkErr.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	fmt.Fprintf(stdout, "file:       %s (%d bytes)\nsha256:     %s\nconfig:     %s\n", fs.Arg(0), len(b), info.Checksum, info.Config.JSON())
	fmt.Fprintf(stdout, "dataset:    %s\nfactors:    %s\nactions:    %s\npreprocess: %s\n", orDash(info.Meta.Dataset),
		orDash(strings.Join(info.Meta.Factors, " ")), orDash(strings.Join(info.Meta.Actions, " ")), orDash(info.Meta.Preprocess))
	fmt.Fprintf(stdout, "parameters: %d in %d tensors\n", params, len(rows))
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	for _, r := range rows {
		fmt.Fprintf(stdout, "  %-58s %-5s %v\n", r.Name, r.DType, r.Shape)
	}
	if checkErr != nil {
		return fmt.Errorf("the file does not match its config: %w", checkErr)
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// datasetNames returns the factor and action names of a known dataset,
// checked against the model's action count.
func datasetNames(name string, actionDim int) (factors, actions []string, err error) {
	ds, err := data.New(name)
	if err != nil {
		return nil, nil, err
	}
	if ds.NumActions() != actionDim {
		return nil, nil, fmt.Errorf("dataset %s has %d actions, the config has action_dim %d", name, ds.NumActions(), actionDim)
	}
	for _, f := range ds.Factors() {
		factors = append(factors, f.Name)
	}
	return factors, ds.ActionNames(), nil
}
