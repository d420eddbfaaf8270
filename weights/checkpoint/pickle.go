package checkpoint

import (
	"bytes"
	"fmt"
	"math/big"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"

	"ctvae/weights"
)

// ---- globals ----

// storageType is a torch storage class such as torch.FloatStorage.
type storageType struct {
	name  string        // class name, "FloatStorage"
	dtype string        // torch dtype, "float32"
	size  int           // bytes per element
	wdt   weights.DType // the dtype we convert from; "" when unsupported
}

// storageTypes are the storage classes torch.save writes. All are accepted
// while unpickling, so that a checkpoint whose optimizer state holds, say,
// int64 tensors still converts; only the three float types can be read.
var storageTypes = map[string]*storageType{}

func init() {
	for _, s := range []storageType{
		{"FloatStorage", "float32", 4, weights.F32},
		{"HalfStorage", "float16", 2, weights.F16},
		{"BFloat16Storage", "bfloat16", 2, weights.BF16},
		{"DoubleStorage", "float64", 8, ""},
		{"LongStorage", "int64", 8, ""},
		{"IntStorage", "int32", 4, ""},
		{"ShortStorage", "int16", 2, ""},
		{"CharStorage", "int8", 1, ""},
		{"ByteStorage", "uint8", 1, ""},
		{"BoolStorage", "bool", 1, ""},
		{"ComplexFloatStorage", "complex64", 8, ""},
		{"ComplexDoubleStorage", "complex128", 16, ""},
	} {
		storageTypes[s.name] = &s
	}
}

// attributeDicts are the modules of Lightning's AttributeDict (a dict
// subclass holding hyper_parameters) across Lightning versions.
var attributeDicts = map[string]bool{
	"pytorch_lightning.utilities.parsing": true,
	"lightning_fabric.utilities.data":     true,
	"lightning.fabric.utilities.data":     true,
	"lightning.pytorch.utilities.parsing": true,
}

// allowedGlobal is the whole list of globals a checkpoint may reference.
// Each maps to an inert Go value below; nothing named by a pickle runs.
func allowedGlobal(module, name string) bool {
	switch module {
	case "torch":
		return storageTypes[name] != nil
	case "torch._utils":
		return name == "_rebuild_tensor_v2" || name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state"
	case "collections":
		return name == "OrderedDict"
	case "builtins":
		return name == "dict" || name == "list"
	case "_codecs":
		return name == "encode"
	}
	return name == "AttributeDict" && attributeDicts[module]
}

// ---- unpickling ----

// unpickle runs data.pkl (already vetted) with gopickle, resolving globals
// and persistent ids to our types, and returns the root as plain values.
func (a *Archive) unpickle(p []byte) (root any, err error) {
	u := pickle.NewUnpickler(bytes.NewReader(p))
	u.FindClass = a.findClass
	u.PersistentLoad = a.persistentLoad
	var v any
	func() {
		// vet rules out the inputs known to make gopickle panic; should one
		// slip through, it is still a bad file, not a crash.
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("checkpoint: data.pkl: malformed pickle (%s: %v)", panicked, r)
			}
		}()
		v, err = u.Load()
	}()
	if err != nil {
		if !bytes.HasPrefix([]byte(err.Error()), []byte("checkpoint:")) {
			err = fmt.Errorf("checkpoint: data.pkl: %w", err)
		}
		return nil, err
	}
	c := converter{seen: map[any]any{}}
	return c.convert(v, 0)
}

// panicked marks errors recovered from a gopickle panic; the fuzz test
// fails on it so that vet's coverage keeps being checked.
const panicked = "gopickle panicked"

func (a *Archive) findClass(module, name string) (any, error) {
	if !allowedGlobal(module, name) {
		return nil, fmt.Errorf("checkpoint: data.pkl: refusing global %s.%s", module, name)
	}
	switch module {
	case "torch":
		return storageTypes[name], nil
	case "torch._utils":
		if name == "_rebuild_tensor_v2" {
			return rebuildTensor{a}, nil
		}
		return rebuildParameter{}, nil
	case "_codecs":
		return codecsEncode{}, nil
	}
	return dictClass{module + "." + name}, nil
}

// persistentLoad resolves torch's storage references,
// ('storage', storage_type, key, location, numel), to archive entries.
func (a *Archive) persistentLoad(pid any) (any, error) {
	t, ok := pid.(*types.Tuple)
	if !ok || t.Len() != 5 || t.Get(0) != "storage" {
		return nil, fmt.Errorf("checkpoint: data.pkl: persistent id %s, want ('storage', type, key, location, numel)", describe(pid))
	}
	typ, ok1 := t.Get(1).(*storageType)
	key, ok2 := t.Get(2).(string)
	_, ok3 := t.Get(3).(string)
	numel, ok4 := t.Get(4).(int)
	if !ok1 || !ok2 || !ok3 || !ok4 || numel < 0 {
		return nil, fmt.Errorf("checkpoint: data.pkl: storage reference (%s, %s, %s, %s), want (a torch storage class, key, location, numel >= 0)",
			describe(t.Get(1)), describe(t.Get(2)), describe(t.Get(3)), describe(t.Get(4)))
	}
	if s, ok := a.storages[key]; ok {
		if s.typ != typ || s.numel != numel {
			return nil, fmt.Errorf("checkpoint: storage %q referenced as both %s[%d] and %s[%d]", key, s.typ.name, s.numel, typ.name, numel)
		}
		return s, nil
	}
	f, ok := a.files[key]
	if !ok {
		return nil, fmt.Errorf("checkpoint: storage %q (%s) is missing from the archive (no entry %sdata/%s)", key, typ.name, a.prefix, key)
	}
	if f.UncompressedSize64/uint64(typ.size) != uint64(numel) || f.UncompressedSize64%uint64(typ.size) != 0 {
		return nil, fmt.Errorf("checkpoint: storage %q holds %d bytes, the pickle declares %d %s elements of %d bytes",
			key, f.UncompressedSize64, numel, typ.dtype, typ.size)
	}
	s := &storageRef{typ: typ, key: key, numel: numel}
	a.storages[key] = s
	return s, nil
}

// storageRef is one storage of the archive, read only when a tensor on it
// is converted.
type storageRef struct {
	typ   *storageType
	key   string
	numel int
}

// rebuildTensor is torch._utils._rebuild_tensor_v2(storage, storage_offset,
// size, stride, requires_grad, backward_hooks[, metadata]).
type rebuildTensor struct{ a *Archive }

func (r rebuildTensor) Call(args ...any) (any, error) {
	if len(args) != 6 && len(args) != 7 {
		return nil, fmt.Errorf("checkpoint: _rebuild_tensor_v2 with %d arguments, want 6 or 7", len(args))
	}
	st, ok := args[0].(*storageRef)
	if !ok {
		return nil, fmt.Errorf("checkpoint: _rebuild_tensor_v2 storage is %s, want a storage reference", describe(args[0]))
	}
	off, ok := args[1].(int)
	if !ok || off < 0 {
		return nil, fmt.Errorf("checkpoint: _rebuild_tensor_v2 storage offset %s, want an integer >= 0", describe(args[1]))
	}
	shape, err := dims(args[2], "size")
	if err != nil {
		return nil, err
	}
	stride, err := dims(args[3], "stride")
	if err != nil {
		return nil, err
	}
	if len(stride) != len(shape) {
		return nil, fmt.Errorf("checkpoint: _rebuild_tensor_v2 size %v with stride %v: ranks differ", shape, stride)
	}
	return &Tensor{Shape: shape, Stride: stride, Offset: off, DType: st.typ.dtype, storage: st, arc: r.a}, nil
}

// dims reads a tuple of at most weights.MaxRank integers >= 0.
func dims(v any, what string) ([]int, error) {
	t, ok := v.(*types.Tuple)
	if !ok || t.Len() > weights.MaxRank {
		return nil, fmt.Errorf("checkpoint: tensor %s %s, want a tuple of at most %d integers", what, describe(v), weights.MaxRank)
	}
	d := make([]int, t.Len())
	for i := range d {
		n, ok := t.Get(i).(int)
		if !ok || n < 0 {
			return nil, fmt.Errorf("checkpoint: tensor %s %s: element %d is %s, want an integer >= 0", what, describe(v), i, describe(t.Get(i)))
		}
		d[i] = n
	}
	return d, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad,
// backward_hooks[, state]): an nn.Parameter is its tensor here.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) != 3 && len(args) != 4 {
		return nil, fmt.Errorf("checkpoint: _rebuild_parameter with %d arguments, want 3 or 4", len(args))
	}
	t, ok := args[0].(*Tensor)
	if !ok {
		return nil, fmt.Errorf("checkpoint: _rebuild_parameter of %s, want a tensor", describe(args[0]))
	}
	return t, nil
}

// codecsEncode is _codecs.encode(str, "latin1"), which protocol-2 pickles
// use for bytes objects.
type codecsEncode struct{}

func (codecsEncode) Call(args ...any) (any, error) {
	if len(args) != 2 || (args[1] != "latin1" && args[1] != "latin-1") {
		return nil, fmt.Errorf("checkpoint: _codecs.encode%s, want (str, 'latin1')", describe(types.NewTupleFromSlice(args)))
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("checkpoint: _codecs.encode of %s, want a str", describe(args[0]))
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, fmt.Errorf("checkpoint: _codecs.encode: rune %U is not latin1", r)
		}
		b = append(b, byte(r))
	}
	return b, nil
}

// dictClass is a dict subclass (Lightning's AttributeDict): pickled as
// cls.__new__(cls) followed by SETITEMS, it unpickles to a plain dict.
type dictClass struct{ name string }

func (c dictClass) PyNew(args ...any) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("checkpoint: %s.__new__ with %d arguments, want none", c.name, len(args))
	}
	return &attrDict{class: c.name}, nil
}

func (c dictClass) Call(args ...any) (any, error) { return c.PyNew(args...) }

type attrDict struct {
	class string
	d     types.Dict
}

func (a *attrDict) Set(k, v any) { a.d.Set(k, v) }

// PyDictSet refuses instance attributes: an AttributeDict keeps its items
// in the dict itself, so attributes mean a class we do not understand.
func (a *attrDict) PyDictSet(k, v any) error {
	return fmt.Errorf("checkpoint: %s with instance attribute %s", a.class, describe(k))
}

// ---- conversion to plain values ----

// Dict is a pickled dict, OrderedDict or dict subclass, in insertion order.
// Keys are string, int64, float64, bool or nil; a repeated key keeps its
// first position and its last value, as in Python.
type Dict struct {
	Keys   []any
	Values []any
}

// Get returns the value under a string key.
func (d *Dict) Get(key string) (any, bool) {
	for i, k := range d.Keys {
		if k == key {
			return d.Values[i], true
		}
	}
	return nil, false
}

// maxNesting bounds how deeply containers nest (APPEND through the memo can
// nest deeper than MARKs do).
const maxNesting = 100

type converter struct {
	// seen maps each converted container to its result, so that shared
	// objects are converted once and cycles are detected (nil = in progress).
	seen map[any]any
}

// convert turns gopickle's values into the package's plain values: nil,
// bool, int64, *big.Int, float64, string, []byte, []any (lists and tuples),
// *Dict and *Tensor.
func (c *converter) convert(v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil, bool, float64, string, []byte, *big.Int, *Tensor:
		return x, nil
	case int:
		return int64(x), nil
	}
	switch v.(type) {
	case *types.List, *types.Tuple, *types.Dict, *attrDict, *types.OrderedDict:
	default:
		return nil, fmt.Errorf("checkpoint: data.pkl: unsupported value %s", describe(v))
	}
	if depth >= maxNesting {
		return nil, fmt.Errorf("checkpoint: data.pkl: containers nested deeper than %d", maxNesting)
	}
	if r, ok := c.seen[v]; ok {
		if r == nil {
			return nil, fmt.Errorf("checkpoint: data.pkl: a container holds itself")
		}
		return r, nil
	}
	c.seen[v] = nil
	var out any
	var err error
	switch x := v.(type) {
	case *types.List:
		out, err = c.list(*x, depth)
	case *types.Tuple:
		out, err = c.list(*x, depth)
	case *types.Dict:
		out, err = c.dict(*x, depth)
	case *attrDict:
		out, err = c.dict(x.d, depth)
	case *types.OrderedDict:
		var d types.Dict
		for e := x.List.Front(); e != nil; e = e.Next() {
			oe := e.Value.(*types.OrderedDictEntry)
			d = append(d, types.DictEntry{Key: oe.Key, Value: oe.Value})
		}
		out, err = c.dict(d, depth)
	}
	if err != nil {
		return nil, err
	}
	c.seen[v] = out
	return out, nil
}

func (c *converter) list(items []any, depth int) (any, error) {
	out := make([]any, len(items))
	for i, it := range items {
		var err error
		if out[i], err = c.convert(it, depth+1); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *converter) dict(entries types.Dict, depth int) (any, error) {
	d := &Dict{}
	index := make(map[any]int, len(entries)) // keys are comparable scalars
	for _, e := range entries {
		k, err := c.convert(e.Key, depth+1)
		if err != nil {
			return nil, err
		}
		switch k.(type) {
		case nil, bool, int64, float64, string:
		default:
			return nil, fmt.Errorf("checkpoint: data.pkl: dict key %s, want a string, number, bool or None", describe(k))
		}
		v, err := c.convert(e.Value, depth+1)
		if err != nil {
			return nil, err
		}
		if i, ok := index[k]; ok {
			d.Values[i] = v
			continue
		}
		index[k] = len(d.Keys)
		d.Keys = append(d.Keys, k)
		d.Values = append(d.Values, v)
	}
	return d, nil
}

// describe names a value's type (and short values) for error messages,
// without printing whole containers.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case string:
		if len(x) > 40 {
			return fmt.Sprintf("%q...", x[:40])
		}
		return fmt.Sprintf("%q", x)
	case int, int64, bool, float64:
		return fmt.Sprint(x)
	case *types.Tuple:
		return fmt.Sprintf("a tuple of %d", x.Len())
	case *types.List, []any:
		return "a list"
	case *types.Dict, *types.OrderedDict, *attrDict, *Dict:
		return "a dict"
	case *storageType:
		return "torch." + x.name
	case *storageRef:
		return "a storage"
	case *Tensor:
		return fmt.Sprintf("a tensor %v", x.Shape)
	}
	return fmt.Sprintf("a value of Go type %T", v)
}
