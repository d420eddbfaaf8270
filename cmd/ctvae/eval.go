package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math/rand/v2"
	"os"

	"ctvae/data"
	"ctvae/internal/imageio"
	"ctvae/internal/modelfile"
	"ctvae/runtime/causal"
	"ctvae/runtime/ctvae"
	"ctvae/train"
)

func init() {
	register(command{name: "eval", summary: "evaluate a model on a dataset split: reconstruction, codebook usage, retrieval accuracy, intervention fidelity", run: runEval})
}

func runEval(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("eval", stderr)
	weightsPath := fs.String("weights", "", "model .safetensors (required)")
	dataset := fs.String("dataset", "", "dataset: dsprites or shapes3d (default: the one named in the weights)")
	split := fs.String("split", "test", "split: train, val or test")
	images := fs.Int("images", 256, "images for reconstruction MSE and codebook usage")
	pairs := fs.Int("pairs", 200, "transition pairs for retrieval and intervention fidelity (models with a causal layer)")
	balanced := fs.Bool("balanced", false, "draw every action equally often instead of the natural imbalance")
	seed := fs.Uint64("seed", 1, "seed of the image and pair draws")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	samples := fs.Int("samples", 0, "retrieval in sample mode (the official Bernoulli draws, seeded by --seed), averaging this many passes per action (0: deterministic mode)")
	tableBaseline := fs.Int("table-baseline", 0, "also score the code-table baseline (per-action code transition counts over this many training pairs, no causal layer) on the same pairs")
	gridPath := fs.String("grid", "", "also write the qualitative grid (PNG): for --grid-images test images, every action applied 1..--grid-steps times")
	gridImages := fs.Int("grid-images", 3, "images in the grid")
	gridSteps := fs.Int("grid-steps", 5, "applications of each action in the grid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tableBaseline < 0 || *tableBaseline > 1_000_000 {
		return fmt.Errorf("--table-baseline %d, want 0..1000000", *tableBaseline)
	}
	if *samples < 0 || *samples > ctvae.MaxSamples {
		return fmt.Errorf("--samples %d, want 0..%d", *samples, ctvae.MaxSamples)
	}
	if *gridPath != "" && (*gridImages < 1 || *gridImages > 32 || *gridSteps < 1 || *gridSteps > 16) {
		return fmt.Errorf("--grid-images %d, --grid-steps %d: want 1..32 and 1..16", *gridImages, *gridSteps)
	}
	if *weightsPath == "" {
		return errors.New("--weights is required")
	}
	b, err := os.ReadFile(*weightsPath)
	if err != nil {
		return err
	}
	mopts := ctvae.Options{}
	if *samples > 0 {
		mopts = ctvae.Options{Sampling: causal.Sample, Seed: *seed}
	}
	m, info, err := modelfile.Load(b, mopts)
	if err != nil {
		return fmt.Errorf("%s: %w", *weightsPath, err)
	}
	if *dataset == "" {
		*dataset = info.Meta.Dataset
	}
	if *dataset == "" {
		return errors.New("the weights name no dataset: pass --dataset")
	}
	ds, err := data.New(*dataset)
	if err != nil {
		return err
	}
	sp, err := data.ParseSplit(*split)
	if err != nil {
		return err
	}
	if *pairs < 0 {
		return fmt.Errorf("--pairs %d, want >= 0", *pairs)
	}
	if *gridPath != "" {
		if err := writeGrid(*gridPath, m, ds, sp, *gridImages, *gridSteps, *seed); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "wrote %s\n", *gridPath)
	}
	rep, err := train.Evaluate(context.Background(), m, ds, train.EvalOptions{Split: sp, Images: *images, Pairs: *pairs, Balanced: *balanced, Seed: *seed, Samples: *samples, TableBaseline: *tableBaseline})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%s %s: %d images, recon MSE %.5f, codes used %d/%d (perplexity %.1f)\n",
		rep.Dataset, rep.Split, rep.Images, rep.ReconMSE, rep.CodesUsed, rep.NumCodes, rep.CodePerplexity)
	if rep.Pairs > 0 {
		mode := "deterministic mode"
		if rep.Samples > 0 {
			mode = fmt.Sprintf("sample mode, %d samples", rep.Samples)
		}
		fmt.Fprintf(stdout, "%d pairs (balanced %v, %s): action accuracy %.3f, factor accuracy %.3f, code fidelity %.3f (changed nodes %.3f)\n",
			rep.Pairs, rep.Balanced, mode, rep.ActionAccuracy, rep.FactorAccuracy, rep.CodeFidelity, rep.ChangedFidelity)
		fmt.Fprintf(stdout, "intervene MSE %.5f (decoding y's own codes %.5f, x's codes unchanged %.5f); mask on at %.3f of the changed nodes, %.3f of the changed codes right\n",
			rep.InterveneMSE, rep.TargetMSE, rep.UnchangedMSE, rep.MaskRecall, rep.ChangePrecision)
		for _, f := range rep.PerFactor {
			fmt.Fprintf(stdout, "  %-12s %5d pairs  action %.3f  factor %.3f  intervene MSE %.5f (unchanged %.5f)  mask recall %.3f  change precision %.3f\n",
				f.Name, f.Pairs, f.ActionAccuracy, f.FactorAccuracy, f.InterveneMSE, f.UnchangedMSE, f.MaskRecall, f.ChangePrecision)
		}
	}
	if b := rep.TableBaseline; b != nil {
		fmt.Fprintf(stdout, "code-table baseline (%d training pairs, no causal layer), same pairs: action accuracy %.3f, factor accuracy %.3f\n",
			b.TrainPairs, b.ActionAccuracy, b.FactorAccuracy)
		for _, f := range b.PerFactor {
			fmt.Fprintf(stdout, "  %-12s %5d pairs  action %.3f  factor %.3f\n", f.Name, f.Pairs, f.ActionAccuracy, f.FactorAccuracy)
		}
	}
	return nil
}

// writeGrid draws the paper's qualitative figure: per image, one row per
// action holding the input, its reconstruction (base mode) and the action
// applied 1..steps times, each step starting from the previous step's codes.
func writeGrid(path string, m *ctvae.Model, ds data.Dataset, sp data.Split, images, steps int, seed uint64) error {
	if m.NumActions() == 0 {
		return errors.New("--grid needs a model with a causal layer")
	}
	splits, err := data.NewSplits(ds.Len(), data.DefaultSplitSeed)
	if err != nil {
		return err
	}
	const gap = 6
	side := ds.Size()
	A := m.NumActions()
	cols := steps + 2
	W := cols*(side+gap) + gap
	H := images*(A*(side+gap)+gap) + gap
	canvas := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(canvas, canvas.Bounds(), image.NewUniform(color.RGBA{255, 255, 255, 255}), image.Point{}, draw.Src)
	put := func(img []float32, top, row, col int) error {
		tile, err := imageio.ToImage(img, ds.Channels(), side, side, 0, 1)
		if err != nil {
			return err
		}
		at := image.Pt(gap+col*(side+gap), top+row*(side+gap))
		draw.Draw(canvas, tile.Bounds().Add(at), tile, image.Point{}, draw.Src)
		return nil
	}
	r := rand.New(rand.NewPCG(seed, 0x6e1d))
	x := make([]float32, data.ImageLen(ds))
	for i := range images {
		k, err := splits.At(sp, r.IntN(splits.Len(sp)))
		if err != nil {
			return err
		}
		if err := ds.Render(x, k); err != nil {
			return err
		}
		// Image blocks are set off from each other by one extra gap.
		top := gap + i*(A*(side+gap)+gap)
		rec, err := m.Reconstruct(x)
		if err != nil {
			return err
		}
		for a := range A {
			if err := put(x, top, a, 0); err != nil {
				return err
			}
			if err := put(rec.Image, top, a, 1); err != nil {
				return err
			}
		}
		for a := range A {
			tr, err := m.Traverse(context.Background(), x, a, steps, nil)
			if err != nil {
				return err
			}
			for s, st := range tr {
				if err := put(st.Image, top, a, 2+s); err != nil {
					return err
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, canvas); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
