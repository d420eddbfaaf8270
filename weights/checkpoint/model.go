package checkpoint

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"

	"ctvae/weights"
)

// Source kinds of a Model.
const (
	KindLightning   = "lightning"   // a dict with "state_dict" (Lightning or alike)
	KindStateDict   = "state_dict"  // torch.save(model.state_dict())
	KindSafetensors = "safetensors" // an existing safetensors file
)

// ModelPrefix is the prefix Lightning gives the model's keys
// (VAEXperiment.model).
const ModelPrefix = "model."

// Model is the model part of a checkpoint: what conversion needs.
type Model struct {
	Kind string
	// Tensors are the model's tensors, prefix stripped, sorted by name;
	// DType is the dtype each was stored in.
	Tensors []*weights.Tensor
	// Dropped lists what was left out, one line per item, e.g.
	// "optimizer_states (34 tensors)" or "state_dict key val_metric.mean".
	Dropped []string
	// HyperParameters are a Lightning checkpoint's hyper_parameters as
	// JSON-ready values (map[string]any, []any, string, int64, float64,
	// bool, nil); values JSON cannot hold are described as strings. Nil when
	// absent.
	HyperParameters map[string]any
	// About describes the source in a few words for the user, e.g.
	// "pytorch-lightning 1.6.5 checkpoint, epoch 3, global_step 120".
	About string
	// Metadata is a safetensors input's metadata (nil otherwise).
	Metadata map[string]string
}

// ReadModel reads a torch.save archive (a Lightning checkpoint or a bare
// state_dict) or a safetensors file and returns its model tensors. Keys with
// the "model." prefix are the model when any key has it, and the rest of the
// state_dict is dropped; otherwise every key is. Everything outside the
// state_dict (optimizer and scheduler state, loops, callbacks) is dropped
// and listed in Dropped.
func ReadModel(b []byte) (*Model, error) {
	switch {
	case isZip(b), isPickle(b):
	case len(b) >= 9 && b[8] == '{':
		return readSafetensors(b)
	default:
		return nil, fmt.Errorf("checkpoint: neither a torch.save zip archive nor a safetensors file (starts with % x)", b[:min(len(b), 9)])
	}
	a, err := Read(b)
	if err != nil {
		return nil, err
	}
	root, ok := a.Root.(*Dict)
	if !ok {
		return nil, fmt.Errorf("checkpoint: the archive holds %s, want a state_dict or a dict with \"state_dict\"", describe(a.Root))
	}
	m := &Model{}
	sd := root
	if v, ok := root.Get("state_dict"); ok {
		if sd, ok = v.(*Dict); !ok {
			return nil, fmt.Errorf("checkpoint: \"state_dict\" is %s, want a dict", describe(v))
		}
		m.Kind = KindLightning
		m.About = lightningAbout(root)
		for i, k := range root.Keys {
			switch k {
			case "state_dict", "epoch", "global_step", "pytorch-lightning_version", "hparams_name":
			case "hyper_parameters":
				budget := walkBudget
				hp := plain(root.Values[i], 0, &budget)
				if m.HyperParameters, ok = hp.(map[string]any); !ok {
					m.Dropped = append(m.Dropped, fmt.Sprintf("hyper_parameters (%s, not a dict)", describe(root.Values[i])))
				}
			default:
				m.Dropped = append(m.Dropped, droppedLine(fmt.Sprint(k), root.Values[i]))
			}
		}
	} else {
		m.Kind = KindStateDict
		m.About = "bare state_dict"
	}
	names, tensors, err := stateDict(sd)
	if err != nil {
		return nil, err
	}
	keep := modelKeys(names)
	for i, name := range names {
		short, ok := keep(name)
		if !ok {
			m.Dropped = append(m.Dropped, droppedLine("state_dict key "+name, tensors[i]))
			continue
		}
		t, ok := tensors[i].(*Tensor)
		if !ok {
			m.Dropped = append(m.Dropped, fmt.Sprintf("state_dict key %s (%s, not a tensor)", name, describe(tensors[i])))
			continue
		}
		data, err := t.Float32()
		if err != nil {
			return nil, fmt.Errorf("checkpoint: tensor %q: %s", name, strings.TrimPrefix(err.Error(), "checkpoint: "))
		}
		m.Tensors = append(m.Tensors, &weights.Tensor{Name: short, Shape: t.Shape, Data: data, DType: t.WeightsDType()})
	}
	if len(m.Tensors) == 0 {
		return nil, fmt.Errorf("checkpoint: the state_dict holds no model tensors (%d keys)", len(names))
	}
	sortTensors(m.Tensors)
	return m, nil
}

// stateDict returns the keys and values of a state_dict; keys are strings.
func stateDict(d *Dict) ([]string, []any, error) {
	names := make([]string, len(d.Keys))
	for i, k := range d.Keys {
		s, ok := k.(string)
		if !ok {
			return nil, nil, fmt.Errorf("checkpoint: state_dict key %s, want a string", describe(k))
		}
		names[i] = s
	}
	return names, d.Values, nil
}

// modelKeys decides which state_dict keys are the model's: those with
// ModelPrefix (stripped) when any key has it, else all of them.
func modelKeys(names []string) func(string) (string, bool) {
	if slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, ModelPrefix) }) {
		return func(n string) (string, bool) { return strings.CutPrefix(n, ModelPrefix) }
	}
	return func(n string) (string, bool) { return n, true }
}

func readSafetensors(b []byte) (*Model, error) {
	f, err := weights.Read(b)
	if err != nil {
		return nil, err
	}
	m := &Model{Kind: KindSafetensors, About: "safetensors file", Metadata: f.Metadata}
	keep := modelKeys(f.Names())
	for _, t := range f.Tensors {
		short, ok := keep(t.Name)
		if !ok {
			m.Dropped = append(m.Dropped, fmt.Sprintf("tensor %s %v", t.Name, t.Shape))
			continue
		}
		t.Name = short
		m.Tensors = append(m.Tensors, t)
	}
	if len(m.Tensors) == 0 {
		return nil, errors.New("checkpoint: the safetensors file holds no model tensors")
	}
	sortTensors(m.Tensors)
	return m, nil
}

func sortTensors(ts []*weights.Tensor) {
	slices.SortFunc(ts, func(a, b *weights.Tensor) int { return strings.Compare(a.Name, b.Name) })
}

func lightningAbout(root *Dict) string {
	var parts []string
	if v, ok := root.Get("pytorch-lightning_version"); ok {
		parts = append(parts, fmt.Sprintf("pytorch-lightning %v checkpoint", v))
	} else {
		parts = append(parts, "checkpoint dict")
	}
	for _, k := range []string{"epoch", "global_step"} {
		if v, ok := root.Get(k); ok {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// walkBudget bounds the nodes the tree walks below visit: the converted
// tree shares objects as the pickle did, so a walk that follows every
// reference could take exponential time on a small file.
const walkBudget = 1 << 18

// droppedLine describes a dropped value by the tensors it holds.
func droppedLine(name string, v any) string {
	budget := walkBudget
	n := countTensors(v, 0, &budget)
	if budget < 0 {
		return name + " (too large to count its tensors)"
	}
	switch {
	case n == 1:
		if t, ok := v.(*Tensor); ok {
			return fmt.Sprintf("%s (tensor %v %s)", name, t.Shape, t.DType)
		}
		return name + " (1 tensor)"
	case n > 1:
		return fmt.Sprintf("%s (%d tensors)", name, n)
	}
	return name
}

func countTensors(v any, depth int, budget *int) int {
	if *budget--; *budget < 0 || depth > maxNesting {
		return 0
	}
	n := 0
	switch x := v.(type) {
	case *Tensor:
		return 1
	case []any:
		for _, e := range x {
			n += countTensors(e, depth+1, budget)
		}
	case *Dict:
		for _, e := range x.Values {
			n += countTensors(e, depth+1, budget)
		}
	}
	return n
}

// plain converts a value to what encoding/json can write. Dicts with
// non-string keys get their keys printed; tensors and other non-JSON values
// become short descriptions, so hyper_parameters never fail to convert.
// Past the budget of visited nodes, values become "<too large>".
func plain(v any, depth int, budget *int) any {
	if *budget--; *budget < 0 {
		return "<too large>"
	}
	if depth > maxNesting {
		return "<nested too deeply>"
	}
	switch x := v.(type) {
	case nil, bool, int64, string:
		return x
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Sprint(x)
		}
		return x
	case *big.Int:
		return x.String()
	case []byte:
		return fmt.Sprintf("<%d bytes>", len(x))
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e, depth+1, budget)
		}
		return out
	case *Dict:
		out := make(map[string]any, len(x.Keys))
		for i, k := range x.Keys {
			ks, ok := k.(string)
			if !ok {
				ks = fmt.Sprint(k)
			}
			out[ks] = plain(x.Values[i], depth+1, budget)
		}
		return out
	case *Tensor:
		return fmt.Sprintf("<tensor %v %s>", x.Shape, x.DType)
	}
	return "<" + describe(v) + ">"
}
