package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"ctvae/internal/imageio"
	"ctvae/internal/modelfile"
	"ctvae/runtime/causal"
	"ctvae/runtime/ctvae"
)

func init() {
	register(command{name: "reconstruct", summary: "encode and decode an image (base mode through the causal layer, or --vq)", run: runReconstruct})
	register(command{name: "intervene", summary: "apply an action to an image, optionally repeatedly (a traversal)", run: runIntervene})
	register(command{name: "retrieve", summary: "find the action that turns image x into image y", run: runRetrieve})
}

// modelFlags are the flags every command that runs a model shares.
type modelFlags struct {
	weights  *string
	sampling *string
	seed     *uint64
}

func addModelFlags(fs *flag.FlagSet) modelFlags {
	return modelFlags{
		weights:  fs.String("weights", "", "model weights (.safetensors, required)"),
		sampling: fs.String("sampling", "mode", "mask and graph sampling: mode (deterministic) or sample (official Bernoulli draws)"),
		seed:     fs.Uint64("seed", 1, "random seed for sample mode"),
	}
}

func (f modelFlags) load(stderr io.Writer) (*ctvae.Model, error) {
	if *f.weights == "" {
		return nil, errors.New("--weights is required")
	}
	s, err := causal.ParseSampling(*f.sampling)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(*f.weights)
	if err != nil {
		return nil, err
	}
	m, _, err := modelfile.Load(b, ctvae.Options{Sampling: s, Seed: *f.seed})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", *f.weights, err)
	}
	return m, nil
}

// readImage reads a PNG or JPEG as the model's input, telling the user what
// was done to fit it.
func readImage(m *ctvae.Model, path string, stderr io.Writer) ([]float32, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	in, err := imageio.Decode(b, m.Config.InChannels, m.Config.ImgSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if in.Notice != "" {
		fmt.Fprintf(stderr, "%s: %s\n", path, in.Notice)
	}
	return in.Data, nil
}

func writeImage(m *ctvae.Model, path string, img []float32) error {
	b, err := imageio.EncodePNG(img, m.Config.InChannels, m.Config.ImgSize, m.Config.ImgSize)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func runReconstruct(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reconstruct", stderr)
	mf := addModelFlags(fs)
	in := fs.String("in", "", "input image, PNG or JPEG (required)")
	out := fs.String("out", "", "output PNG (required)")
	vqOnly := fs.Bool("vq", false, "plain VQ-VAE path (skip the causal layer's base mode)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("--in and --out are required")
	}
	m, err := mf.load(stderr)
	if err != nil {
		return err
	}
	x, err := readImage(m, *in, stderr)
	if err != nil {
		return err
	}
	var r *ctvae.Intervention
	if *vqOnly {
		r, err = m.ReconstructVQ(x)
	} else {
		r, err = m.Reconstruct(x)
	}
	if err != nil {
		return err
	}
	if err := writeImage(m, *out, r.Image); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (codes changed by the causal layer: %d of %d)\n", *out, changed(r.Input, r.Codes), len(r.Codes))
	return nil
}

func changed(a, b []int32) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func runIntervene(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("intervene", stderr)
	mf := addModelFlags(fs)
	in := fs.String("in", "", "input image, PNG or JPEG (required)")
	action := fs.String("action", "", "action index or name, e.g. 3 or floor_hue+ (required)")
	steps := fs.Int("steps", 1, "apply the action this many times (a traversal)")
	outDir := fs.String("out", "", "output directory (required): step_1.png ... and steps.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *action == "" || *outDir == "" {
		return errors.New("--in, --action and --out are required")
	}
	m, err := mf.load(stderr)
	if err != nil {
		return err
	}
	a, err := m.ParseAction(*action)
	if err != nil {
		return err
	}
	x, err := readImage(m, *in, stderr)
	if err != nil {
		return err
	}
	res, err := m.Traverse(context.Background(), x, a, *steps, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		return err
	}
	type stepJSON struct {
		Step         int     `json:"step"`
		Image        string  `json:"image"`
		Codes        []int32 `json:"codes"`
		Masked       []int   `json:"masked_nodes"`
		ChangedNodes []int   `json:"changed_nodes"`
		Edges        int     `json:"edges"`
	}
	report := struct {
		Action string     `json:"action"`
		Index  int        `json:"action_index"`
		Input  []int32    `json:"input_codes"`
		Steps  []stepJSON `json:"steps"`
	}{Action: m.ActionName(a), Index: a, Input: res[0].Input}
	for k, r := range res {
		name := fmt.Sprintf("step_%d.png", k+1)
		if err := writeImage(m, filepath.Join(*outDir, name), r.Image); err != nil {
			return err
		}
		s := stepJSON{Step: k + 1, Image: name, Codes: r.Codes}
		for i, v := range r.Mask {
			if v != 0 {
				s.Masked = append(s.Masked, i)
			}
		}
		for i := range r.Codes {
			if r.Codes[i] != r.Input[i] {
				s.ChangedNodes = append(s.ChangedNodes, i)
			}
		}
		for _, w := range r.Adj {
			if w != 0 {
				s.Edges++
			}
		}
		report.Steps = append(report.Steps, s)
		fmt.Fprintf(stdout, "step %d: %s, %d nodes masked, %d codes changed\n", k+1, filepath.Join(*outDir, name), len(s.Masked), len(s.ChangedNodes))
	}
	b, _ := json.MarshalIndent(report, "", "  ")
	return os.WriteFile(filepath.Join(*outDir, "steps.json"), append(b, '\n'), 0o644)
}

func runRetrieve(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("retrieve", stderr)
	mf := addModelFlags(fs)
	xPath := fs.String("x", "", "source image (required)")
	yPath := fs.String("y", "", "target image (required)")
	samples := fs.Int("samples", 1, "average this many samples per action (sample mode)")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *xPath == "" || *yPath == "" {
		return errors.New("--x and --y are required")
	}
	m, err := mf.load(stderr)
	if err != nil {
		return err
	}
	x, err := readImage(m, *xPath, stderr)
	if err != nil {
		return err
	}
	y, err := readImage(m, *yPath, stderr)
	if err != nil {
		return err
	}
	r, err := m.Retrieve(context.Background(), x, y, *samples, nil)
	if err != nil {
		return err
	}
	dir := "+"
	if r.Decrease {
		dir = "-"
	}
	if *asJSON {
		type actionJSON struct {
			Index int     `json:"index"`
			Name  string  `json:"name"`
			Prob  float32 `json:"probability"`
			Dist  float32 `json:"distance"`
		}
		type factorJSON struct {
			Name string  `json:"name"`
			Prob float32 `json:"probability"`
		}
		v := struct {
			Actions    []actionJSON `json:"actions"`
			Factors    []factorJSON `json:"factors"`
			Best       string       `json:"best_action"`
			BestIndex  int          `json:"best_action_index"`
			BestFactor string       `json:"best_factor"`
			Direction  string       `json:"direction"`
		}{Best: m.ActionName(r.Best), BestIndex: r.Best, BestFactor: m.FactorName(r.BestFactor), Direction: dir}
		for a := range r.Probs {
			v.Actions = append(v.Actions, actionJSON{a, m.ActionName(a), r.Probs[a], r.Dist[a]})
		}
		for f := range r.FactorProbs {
			v.Factors = append(v.Factors, factorJSON{m.FactorName(f), r.FactorProbs[f]})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	for a := range r.Probs {
		bar := strings.Repeat("#", int(r.Probs[a]*40+0.5))
		fmt.Fprintf(stdout, "%3d %-16s %6.3f %s\n", a, m.ActionName(a), r.Probs[a], bar)
	}
	fmt.Fprintf(stdout, "best action: %s (factor %s, direction %s)\n", m.ActionName(r.Best), m.FactorName(r.BestFactor), dir)
	return nil
}
