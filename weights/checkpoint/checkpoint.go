// Package checkpoint reads PyTorch checkpoints without running Python and
// without executing anything a file names: the zip archives torch.save
// writes (since torch 1.6), holding a bare state_dict or a PyTorch Lightning
// checkpoint, and, for re-validation, safetensors files.
//
// A torch.save archive has one top folder (named after the file, "archive"
// for buffers) holding data.pkl, a pickle of the saved object, and
// data/<key>, the raw little-endian bytes of each storage. Tensors in the
// pickle are calls of torch._utils._rebuild_tensor_v2 on storages loaded by
// persistent id. The pickle is run by gopickle with an allow-list of globals
// (tensor rebuild functions, storage classes, dict types; see
// allowedGlobal): any other global is refused before anything is built.
//
// Every file is treated as hostile. Memory stays bounded by the input: zip
// entries are checked against a limit derived from the input size (and a
// hard cap) before they are read, and read through io.LimitReader; the
// pickle is pre-scanned so that no length it declares exceeds the bytes it
// holds (its objects then take at most a few hundred bytes per pickle byte,
// and the pickle is at most MaxPickleSize); a tensor's view must lie inside
// its storage and converting tensors yields at most as many elements as the
// storages hold. Walks over the unpickled tree are linear: shared objects
// are converted once, and summaries stop after a node budget.
package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"ctvae/weights"
)

// Limits on what Read accepts.
const (
	// MaxPickleSize caps data.pkl. A Lightning checkpoint of the default
	// model pickles to well under 1 MB (tensors live outside the pickle);
	// unpickled objects take up to ~200 bytes per pickle byte.
	MaxPickleSize = 4 << 20
	// MaxUncompressed caps the archive's total uncompressed size.
	MaxUncompressed = 1 << 30
	// MaxEntries caps the number of archive entries.
	MaxEntries = 1 << 16
	// inflateRatio bounds uncompressed/input size: torch stores entries
	// uncompressed, so only a re-zipped archive compresses at all, and float
	// weights deflate by far less than this.
	inflateRatio = 8
)

// Archive is a torch.save zip archive with its pickle unpickled. Storages
// are read from the zip only when a tensor on them is converted.
type Archive struct {
	// Root is the saved object as plain values: nil, bool, int64, *big.Int,
	// float64, string, []byte, []any, *Dict or *Tensor.
	Root any

	prefix   string               // the top folder and "/"
	files    map[string]*zip.File // storage key -> entry
	storages map[string]*storageRef
	data     map[string][]byte // storages read so far
	// budget is how many more elements Float32 may produce: the storages'
	// total bytes / 2 (the smallest supported element), so that views
	// sharing one storage cannot multiply memory.
	budget int
}

// Read opens a torch.save archive held in b and unpickles it.
func Read(b []byte) (*Archive, error) {
	if isPickle(b) {
		return nil, errors.New("checkpoint: the file is a raw pickle (torch.save before torch 1.6, or pickle.dump), not a zip archive; re-save it with torch.save in torch >= 1.6")
	}
	if !isZip(b) {
		return nil, fmt.Errorf("checkpoint: not a zip archive (starts with % x; torch.save writes a zip since torch 1.6)", b[:min(len(b), 4)])
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("checkpoint: not a valid zip archive (truncated or corrupt?): %w", err)
	}
	a := &Archive{files: map[string]*zip.File{}, storages: map[string]*storageRef{}, data: map[string][]byte{}}
	pkl, err := a.index(zr, len(b))
	if err != nil {
		return nil, err
	}
	p, err := readEntry(pkl)
	if err != nil {
		return nil, err
	}
	if err := vet(p); err != nil {
		return nil, err
	}
	if a.Root, err = a.unpickle(p); err != nil {
		return nil, err
	}
	return a, nil
}

func isZip(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PK\x03\x04")) || bytes.HasPrefix(b, []byte("PK\x05\x06"))
}

// isPickle recognises a pickle's PROTO opcode (torch's legacy format starts
// with a pickled magic number, protocol 2).
func isPickle(b []byte) bool { return len(b) >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5 }

// index checks the archive's entries and sizes and returns data.pkl's entry.
func (a *Archive) index(zr *zip.Reader, inputSize int) (*zip.File, error) {
	if len(zr.File) > MaxEntries {
		return nil, fmt.Errorf("checkpoint: archive has %d entries, more than the %d accepted", len(zr.File), MaxEntries)
	}
	var pkl *zip.File
	for _, f := range zr.File {
		if dir, ok := strings.CutSuffix(f.Name, "/data.pkl"); ok && !strings.Contains(dir, "/") {
			if pkl != nil {
				return nil, fmt.Errorf("checkpoint: archive has two pickles, %s and %s", pkl.Name, f.Name)
			}
			pkl, a.prefix = f, dir+"/"
		}
	}
	if pkl == nil {
		return nil, errors.New("checkpoint: archive has no <folder>/data.pkl: not a torch.save archive")
	}
	limit := uint64(min(MaxUncompressed, inflateRatio*uint64(inputSize)+1<<16))
	var total uint64
	seen := map[string]bool{}
	for _, f := range zr.File {
		if seen[f.Name] {
			return nil, fmt.Errorf("checkpoint: archive entry %q appears twice", f.Name)
		}
		seen[f.Name] = true
		rest, ok := strings.CutPrefix(f.Name, a.prefix)
		if !ok {
			return nil, fmt.Errorf("checkpoint: archive entry %q is outside the archive folder %q", f.Name, a.prefix)
		}
		if f.UncompressedSize64 > limit-total {
			return nil, fmt.Errorf("checkpoint: archive entries uncompress to more than %d bytes (input %d bytes): refusing a possible zip bomb", limit, inputSize)
		}
		total += f.UncompressedSize64
		if key, ok := strings.CutPrefix(rest, "data/"); ok && key != "" {
			a.files[key] = f
			a.budget += int(f.UncompressedSize64 / 2)
		}
		if rest == "byteorder" {
			bo, err := readEntry(f)
			if err != nil {
				return nil, err
			}
			if string(bo) != "little" {
				return nil, fmt.Errorf("checkpoint: archive byteorder %.16q, want \"little\"", bo)
			}
		}
	}
	if pkl.UncompressedSize64 > MaxPickleSize {
		return nil, fmt.Errorf("checkpoint: %s is %d bytes, more than the %d accepted", pkl.Name, pkl.UncompressedSize64, MaxPickleSize)
	}
	return pkl, nil
}

// readEntry reads one entry whose declared size was checked by index; the
// LimitReader stops a stream that inflates beyond it, and reading to EOF
// makes archive/zip verify the CRC.
func readEntry(f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: archive entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	buf := make([]byte, f.UncompressedSize64)
	lr := io.LimitReader(rc, int64(f.UncompressedSize64)+1)
	if _, err := io.ReadFull(lr, buf); err != nil {
		return nil, fmt.Errorf("checkpoint: archive entry %s (%d bytes): %w", f.Name, len(buf), err)
	}
	if n, err := lr.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			err = errors.New("more data than its declared size")
		}
		return nil, fmt.Errorf("checkpoint: archive entry %s: %w", f.Name, err)
	}
	return buf, nil
}

// ---- tensors ----

// Tensor is a tensor of the pickle: a strided view of a storage.
type Tensor struct {
	Shape  []int
	Stride []int // in elements
	Offset int   // storage offset in elements
	DType  string

	storage *storageRef
	arc     *Archive
}

// WeightsDType is the dtype the tensor converts from, or "" when its storage
// type is not one of FloatStorage, HalfStorage and BFloat16Storage.
func (t *Tensor) WeightsDType() weights.DType { return t.storage.typ.wdt }

// Float32 returns the tensor's elements as a new contiguous row-major
// array. The view must lie inside its storage; each call counts against a
// budget of the archive's storage bytes / 2 elements.
func (t *Tensor) Float32() ([]float32, error) {
	typ := t.storage.typ
	if typ.wdt == "" {
		return nil, fmt.Errorf("checkpoint: storage type torch.%s (%s) is not supported (want FloatStorage, HalfStorage or BFloat16Storage)", typ.name, typ.dtype)
	}
	n, last, err := extent(t.Shape, t.Stride, t.Offset)
	if err != nil {
		return nil, err
	}
	if (n > 0 && last >= t.storage.numel) || t.Offset > t.storage.numel {
		return nil, fmt.Errorf("checkpoint: view (size %v, stride %v, offset %d) reaches element %d of storage %q, which holds %d",
			t.Shape, t.Stride, t.Offset, max(last, t.Offset), t.storage.key, t.storage.numel)
	}
	if n > t.arc.budget {
		return nil, fmt.Errorf("checkpoint: tensors view more elements than the archive stores (views sharing storage): %d more requested, %d left", n, t.arc.budget)
	}
	raw, ok := t.arc.data[t.storage.key]
	if !ok {
		if raw, err = readEntry(t.arc.files[t.storage.key]); err != nil {
			return nil, err
		}
		t.arc.data[t.storage.key] = raw
	}
	t.arc.budget -= n
	out := make([]float32, n)
	if n == 0 {
		return out, nil
	}
	// Walk the view in row-major order with an odometer over the indices.
	idx := make([]int, len(t.Shape))
	pos := t.Offset
	for i := range out {
		out[i] = element(raw, pos, typ.wdt)
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			pos += t.Stride[d]
			if idx[d] < t.Shape[d] {
				break
			}
			pos -= idx[d] * t.Stride[d]
			idx[d] = 0
		}
	}
	return out, nil
}

// extent returns the element count of a view and the largest storage index
// it touches, or an error if either overflows.
func extent(shape, stride []int, off int) (n, last int, err error) {
	n, last = 1, off
	for i, d := range shape {
		if d == 0 {
			return 0, off, nil
		}
		if n > math.MaxInt32/d {
			return 0, 0, fmt.Errorf("checkpoint: tensor size %v has more than %d elements", shape, math.MaxInt32)
		}
		n *= d
		if stride[i] > 0 && (d-1) > (math.MaxInt-last)/stride[i] {
			return 0, 0, fmt.Errorf("checkpoint: tensor size %v with stride %v overflows", shape, stride)
		}
		last += (d - 1) * stride[i]
	}
	return n, last, nil
}

func element(raw []byte, i int, dt weights.DType) float32 {
	switch dt {
	case weights.F32:
		return math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	case weights.F16:
		return f16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
}

// f16ToF32 widens an IEEE binary16 value exactly.
func f16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN (payload kept)
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
	}
	// Zero and subnormals: frac * 2^-24, exact in float32.
	v := float32(frac) * (1.0 / (1 << 24))
	if sign != 0 {
		v = -v
	}
	return v
}
