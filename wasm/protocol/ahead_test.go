package protocol

import (
	"math"
	"strings"
	"testing"
)

func TestAheadAnswers(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	img := []float32{0, 0.5, 1}
	load := Ahead{ID: 1, Op: OpLoad, SHA256: sum, Size: 3}
	sample := Ahead{ID: 2, Op: OpSample, Seed: 1}
	rec := Ahead{ID: 3, Op: OpReconstruct, Image: img}
	f32 := func(v ...float32) Input { return Input{Format: FormatF32, F32: v} }
	for _, c := range []struct {
		what string
		a    Ahead
		req  Request
		want bool
	}{
		{"the same load", load, Request{Op: OpLoad, Weights: []byte{1, 2, 3}, SHA256: sum}, true},
		{"load in mode", load, Request{Op: OpLoad, Weights: []byte{1, 2, 3}, SHA256: sum, Sampling: "mode"}, true},
		{"other weights", load, Request{Op: OpLoad, Weights: []byte{1, 2, 3}, SHA256: strings.Repeat("cd", 32)}, false},
		{"unchecked weights", load, Request{Op: OpLoad, Weights: []byte{1, 2, 3}}, false},
		{"other length", load, Request{Op: OpLoad, Weights: []byte{1, 2}, SHA256: sum}, false},
		{"sampling mode", load, Request{Op: OpLoad, Weights: []byte{1, 2, 3}, SHA256: sum, Sampling: "sample"}, false},
		{"seeded load", load, Request{Op: OpLoad, Weights: []byte{1, 2, 3}, SHA256: sum, Seed: 4}, false},
		{"no checksum ahead", Ahead{Op: OpLoad, Size: 3}, Request{Op: OpLoad, Weights: []byte{1, 2, 3}}, false},
		{"the same sample", sample, Request{Op: OpSample, Seed: 1}, true},
		{"another seed", sample, Request{Op: OpSample, Seed: 2}, false},
		{"a named dataset", sample, Request{Op: OpSample, Seed: 1, Dataset: "dsprites"}, false},
		{"another op", sample, Request{Op: OpInfo}, false},
		{"the same image", rec, Request{Op: OpReconstruct, Image: f32(0, 0.5, 1)}, true},
		{"another pixel", rec, Request{Op: OpReconstruct, Image: f32(0, 0.5, 0.9)}, false},
		{"negative zero", rec, Request{Op: OpReconstruct, Image: f32(float32(math.Copysign(0, -1)), 0.5, 1)}, false},
		{"shorter", rec, Request{Op: OpReconstruct, Image: f32(0, 0.5)}, false},
		{"VQ path", rec, Request{Op: OpReconstruct, Image: f32(0, 0.5, 1), VQ: true}, false},
		{"encoded image", rec, Request{Op: OpReconstruct, Image: Input{Format: FormatImage, Encoded: []byte{1}}}, false},
		{"empty images", Ahead{Op: OpReconstruct}, Request{Op: OpReconstruct, Image: f32()}, false},
		{"intervene", Ahead{Op: OpIntervene}, Request{Op: OpIntervene}, false},
	} {
		if got := c.a.Answers(c.req); got != c.want {
			t.Errorf("%s: Answers = %v, want %v", c.what, got, c.want)
		}
	}
}
