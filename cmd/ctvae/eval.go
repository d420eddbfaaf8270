package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"ctvae/data"
	"ctvae/internal/modelfile"
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
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *weightsPath == "" {
		return errors.New("--weights is required")
	}
	b, err := os.ReadFile(*weightsPath)
	if err != nil {
		return err
	}
	m, info, err := modelfile.Load(b, ctvae.Options{})
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
	rep, err := train.Evaluate(context.Background(), m, ds, train.EvalOptions{Split: sp, Images: *images, Pairs: *pairs, Balanced: *balanced, Seed: *seed})
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
		fmt.Fprintf(stdout, "%d pairs (balanced %v): action accuracy %.3f, factor accuracy %.3f, code fidelity %.3f (changed nodes %.3f), intervene MSE %.5f\n",
			rep.Pairs, rep.Balanced, rep.ActionAccuracy, rep.FactorAccuracy, rep.CodeFidelity, rep.ChangedFidelity, rep.InterveneMSE)
		for _, f := range rep.PerFactor {
			fmt.Fprintf(stdout, "  %-12s %5d pairs  action %.3f  factor %.3f\n", f.Name, f.Pairs, f.ActionAccuracy, f.FactorAccuracy)
		}
	}
	return nil
}
