// Package curves reads the trainer's loss log (the CSV that `ctvae train`
// appends to) and draws its learning curves as a PNG.
//
// A log may span several runs: a resumed run continues the step count, a run
// started from another's weights (--init) restarts it, so Concat lays the
// segments end to end on one step axis.
package curves

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Row is one logged training step. Columns absent from a log are NaN
// (older VQ-VAE logs have no mode, ce or accuracy).
type Row struct {
	Step                    int64
	Mode                    string // "" in the VQ-VAE phase
	Total, Recon, VQ, CE    float64
	Accuracy, CodesUsed, LR float64
}

// Read parses one log. The header names the columns; step and total are
// required, the rest optional.
func Read(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("curves: header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"step", "total"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("curves: header %q has no %q column (want the log `ctvae train` writes)", header, need)
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("curves: line %d: %w", line, err)
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("curves: line %d has %d fields, the header %d", line, len(rec), len(header))
		}
		num := func(name string) (float64, error) {
			i, ok := col[name]
			if !ok {
				return math.NaN(), nil
			}
			v, err := strconv.ParseFloat(rec[i], 64)
			if err != nil {
				return 0, fmt.Errorf("curves: line %d, column %s: %q is not a number", line, name, rec[i])
			}
			return v, nil
		}
		var row Row
		step, err := strconv.ParseInt(rec[col["step"]], 10, 64)
		if err != nil || step < 0 {
			return nil, fmt.Errorf("curves: line %d, column step: %q is not a step number", line, rec[col["step"]])
		}
		row.Step = step
		if i, ok := col["mode"]; ok {
			row.Mode = rec[i]
		}
		for _, f := range []struct {
			name string
			dst  *float64
		}{{"total", &row.Total}, {"recon", &row.Recon}, {"vq", &row.VQ}, {"ce", &row.CE},
			{"accuracy", &row.Accuracy}, {"codes_used", &row.CodesUsed}, {"lr", &row.LR}} {
			if *f.dst, err = num(f.name); err != nil {
				return nil, err
			}
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("curves: the log has no steps")
	}
	return rows, nil
}

// Concat joins logs in order on one step axis: a segment whose first step
// does not follow the previous segment's last is shifted to follow it.
func Concat(segments ...[]Row) []Row {
	var out []Row
	for _, seg := range segments {
		if len(seg) == 0 {
			continue
		}
		var shift int64
		if len(out) > 0 {
			if last := out[len(out)-1].Step; seg[0].Step <= last {
				shift = last - seg[0].Step + 1
			}
		}
		for _, r := range seg {
			r.Step += shift
			out = append(out, r)
		}
	}
	return out
}

// series is one smoothed curve.
type series struct {
	name string
	xy   plotter.XYs
}

// smooth returns the moving average of (step, value) over window points,
// skipping NaNs.
func smooth(name string, rows []Row, keep func(Row) bool, value func(Row) float64, window int) series {
	var xs, ys []float64
	for _, r := range rows {
		if v := value(r); keep(r) && !math.IsNaN(v) && !math.IsInf(v, 0) {
			xs, ys = append(xs, float64(r.Step)), append(ys, v)
		}
	}
	s := series{name: name}
	if len(xs) == 0 {
		return s
	}
	w := max(1, min(window, len(xs)/4))
	var sum float64
	for i := range xs {
		sum += ys[i]
		if i >= w {
			sum -= ys[i-w]
		}
		if i >= w-1 {
			s.xy = append(s.xy, plotter.XY{X: xs[i], Y: sum / float64(w)})
		}
	}
	return s
}

var palette = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{214, 39, 40, 255}, color.RGBA{148, 103, 189, 255},
}

func panel(title, ylabel string, curves []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	n := 0
	for _, c := range curves {
		if len(c.xy) == 0 {
			continue
		}
		l, err := plotter.NewLine(c.xy)
		if err != nil {
			return nil, fmt.Errorf("curves: %s: %w", c.name, err)
		}
		l.Color = palette[n%len(palette)]
		l.Width = vg.Points(1.2)
		p.Add(l)
		p.Legend.Add(c.name, l)
		n++
	}
	return p, nil
}

// PNG draws the learning curves of a log, smoothed over window steps per
// curve: for the causal phase the cross-entropy of base and action batches
// and the retrieval loss and accuracy of causal batches; for the VQ-VAE
// phase the reconstruction MSE and the codes in use.
func PNG(rows []Row, title string, window int) ([]byte, error) {
	if len(rows) == 0 {
		return nil, errors.New("curves: no steps to plot")
	}
	causal := false
	for _, r := range rows {
		if r.Mode == "base" || r.Mode == "action" || r.Mode == "causal" {
			causal = true
			break
		}
	}
	var top, bottom *plot.Plot
	var err error
	if causal {
		ce := func(r Row) float64 { return r.CE }
		is := func(m string) func(Row) bool { return func(r Row) bool { return r.Mode == m } }
		top, err = panel(title+": cross-entropy", "loss", []series{
			smooth("base CE (x -> x)", rows, is("base"), ce, window),
			smooth("action CE (x, a -> y)", rows, is("action"), ce, window),
			smooth("causal: retrieval CE", rows, is("causal"), ce, window),
		})
		if err != nil {
			return nil, err
		}
		bottom, err = panel("retrieval accuracy on causal batches (train pairs)", "accuracy", []series{
			smooth("causal-batch accuracy", rows, is("causal"), func(r Row) float64 { return r.Accuracy }, window),
		})
	} else {
		all := func(Row) bool { return true }
		top, err = panel(title+": reconstruction", "MSE", []series{
			smooth("reconstruction MSE", rows, all, func(r Row) float64 { return r.Recon }, window),
		})
		if err != nil {
			return nil, err
		}
		bottom, err = panel("codebook", "codes used in the batch", []series{
			smooth("codes used", rows, all, func(r Row) float64 { return r.CodesUsed }, window),
		})
	}
	if err != nil {
		return nil, err
	}
	const w, h = 7 * vg.Inch, 7 * vg.Inch
	img := vgimg.New(w, h)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadY: vg.Points(12), PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{top}, {bottom}}, tiles, dc)
	top.Draw(canvases[0][0])
	bottom.Draw(canvases[1][0])
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("curves: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}
