package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"ctvae/train/curves"
)

func init() {
	register(command{name: "plot", summary: "draw learning curves (PNG) from training loss logs (CSV), several logs laid end to end", run: runPlot})
}

func runPlot(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("plot", stderr)
	out := fs.String("out", "", "output .png (required)")
	title := fs.String("title", "training", "title of the plot")
	window := fs.Int("smooth", 50, "moving-average window, in logged steps per curve")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	if fs.NArg() == 0 {
		return errors.New("name at least one loss log (the OUT.csv of `ctvae train`)")
	}
	if *window < 1 {
		return fmt.Errorf("--smooth %d, want >= 1", *window)
	}
	var segs [][]curves.Row
	for _, path := range fs.Args() {
		rows, err := readLog(path)
		if err != nil {
			return err
		}
		segs = append(segs, rows)
	}
	png, err := curves.PNG(curves.Concat(segs...), *title, *window)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, png, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

func readLog(path string) ([]curves.Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := curves.Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}
