package state

import (
	"errors"
	"fmt"
	"strings"

	"ctvae/wasm/protocol"
)

// Source says where an image came from.
type Source int

// The sources of an image.
const (
	FromSample Source = iota // a dataset sample (its factors are known)
	FromUpload               // a person's PNG or JPEG
	FromAction               // the result of applying an action
)

// Image is an input the page can send to the engine: either model pixels
// (F32, [C, S, S]) or encoded bytes the worker decodes.
type Image struct {
	Label   string
	Source  Source
	F32     []float32
	Encoded []byte
	Preview Pixels // how an upload looks, decoded by the browser (display only)
	// Sample identifies a dataset sample: the seed of its pair and whether
	// it is the pair's x (0) or y (1); Factors are its true factor values.
	Seed    uint64
	Side    int
	Factors []int
	// Parent and Action are set for FromAction: the image the action was
	// applied to (its label) and the action.
	Parent string
	Action int
	// Ver is NextVersion when the image was made (0: not yet drawn by
	// version), so the page redraws its canvas only when it changes.
	Ver uint64
}

// Input is the protocol form of the image.
func (im *Image) Input() protocol.Input {
	if im.F32 != nil {
		return protocol.Input{Format: protocol.FormatF32, F32: im.F32}
	}
	return protocol.Input{Format: protocol.FormatImage, Encoded: im.Encoded}
}

// Empty reports whether there is no image.
func (im *Image) Empty() bool { return im == nil || (im.F32 == nil && im.Encoded == nil) }

// Truth is what is known about which action turns x into y.
type Truth struct {
	Action int    // -1 when unknown
	Kind   string // "true action" (a dataset pair) or "applied action"
}

// PairTruth says which action turns x into y when the page knows it: for
// the two images of one sample pair (y is x with one factor moved), and for
// an action's result taken as y with its parent as x.
func PairTruth(x, y *Image, sampleAction func(seed uint64) (int, bool)) Truth {
	if x.Empty() || y.Empty() {
		return Truth{Action: -1}
	}
	if x.Source == FromSample && y.Source == FromSample && x.Seed == y.Seed && x.Side == 0 && y.Side == 1 {
		if a, ok := sampleAction(x.Seed); ok {
			return Truth{Action: a, Kind: "true action"}
		}
	}
	if y.Source == FromAction && y.Parent == x.Label {
		return Truth{Action: y.Action, Kind: "applied action"}
	}
	return Truth{Action: -1}
}

// CheckPair validates a retrieval's choice of x and y.
func CheckPair(x, y *Image) error {
	switch {
	case x.Empty() && y.Empty():
		return errors.New("choose x and y first")
	case x.Empty():
		return errors.New("choose x first")
	case y.Empty():
		return errors.New("choose y first")
	}
	return nil
}

// Bar is one row of the retrieval chart.
type Bar struct {
	Index int
	Name  string
	P     float32
	Text  string  // Percent(P)
	Width float64 // bar length in [0,1], relative to the largest p
	Best  bool    // the retrieved action
	True  bool    // the known action
}

// Bars lays out a retrieval: one bar per action in the model's order (so
// the eye finds a factor at the same place each time), scaled to the
// largest probability.
func Bars(r *protocol.Retrieval, truth int) []Bar {
	if r == nil {
		return nil
	}
	var max float32
	for _, a := range r.Actions {
		if a.P > max {
			max = a.P
		}
	}
	bars := make([]Bar, len(r.Actions))
	for i, a := range r.Actions {
		w := 0.0
		if max > 0 && a.P > 0 {
			w = float64(a.P / max)
		}
		bars[i] = Bar{Index: a.Index, Name: a.Name, P: a.P, Text: Percent(a.P), Width: w,
			Best: a.Index == r.Best.Index, True: a.Index == truth}
	}
	return bars
}

// Verdict is the one-line answer of a retrieval.
func Verdict(r *protocol.Retrieval, t Truth, actionName func(int) string) string {
	if r == nil {
		return ""
	}
	p := float32(0)
	for _, a := range r.Actions {
		if a.Index == r.Best.Index {
			p = a.P
		}
	}
	s := fmt.Sprintf("Most likely: %s (%s)", r.Best.Name, Percent(p))
	if t.Action >= 0 {
		mark := "✓ matches"
		if t.Action != r.Best.Index {
			mark = "✗ differs from"
		}
		s += fmt.Sprintf(" — %s the %s %s", mark, t.Kind, actionName(t.Action))
	}
	return s
}

// FactorText lists true factor values, "floor hue 3, shape 1".
func FactorText(names []string, values []int) string {
	parts := make([]string, 0, len(values))
	for i, v := range values {
		name := fmt.Sprintf("factor %d", i)
		if i < len(names) {
			name = names[i]
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, v))
	}
	return strings.Join(parts, ", ")
}
