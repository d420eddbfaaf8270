package ui

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"

	"ctvae/ui/state"
)

// Helpers for root.vugu: they keep expressions in the markup short.

// cellPx is a code-grid cell's size in SVG user units.
const cellPx = 30

// Cell is one node of the code grid.
type Cell struct {
	I, Row, Col int
	Code        int32
	X, Y        int // top-left corner
	Fill, Ink   string
	Masked      bool // the intervention mask selected it
	Changed     bool // its code differs from before the step
	Sel         bool
}

// Cells lays out the current step's codes.
func (c *Root) Cells() []Cell {
	s := c.History.Current()
	if s == nil {
		return nil
	}
	side := gridSide(len(s.Codes))
	changed := s.Changed()
	cells := make([]Cell, len(s.Codes))
	for i, code := range s.Codes {
		col := state.CodeColor(int(code))
		ink := "#ffffff"
		if col.Light() {
			ink = "#111111"
		}
		cells[i] = Cell{I: i, Row: i / side, Col: i % side, Code: code, X: (i % side) * cellPx, Y: (i / side) * cellPx,
			Fill: col.Hex(), Ink: ink, Masked: s.Mask != nil && s.Mask[i] > 0.5, Changed: changed[i], Sel: i == c.Cell}
	}
	return cells
}

// GridHTML is the markup of the code grid's cells (the selection is drawn
// over it apart, so hovering does not change it); each cell's rect has id
// gc-<node> for HoverCell. As vugu nodes the 64 cells were ~250 elements,
// each re-sent to the page with its attributes and a listener on every
// render, the largest part of a render's cost; the platform puts this
// string into the grid only when the step changes (see DrawCanvases).
func (c *Root) GridHTML() string {
	s := c.History.Current()
	if s == nil {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s.Codes) * 230)
	for _, cell := range c.Cells() {
		x, y := strconv.Itoa(cell.X), strconv.Itoa(cell.Y)
		b.WriteString(`<rect id="gc-` + strconv.Itoa(cell.I) + `" x="` + x + `" y="` + y + `" width="30" height="30" fill="` + cell.Fill + `" class="cell`)
		if cell.Masked {
			b.WriteString(" masked")
		}
		b.WriteString(`"></rect><text x="` + strconv.Itoa(cell.X+15) + `" y="` + strconv.Itoa(cell.Y+19) + `" fill="` + cell.Ink +
			`" text-anchor="middle" class="code">` + strconv.Itoa(int(cell.Code)) + `</text>`)
		if cell.Changed {
			b.WriteString(`<circle cx="` + strconv.Itoa(cell.X+25) + `" cy="` + strconv.Itoa(cell.Y+5) + `" r="3.5" class="dot"></circle>`)
		}
	}
	return b.String()
}

// SelCell is the selected cell of the grid, ok false when none is.
func (c *Root) SelCell() (cell Cell, ok bool) {
	s := c.History.Current()
	if s == nil || c.Cell < 0 || c.Cell >= len(s.Codes) {
		return Cell{}, false
	}
	side := gridSide(len(s.Codes))
	return Cell{I: c.Cell, X: (c.Cell % side) * cellPx, Y: (c.Cell / side) * cellPx, Sel: true}, true
}

// SelHTML is the outline of the selected grid cell, "" when none is.
func (c *Root) SelHTML() string {
	s, ok := c.SelCell()
	if !ok {
		return ""
	}
	return `<rect x="` + strconv.Itoa(s.X) + `" y="` + strconv.Itoa(s.Y) + `" width="30" height="30" fill="none" class="cell sel"></rect>`
}

// GridPx is the code grid's side in SVG units.
func (c *Root) GridPx() int {
	if s := c.History.Current(); s != nil {
		return gridSide(len(s.Codes)) * cellPx
	}
	return 0
}

// ViewBox is the code grid's SVG viewBox.
func (c *Root) ViewBox() string { return fmt.Sprintf("0 0 %d %d", c.GridPx(), c.GridPx()) }

// CellText is the readout of the selected cell.
func (c *Root) CellText() string {
	s := c.History.Current()
	if s == nil || c.Cell < 0 || c.Cell >= len(s.Codes) {
		return "Hover over or focus the grid (arrow keys move) to read a code."
	}
	side := gridSide(len(s.Codes))
	t := fmt.Sprintf("Node %d (row %d, column %d): code %d", c.Cell, c.Cell/side+1, c.Cell%side+1, s.Codes[c.Cell])
	if len(s.Input) == len(s.Codes) && s.Input[c.Cell] != s.Codes[c.Cell] {
		t += fmt.Sprintf(", was %d", s.Input[c.Cell])
	}
	if s.Mask != nil && s.Mask[c.Cell] > 0.5 {
		t += "; selected by the intervention mask"
	}
	return t
}

// Summary counts the current step's masked and changed nodes.
func (c *Root) Summary() string {
	s := c.History.Current()
	if s == nil {
		return ""
	}
	masked, changed := 0, 0
	for i, ch := range s.Changed() {
		if ch {
			changed++
		}
		if s.Mask != nil && s.Mask[i] > 0.5 {
			masked++
		}
	}
	if s.Action < 0 {
		return fmt.Sprintf("Reconstruction: %d of %d codes differ from the encoder's", changed, len(s.Codes))
	}
	return fmt.Sprintf("%s: the mask selected %d nodes; %d of %d codes changed", s.Label, masked, changed, len(s.Codes))
}

// PadRows is the action pad.
func (c *Root) PadRows() []state.PadRow {
	if c.Info == nil {
		return nil
	}
	return state.Pad(c.Info.Actions)
}

// CanEdit reports whether the action pad is usable.
func (c *Root) CanEdit() bool {
	return c.Info != nil && c.Info.HasCausal && c.History.Current() != nil && c.Busy == ""
}

// Path is the chain of actions applied, for the history line.
func (c *Root) Path() string {
	p := c.History.Path()
	if len(p) == 0 {
		return "no actions yet"
	}
	s := ""
	for i, a := range p {
		if i > 0 {
			s += " → "
		}
		s += a
	}
	return s
}

// Fraction formats progress values for a <progress> element.
func Fraction(done, total int64) string {
	return strconv.FormatFloat(state.Fraction(done, total), 'f', 4, 64)
}

// LoadText is the byte count beside the download bar.
func (c *Root) LoadText() string {
	if c.LoadTotal > 0 {
		return state.Bytes(c.LoadDone) + " of " + state.Bytes(c.LoadTotal)
	}
	return state.Bytes(c.LoadDone)
}

// BarsHTML is the body of the retrieval's bar chart, one row per action
// (the known action marked, the best one highlighted). As vugu nodes its
// rows were re-sent on every render of the page; the platform puts this
// markup only when a retrieval gives new bars (see DrawCanvases).
func (c *Root) BarsHTML() string {
	var b strings.Builder
	for _, bar := range c.Bars {
		b.WriteString(`<tr class="` + barClass(bar) + `"><th scope="row">` + html.EscapeString(bar.Name+truthMark(bar)) +
			`</th><td class="barcell"><svg xmlns="http://www.w3.org/2000/svg" class="bar" viewBox="0 0 100 10" preserveAspectRatio="none" aria-hidden="true">` +
			`<rect x="0" y="0" width="` + strconv.FormatFloat(100*bar.Width, 'f', 2, 64) + `" height="10"></rect></svg></td><td class="num">` +
			html.EscapeString(bar.Text) + `</td></tr>`)
	}
	return b.String()
}

// TimingText formats one row of the timings table.
func TimingText(ms float64) string { return state.Millis(ms) }

// PageTimingText is a timing's page column: for a request the worker
// started before the page asked (its head start), the page only waited.
func (t Timing) PageTimingText() string {
	if t.Ahead {
		return state.Millis(t.TotalMS) + " (waited: the worker started first)"
	}
	return state.Millis(t.TotalMS)
}

// SampleText describes a gallery item for its button and caption.
func (g *GalleryItem) SampleText() string { return state.FactorText(g.Names, g.X.Factors) }

// TruthText says what is known about the retrieval pair.
func (c *Root) TruthText() string {
	t := c.PairTruth()
	if t.Action < 0 {
		return "No known action for this pair."
	}
	return fmt.Sprintf("The %s is %s.", t.Kind, c.actionName(t.Action))
}

// Label of a retrieval slot.
func Label(im *state.Image) string {
	if im == nil {
		return "not chosen"
	}
	return im.Label
}

// ModelSummary describes the loaded model.
func (c *Root) ModelSummary() string {
	i := c.Info
	if i == nil {
		return "No model loaded."
	}
	ds := i.Dataset
	if ds == "" {
		ds = "no dataset recorded"
	}
	causal := fmt.Sprintf("%d actions", len(i.Actions))
	if !i.HasCausal {
		causal = "VQ-VAE only (no causal layer: actions unavailable)"
	}
	return fmt.Sprintf("%s — %s, %dx%dx%d images, %d nodes, codebook of %d, %s, sampling %s; sha256 %s…",
		c.ModelTitle, ds, i.Channels, i.Size, i.Size, i.Nodes, i.Codebook, causal, i.Sampling, short(i.Checksum))
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Sel reports whether option i is the picked model (for <option selected>).
func (c *Root) Sel(i int) bool { return i == c.ModelSel }

func stateBytes(n int64) string { return state.Bytes(n) }

func itoa(i int) string { return strconv.Itoa(i) }

// AdjMax is the largest |w| of the current adjacency, the heatmap's top.
func (c *Root) AdjMax() string {
	var max float64
	if s := c.History.Current(); s != nil {
		for _, w := range s.Adj {
			max = math.Max(max, math.Abs(float64(w)))
		}
	}
	return strconv.FormatFloat(max, 'g', 3, 64)
}

func barClass(b state.Bar) string {
	s := ""
	if b.Best {
		s += "best "
	}
	if b.True {
		s += "true"
	}
	return s
}

func truthMark(b state.Bar) string {
	if b.True {
		return " (known)"
	}
	return ""
}
