package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/train"
	"ctvae/train/curves"
)

func init() {
	register(command{name: "train", summary: "train a model on a procedural dataset (VQ-VAE, causal or decoder phase), resumable", run: runTrain})
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	def := train.DefaultOptions()
	dataset := fs.String("dataset", "", "dataset: dsprites or shapes3d (required unless --resume)")
	configPath := fs.String("config", "", "model config (JSON or official YAML; required unless --resume)")
	phase := fs.String("phase", def.Phase, "training phase: vqvae (encoder, codebook, decoder), causal (ct_layer on a frozen VQ-VAE) or decoder (the decoder alone, of the --init model)")
	initPath := fs.String("init", "", "model file to start from (causal phase: the trained VQ-VAE; decoder phase: the whole model, whose --dataset and --config are the defaults)")
	auxMask := fs.Float64("aux-mask", 0, "causal phase: weight of the auxiliary mask loss, BCE(mask, nodes whose codes change) (0: off, the paper)")
	changedWeight := fs.Float64("changed-weight", 0, "causal phase: extra cross-entropy weight of the nodes whose code changes in action batches (0: uniform, the paper)")
	dropout := fs.Float64("dropout", 0.1, "causal phase: feature dropout of the causal layer (0.1: the paper)")
	modeWeights := fs.String("mode-weights", "", "causal phase: base,action,causal batch mix replacing the recipe's, e.g. 1,1,2")
	factorWeights := fs.String("factor-weights", "", "causal phase, recipe balanced: relative frequency of each factor's pairs (in the dataset's factor order) replacing the uniform one, e.g. 1,1,3,1,1")
	recipe := fs.String("recipe", train.RecipePaper, "causal-phase recipe: paper or balanced (equal modes, action-balanced pairs)")
	minutes := fs.Float64("minutes", 10, "wall-clock budget of this invocation, in minutes")
	maxSteps := fs.Int64("steps", 0, "stop after this many total steps (0: no limit)")
	seed := fs.Uint64("seed", def.Seed, "seed of the initialisation and the data order")
	out := fs.String("out", "", "output model file .safetensors (required)")
	resume := fs.String("resume", "", "checkpoint to resume from (its settings win over the flags)")
	ckptPath := fs.String("checkpoint", "", "checkpoint file written while training (default: OUT.ckpt)")
	ckptEvery := fs.Float64("checkpoint-minutes", 5, "minutes between checkpoints")
	csvPath := fs.String("csv", "", "loss log, appended (default: OUT.csv)")
	batch := fs.Int("batch", def.Batch, "batch size")
	lr := fs.Float64("lr", def.LR, "Adam learning rate (given with --resume, it replaces the checkpoint's)")
	lrFinal := fs.Float64("lr-final", 0, "anneal the learning rate along a half cosine to this value over --lr-steps steps, starting at the run's current step (also on --resume)")
	lrSteps := fs.Int64("lr-steps", 0, "length in steps of the --lr-final anneal")
	decay := fs.Float64("decay", def.Decay, "learning-rate factor per epoch")
	epochImages := fs.Int("epoch-images", 0, "images per epoch for reshuffling and LR decay (0: the whole train split)")
	shards := fs.Int("shards", def.Shards, "parallel parts of each batch (results depend on it, not on the cores)")
	cbInit := fs.String("codebook-init", "", "codebook initialisation: \"\" (official uniform) or data (z_e vectors of the first batch)")
	every := fs.Int("log-every", 10, "steps between progress lines")
	dtype := fs.String("dtype", "f32", "dtype of the output model: f32, f16 or bf16")
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
	if *ckptPath == "" {
		*ckptPath = *out + ".ckpt"
	}
	if *csvPath == "" {
		*csvPath = *out + ".csv"
	}
	if (*lrFinal != 0) != (*lrSteps != 0) {
		return fmt.Errorf("--lr-final %v and --lr-steps %d: give both or neither", *lrFinal, *lrSteps)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if err := checkPhaseFlags(set, *phase, *resume != "", *initPath != ""); err != nil {
		return err
	}
	var tr *train.Trainer
	var before float64
	if *resume != "" {
		b, err := os.ReadFile(*resume)
		if err != nil {
			return err
		}
		if tr, before, err = train.Resume(b); err != nil {
			return fmt.Errorf("%s: %w", *resume, err)
		}
		fmt.Fprintf(stderr, "resumed %s at step %d (epoch %d, %.1f min trained)\n", *resume, tr.Step, tr.Epoch, before/60)
	} else {
		var init nn.Params
		var initInfo *modelfile.Info
		if *initPath != "" {
			b, err := os.ReadFile(*initPath)
			if err != nil {
				return err
			}
			if initInfo, err = modelfile.Parse(b); err != nil {
				return fmt.Errorf("%s: %w", *initPath, err)
			}
			init = modelfile.Params(initInfo.File)
		}
		// The decoder phase rewrites the --init model with a new decoder, so
		// its dataset and config are the model's own.
		decoder := *phase == train.PhaseDecoder
		if decoder && *dataset == "" {
			*dataset = initInfo.Meta.Dataset
		}
		if *dataset == "" || (*configPath == "" && !decoder) {
			return errors.New("--dataset and --config are required (or --resume)")
		}
		ds, err := data.New(*dataset)
		if err != nil {
			return err
		}
		var cfg ctvae.Config
		if *configPath == "" {
			cfg = initInfo.Config
		} else if cfg, err = readConfig(*configPath); err != nil {
			return err
		}
		if decoder && !bytes.Equal(cfg.JSON(), initInfo.Config.JSON()) {
			return fmt.Errorf("--config %s is %s, but the decoder phase keeps the config of --init %s, %s: leave --config out", *configPath, cfg.JSON(), *initPath, initInfo.Config.JSON())
		}
		opts := train.Options{Phase: *phase, Batch: *batch, LR: *lr, Decay: *decay, EpochImages: *epochImages, Shards: *shards, Seed: *seed, CodebookInit: *cbInit}
		if *phase == train.PhaseCausal {
			opts.Recipe, opts.AuxMask, opts.ChangedWeight = *recipe, *auxMask, *changedWeight
			if *dropout != 0.1 {
				opts.Dropout = dropout
			}
			if *modeWeights != "" {
				mw, err := parseFloats(*modeWeights)
				if err != nil {
					return fmt.Errorf("--mode-weights %q: %w", *modeWeights, err)
				}
				opts.ModeWeights = mw
			}
			if *factorWeights != "" {
				fw, err := parseFloats(*factorWeights)
				if err != nil {
					return fmt.Errorf("--factor-weights %q: %w", *factorWeights, err)
				}
				opts.FactorWeights = fw
			}
		}
		if tr, err = train.New(ds, cfg, opts, init); err != nil {
			return err
		}
		if decoder && !reflect.DeepEqual(tr.Meta(), initInfo.Meta) {
			return fmt.Errorf("--init %s has metadata %+v, but the decoder phase would write %+v for dataset %s: want a model file of that dataset, on full frames", *initPath, initInfo.Meta, tr.Meta(), ds.Name())
		}
	}
	// Learning-rate overrides: on resume an explicit --lr replaces the
	// checkpoint's, and --lr-final/--lr-steps start an anneal at the current
	// step; both are stored in the checkpoints written from here on.
	if over := *resume != "" && set["lr"]; over || *lrSteps != 0 {
		newLR := 0.0
		if over {
			newLR = *lr
		}
		was := tr.LR()
		if err := tr.SetLearningRate(newLR, *lrFinal, *lrSteps); err != nil {
			return err
		}
		msg := fmt.Sprintf("learning rate from step %d: %.3g (was %.3g)", tr.Step, tr.LR(), was)
		if *lrSteps != 0 {
			msg += fmt.Sprintf(", half-cosine anneal to %.3g at step %d", *lrFinal, tr.Step+*lrSteps)
		}
		fmt.Fprintln(stderr, msg)
	}
	csv, err := os.OpenFile(*csvPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer csv.Close()
	if st, err := csv.Stat(); err == nil && st.Size() == 0 {
		fmt.Fprintln(csv, "step,epoch,lr,mode,total,recon,vq,ce,accuracy,codes_used,seconds")
	}
	start := time.Now()
	budget := time.Duration(*minutes * float64(time.Minute))
	lastCkpt := start
	saveCkpt := func() error {
		b, err := tr.Checkpoint(before + time.Since(start).Seconds())
		if err != nil {
			return err
		}
		// Write then rename, so a crash never leaves a torn checkpoint.
		if err := os.WriteFile(*ckptPath+".tmp", b, 0o644); err != nil {
			return err
		}
		return os.Rename(*ckptPath+".tmp", *ckptPath)
	}
	imgs, t0, step0 := 0, time.Now(), tr.Step
	for time.Since(start) < budget && (*maxSteps == 0 || tr.Step < *maxSteps) {
		r, err := tr.TrainStep()
		if err != nil {
			return err
		}
		imgs += tr.Opts.Batch
		secs := before + time.Since(start).Seconds()
		fmt.Fprintf(csv, "%d,%d,%.6g,%s,%.6g,%.6g,%.6g,%.6g,%.4g,%d,%.1f\n", r.Step, r.Epoch, r.LR, r.Mode, r.Total, r.Recon, r.VQ, r.CE, r.Accuracy, r.CodesUsed, secs)
		if r.Step%int64(*every) == 0 {
			rate := float64(imgs) / time.Since(t0).Seconds()
			left := eta(time.Since(start), budget, tr.Step-step0, *maxSteps-tr.Step, *maxSteps > 0)
			if r.Mode == "" {
				fmt.Fprintf(stderr, "step %d epoch %d lr %.3g loss %.5f recon %.5f vq %.5f codes %d | %.1f img/s | ETA %s\n",
					r.Step, r.Epoch, r.LR, r.Total, r.Recon, r.VQ, r.CodesUsed, rate, left.Round(time.Second))
			} else {
				fmt.Fprintf(stderr, "step %d epoch %d lr %.3g %s loss %.5f ce %.5f acc %.3f | %.1f samples/s | ETA %s\n",
					r.Step, r.Epoch, r.LR, r.Mode, r.Total, r.CE, r.Accuracy, rate, left.Round(time.Second))
			}
			imgs, t0 = 0, time.Now()
		}
		if time.Since(lastCkpt) > time.Duration(*ckptEvery*float64(time.Minute)) {
			if err := saveCkpt(); err != nil {
				return err
			}
			lastCkpt = time.Now()
		}
	}
	if err := saveCkpt(); err != nil {
		return err
	}
	b, err := tr.ModelFile(dt)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s and checkpoint %s after step %d (%.1f min of training in total)\n",
		*out, *ckptPath, tr.Step, (before+time.Since(start).Seconds())/60)
	// The learning curves of the whole log (it spans resumed runs); a plot
	// failure does not undo the training. (The log is written unbuffered,
	// so it can be read while still open.)
	rows, err := readLog(*csvPath)
	if err == nil {
		var png []byte
		if png, err = curves.PNG(rows, tr.Dataset.Name()+" "+tr.Opts.Phase, 50); err == nil {
			err = os.WriteFile(*csvPath+".png", png, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "learning curves not drawn: %v\n", err)
	} else {
		fmt.Fprintf(stdout, "learning curves in %s.png\n", *csvPath)
	}
	return nil
}

// causalFlags are the options of the causal phase alone.
var causalFlags = []string{"recipe", "aux-mask", "changed-weight", "dropout", "mode-weights", "factor-weights"}

// checkPhaseFlags refuses flags that the run would otherwise ignore: a
// resumed run keeps its checkpoint's phase and weights, the causal phase's
// options mean nothing to the others, and the decoder phase fine-tunes a
// given model.
func checkPhaseFlags(set map[string]bool, phase string, resume, init bool) error {
	if resume {
		for _, f := range []string{"phase", "init", "dataset", "config"} {
			if set[f] {
				return fmt.Errorf("--%s with --resume: a resumed run keeps its checkpoint's phase, weights, dataset and config", f)
			}
		}
		return nil
	}
	if phase != train.PhaseCausal {
		for _, f := range causalFlags {
			if set[f] {
				return fmt.Errorf("--%s is an option of --phase causal, not of --phase %s", f, phase)
			}
		}
	}
	if phase == train.PhaseDecoder {
		if !init {
			return errors.New("--phase decoder needs --init, the model file whose decoder it fine-tunes")
		}
		if set["codebook-init"] {
			return errors.New("--codebook-init with --phase decoder: the decoder phase keeps the codebook frozen")
		}
	}
	return nil
}

// parseFloats reads a comma-separated list of numbers.
func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return nil, fmt.Errorf("want comma-separated numbers: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// eta is the time left of a run elapsed into its budget, stepsDone steps
// done by it: the budget's rest, or sooner, when the run stops at a step
// count, the time its remaining stepsLeft take at the run's mean pace.
func eta(elapsed, budget time.Duration, stepsDone, stepsLeft int64, bySteps bool) time.Duration {
	left := max(budget-elapsed, 0)
	if bySteps && stepsDone > 0 {
		if s := time.Duration(float64(elapsed) * float64(max(stepsLeft, 0)) / float64(stepsDone)); s < left {
			left = s
		}
	}
	return left
}
