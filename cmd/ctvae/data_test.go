package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runDataCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(append([]string{"data"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestDataSheet(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		rows int
	}{{"dsprites", 5}, {"shapes3d", 6}} {
		path := filepath.Join(dir, tc.name+".png")
		if code, _, errs := runDataCLI("sheet", "--dataset", tc.name, "--out", path); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errs)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		// 10 columns and one row per factor of 64-pixel cells with 2-pixel gaps.
		if b := m.Bounds(); b.Dx() != 10*66+2 || b.Dy() != tc.rows*66+2 {
			t.Errorf("%s: sheet is %v", tc.name, b)
		}
	}
}

func TestDataSampleAndPairs(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := runDataCLI("sample", "--dataset", "shapes3d", "--split", "test", "--n", "3", "--seed", "4", "--out", dir); code != 0 {
		t.Fatalf("sample: exit %d: %s", code, errs)
	}
	var s dataSamplesFile
	readJSON(t, filepath.Join(dir, "samples.json"), &s)
	if s.Dataset != "shapes3d" || s.Split != "test" || len(s.Images) != 3 || len(s.Images[0].Factors) != 6 {
		t.Fatalf("samples.json: %+v", s)
	}
	for _, im := range s.Images {
		if _, err := os.Stat(filepath.Join(dir, im.File)); err != nil {
			t.Fatal(err)
		}
	}

	pdir := filepath.Join(dir, "pairs")
	code, out, errs := runDataCLI("pairs", "--dataset", "dsprites", "--split", "val", "--n", "5", "--settings", "100", "--skew", "0", "--out", pdir)
	if code != 0 {
		t.Fatalf("pairs: exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "orientation-") {
		t.Errorf("pairs summary lacks the action table:\n%s", out)
	}
	var p dataPairsFile
	readJSON(t, filepath.Join(pdir, "pairs.json"), &p)
	if len(p.Pairs) != 5 || len(p.ActionNames) != 10 {
		t.Fatalf("pairs.json: %d pairs, %d actions", len(p.Pairs), len(p.ActionNames))
	}
	for _, q := range p.Pairs {
		f, dir := q.Action%5, 1-2*(q.Action/5)
		if q.ActionName != p.ActionNames[q.Action] || q.To.Factors[f]-q.From.Factors[f] != dir {
			t.Errorf("pair %+v does not step factor %d by %d", q, f, dir)
		}
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestDataBadInputs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing subcommand"},
		{[]string{"plot"}, `unknown subcommand "plot"`},
		{[]string{"sheet", "--dataset", "mnist", "--out", filepath.Join(dir, "x.png")}, `unknown dataset "mnist"`},
		{[]string{"sheet", "--dataset", "dsprites"}, "-out is required"},
		{[]string{"sheet", "--base", "0,9,0,0,0", "--out", filepath.Join(dir, "x.png")}, "factor scale = 9 out of range [0, 6)"},
		{[]string{"sheet", "--base", "a,b", "--out", filepath.Join(dir, "x.png")}, "not a comma-separated list"},
		{[]string{"sheet", "--cols", "1", "--out", filepath.Join(dir, "x.png")}, "at least 2"},
		{[]string{"sample", "--split", "validation", "--out", dir}, `unknown split "validation"`},
		{[]string{"sample", "--n", "0", "--out", dir}, "-n 0"},
		{[]string{"sample", "--dataset", "shapes3d", "--split", "val", "--n", "72001", "--out", dir}, "want [0, 72000]"},
		{[]string{"pairs", "--settings", "0", "--out", dir}, "0 settings"},
		{[]string{"pairs", "--skew", "NaN", "--out", dir}, "skew NaN"},
		{[]string{"sample", "--bogus", "--out", dir}, "flag provided but not defined"},
		{[]string{"sample", "--out", dir, "extra"}, `unexpected argument "extra"`},
	} {
		code, _, errs := runDataCLI(tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("data %v: exit %d, stderr %q; want failure mentioning %q", tc.args, code, errs, tc.want)
		}
	}
}
