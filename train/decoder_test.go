package train

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/weights"
)

// decoderSmoke writes a tiny whole model (a random VQ-VAE and two causal
// steps) as an F16 model file and starts a decoder-phase run on it.
func decoderSmoke(t *testing.T) (*Trainer, []byte) {
	t.Helper()
	ct := causalSmoke(t, RecipeBalanced)
	for range 2 {
		if _, err := ct.TrainStep(); err != nil {
			t.Fatal(err)
		}
	}
	in, err := ct.ModelFile(weights.F16)
	if err != nil {
		t.Fatal(err)
	}
	return newDecoderRun(t, in), in
}

func newDecoderRun(t *testing.T, model []byte) *Trainer {
	t.Helper()
	info, err := modelfile.Parse(model)
	if err != nil {
		t.Fatal(err)
	}
	o := smokeOptions()
	o.Phase, o.LR = PhaseDecoder, 1e-2
	tr, err := New(data.NewDSprites(), info.Config, o, modelfile.Params(info.File))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// rawTensors returns each tensor's bytes as stored in a safetensors file,
// and the file's metadata.
func rawTensors(t *testing.T, b []byte) (map[string][]byte, map[string]string) {
	t.Helper()
	n := binary.LittleEndian.Uint64(b)
	var header map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &header); err != nil {
		t.Fatal(err)
	}
	out, meta := map[string][]byte{}, map[string]string{}
	for name, raw := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &meta); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var e struct {
			Offsets [2]uint64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		out[name] = b[8+n+e.Offsets[0] : 8+n+e.Offsets[1]]
	}
	return out, meta
}

// TestDecoderPhase fine-tunes the decoder of a tiny whole model: the loss
// falls, the F16 model file keeps every encoder, codebook and ct_layer
// tensor and the metadata byte for byte (only decoder tensors change), and
// checkpoint + resume continues bit for bit.
func TestDecoderPhase(t *testing.T) {
	a, in := decoderSmoke(t)
	var curve []float64
	for range 12 {
		r, err := a.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		curve = append(curve, r.Recon)
	}
	first := (curve[0] + curve[1] + curve[2]) / 3
	last := (curve[9] + curve[10] + curve[11]) / 3
	// The encoder is random, so the codes say little about the images and
	// the decoder can learn little more than their mean: 10%, not the
	// VQ-VAE smoke test's 20%.
	if !(last < 0.9*first) {
		t.Errorf("recon of steps 1-3 %.4g, of steps 10-12 %.4g: want a drop of at least 10%%", first, last)
	}
	out, err := a.ModelFile(weights.F16)
	if err != nil {
		t.Fatal(err)
	}
	tin, min := rawTensors(t, in)
	tout, mout := rawTensors(t, out)
	if !maps.Equal(min, mout) {
		t.Errorf("metadata changed:\n in  %v\n out %v", min, mout)
	}
	if len(tin) != len(tout) {
		t.Fatalf("%d tensors in, %d out", len(tin), len(tout))
	}
	changed := 0
	for name, b := range tin {
		same := bytes.Equal(b, tout[name])
		switch dec := strings.HasPrefix(name, "decoder."); {
		case !dec && !same:
			t.Errorf("%s changed in the decoder phase", name)
		case dec && !same:
			changed++
		}
	}
	if changed == 0 {
		t.Error("no decoder tensor changed")
	}

	b := newDecoderRun(t, in)
	trainSteps(t, b, 7)
	if c := resumeAndMatch(t, a, b); c.Opts.Phase != PhaseDecoder || !slices.Equal(c.Adam.Names, b.Adam.Names) {
		t.Fatalf("resumed phase %q training %v, want %q training %v", c.Opts.Phase, c.Adam.Names, PhaseDecoder, b.Adam.Names)
	}
}

// TestDecoderPhaseErrors checks that the decoder phase refuses to start
// without the whole model or with a codebook initialisation.
func TestDecoderPhaseErrors(t *testing.T) {
	_, in := decoderSmoke(t)
	info, err := modelfile.Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	o := smokeOptions()
	o.Phase = PhaseDecoder
	ds := data.NewDSprites()
	if _, err := New(ds, info.Config, o, nil); err == nil || !strings.Contains(err.Error(), "needs initial weights") {
		t.Errorf("no initial weights: %v", err)
	}
	if _, err := New(ds, info.Config, o, newSmoke(t).Params); err == nil || !strings.Contains(err.Error(), "missing tensor \"ct_layer.") {
		t.Errorf("a VQ-VAE alone for a config with a causal layer: %v", err)
	}
	o.CodebookInit = CodebookInitData
	if _, err := New(ds, info.Config, o, modelfile.Params(info.File)); err == nil || !strings.Contains(err.Error(), "keeps the codebook frozen") {
		t.Errorf("codebook init data: %v", err)
	}
}
