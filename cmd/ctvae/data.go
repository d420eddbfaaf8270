package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"ctvae/data"
)

func init() {
	register(command{
		name:    "data",
		summary: "procedural datasets: contact sheets, samples, transition pairs",
		run:     runData,
	})
}

const dataUsage = `usage: ctvae data <sheet|sample|pairs> [flags]

  sheet   one row per factor, stepping that factor, as a PNG
  sample  random images of a split as PNGs plus samples.json with their factors
  pairs   transition pairs of a split (the paper's protocol) as PNGs plus pairs.json

Run 'ctvae data <sub> -h' for its flags.`

func runData(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, dataUsage)
		return errors.New("missing subcommand (sheet, sample or pairs)")
	}
	switch args[0] {
	case "sheet":
		return runDataSheet(args[1:], stdout, stderr)
	case "sample":
		return runDataSample(args[1:], stdout, stderr)
	case "pairs":
		return runDataPairs(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stderr, dataUsage)
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown subcommand %q (want sheet, sample or pairs)", args[0])
}

func dataParseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// ===== sheet =====

func runDataSheet(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data sheet", stderr)
	name := fs.String("dataset", "dsprites", "dataset: dsprites or shapes3d")
	out := fs.String("out", "", "output PNG file (required)")
	base := fs.String("base", "", "comma-separated factor values the rows start from (default: a typical image)")
	cols := fs.Int("cols", 10, "values shown per factor, evenly spread over its range")
	if err := dataParseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	ds, err := data.New(*name)
	if err != nil {
		return err
	}
	v := dataDefaultBase[ds.Name()]
	if *base != "" {
		if v, err = dataParseInts(*base); err != nil {
			return fmt.Errorf("-base: %v", err)
		}
	}
	sheet, err := data.ContactSheet(ds, v, *cols)
	if err != nil {
		return err
	}
	if err := dataWriteFile(*out, func(w io.Writer) error { return png.Encode(w, sheet) }); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %s, rows %s\n", *out, ds.Name(), dataFactorNames(ds))
	return nil
}

// dataDefaultBase picks images that show every factor well: a full-size sprite
// in the middle; a red floor, green walls and a blue object.
var dataDefaultBase = map[string][]int{
	"dsprites": {2, 5, 0, 16, 16},
	"shapes3d": {0, 4, 7, 3, 0, 7},
}

func dataParseInts(s string) ([]int, error) {
	parts := strings.Split(s, ",")
	v := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q is not a comma-separated list of integers", s)
		}
		v[i] = n
	}
	return v, nil
}

func dataFactorNames(ds data.Dataset) string {
	var names []string
	for _, f := range ds.Factors() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// ===== sample =====

type dataFactorInfo struct {
	Name string `json:"name"`
	Size int    `json:"size"`
}

type dataImageInfo struct {
	File    string `json:"file,omitempty"`
	Index   int    `json:"index"`
	Factors []int  `json:"factors"`
}

type dataSamplesFile struct {
	Dataset   string           `json:"dataset"`
	Split     string           `json:"split"`
	SplitSeed uint64           `json:"split_seed"`
	Seed      uint64           `json:"seed"`
	Factors   []dataFactorInfo `json:"factors"`
	Images    []dataImageInfo  `json:"images"`
}

// dataSplitFlags are the flags sample and pairs share.
type dataSplitFlags struct {
	dataset, split, out *string
	n                   *int
	seed, splitSeed     *uint64
}

func dataAddSplitFlags(fs *flag.FlagSet, n int) dataSplitFlags {
	return dataSplitFlags{
		dataset:   fs.String("dataset", "dsprites", "dataset: dsprites or shapes3d"),
		split:     fs.String("split", "train", "split: train, val or test"),
		out:       fs.String("out", "", "output directory (required; created if missing)"),
		n:         fs.Int("n", n, "how many to write"),
		seed:      fs.Uint64("seed", 1, "seed of the random draw"),
		splitSeed: fs.Uint64("split-seed", data.DefaultSplitSeed, "seed of the 70/15/15 image split"),
	}
}

func (f dataSplitFlags) open() (data.Dataset, *data.Splits, data.Split, error) {
	if *f.out == "" {
		return nil, nil, 0, errors.New("-out is required")
	}
	if *f.n <= 0 {
		return nil, nil, 0, fmt.Errorf("-n %d: want at least 1", *f.n)
	}
	ds, err := data.New(*f.dataset)
	if err != nil {
		return nil, nil, 0, err
	}
	sp, err := data.ParseSplit(*f.split)
	if err != nil {
		return nil, nil, 0, err
	}
	splits, err := data.NewSplits(ds.Len(), *f.splitSeed)
	if err != nil {
		return nil, nil, 0, err
	}
	if err := os.MkdirAll(*f.out, 0o755); err != nil {
		return nil, nil, 0, err
	}
	return ds, splits, sp, nil
}

func runDataSample(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data sample", stderr)
	f := dataAddSplitFlags(fs, 64)
	if err := dataParseFlags(fs, args); err != nil {
		return err
	}
	ds, splits, sp, err := f.open()
	if err != nil {
		return err
	}
	indices, err := splits.Sample(sp, *f.n, *f.seed)
	if err != nil {
		return err
	}
	doc := dataSamplesFile{Dataset: ds.Name(), Split: sp.String(), SplitSeed: *f.splitSeed, Seed: *f.seed, Factors: dataFactorInfos(ds)}
	for k, idx := range indices {
		info, err := dataWriteImage(ds, *f.out, fmt.Sprintf("%04d.png", k), idx)
		if err != nil {
			return err
		}
		doc.Images = append(doc.Images, info)
	}
	if err := dataWriteJSON(filepath.Join(*f.out, "samples.json"), doc); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d %s images of split %s and samples.json to %s\n", len(indices), ds.Name(), sp, *f.out)
	return nil
}

func dataFactorInfos(ds data.Dataset) []dataFactorInfo {
	var out []dataFactorInfo
	for _, f := range ds.Factors() {
		out = append(out, dataFactorInfo{f.Name, f.Size})
	}
	return out
}

func dataWriteImage(ds data.Dataset, dir, file string, index int) (dataImageInfo, error) {
	factors, err := ds.FactorsOf(index)
	if err != nil {
		return dataImageInfo{}, err
	}
	err = dataWriteFile(filepath.Join(dir, file), func(w io.Writer) error { return data.WritePNG(w, ds, index) })
	return dataImageInfo{File: file, Index: index, Factors: factors}, err
}

// ===== pairs =====

type dataPairInfo struct {
	Action     int           `json:"action"`
	ActionName string        `json:"action_name"`
	From       dataImageInfo `json:"from"`
	To         dataImageInfo `json:"to"`
}

type dataPairsFile struct {
	Dataset     string           `json:"dataset"`
	Split       string           `json:"split"`
	SplitSeed   uint64           `json:"split_seed"`
	Seed        uint64           `json:"seed"`
	Settings    int              `json:"settings"`
	Skew        float64          `json:"skew"`
	Factors     []dataFactorInfo `json:"factors"`
	ActionNames []string         `json:"action_names"`
	// ActionCounts are the split's pairs per action, before sampling.
	ActionCounts []int          `json:"action_counts"`
	Pairs        []dataPairInfo `json:"pairs"`
}

func runDataPairs(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("data pairs", stderr)
	f := dataAddSplitFlags(fs, 32)
	settings := fs.Int("settings", data.DefaultSettings, "random settings of the other factors per factor and step")
	skew := fs.Float64("skew", 1, "action probability proportional to count^skew: 1 natural, 0 balanced")
	if err := dataParseFlags(fs, args); err != nil {
		return err
	}
	ds, splits, sp, err := f.open()
	if err != nil {
		return err
	}
	// The pairs themselves come from the split seed, as the dataset's fixed
	// transition set; -seed only picks which of them are written.
	tr, err := data.NewTransitions(ds, splits, *settings, *f.splitSeed)
	if err != nil {
		return err
	}
	smp, err := data.NewSkewSampler(tr.Pairs[sp], ds.NumActions(), *skew, *f.seed)
	if err != nil {
		return fmt.Errorf("split %s: %v", sp, err)
	}
	doc := dataPairsFile{
		Dataset: ds.Name(), Split: sp.String(), SplitSeed: *f.splitSeed, Seed: *f.seed,
		Settings: *settings, Skew: *skew, Factors: dataFactorInfos(ds),
		ActionNames: tr.ActionNames, ActionCounts: tr.ActionCounts(sp),
	}
	for k := range *f.n {
		p := smp.Next()
		from, err := dataWriteImage(ds, *f.out, fmt.Sprintf("%04d_from.png", k), p.From)
		if err != nil {
			return err
		}
		to, err := dataWriteImage(ds, *f.out, fmt.Sprintf("%04d_to.png", k), p.To)
		if err != nil {
			return err
		}
		doc.Pairs = append(doc.Pairs, dataPairInfo{p.Action, tr.ActionNames[p.Action], from, to})
	}
	if err := dataWriteJSON(filepath.Join(*f.out, "pairs.json"), doc); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s split %s: %d transition pairs (train %d, val %d, test %d)\n", ds.Name(), sp, len(tr.Pairs[sp]), len(tr.Pairs[data.Train]), len(tr.Pairs[data.Val]), len(tr.Pairs[data.Test]))
	for a, c := range doc.ActionCounts {
		fmt.Fprintf(stdout, "  %-14s %7d  %5.1f%%  sampled with p=%.3f\n", tr.ActionNames[a], c, 100*float64(c)/float64(len(tr.Pairs[sp])), smp.Prob(a))
	}
	fmt.Fprintf(stdout, "wrote %d pairs and pairs.json to %s\n", *f.n, *f.out)
	return nil
}

// ===== files =====

func dataWriteFile(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %v", path, err)
	}
	return f.Close()
}

func dataWriteJSON(path string, v any) error {
	return dataWriteFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}
