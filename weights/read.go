package weights

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unsafe"
)

const metadataKey = "__metadata__"

// Read parses a safetensors file held in b. The result does not alias b.
// Tensors come back sorted by name; see the package comment for what is
// accepted.
func Read(b []byte) (*File, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("weights: file is %d bytes, too short for the 8-byte header length", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("weights: header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if n > uint64(len(b)-8) {
		return nil, fmt.Errorf("weights: header length %d exceeds the %d bytes after the length field (truncated file?)", n, len(b)-8)
	}
	data := b[8+n:]
	entries, md, err := parseHeader(b[8 : 8+n])
	if err != nil {
		return nil, err
	}
	if err := checkLayout(entries, uint64(len(data))); err != nil {
		return nil, err
	}
	f := &File{Metadata: md, Tensors: make([]*Tensor, len(entries))}
	for i, e := range entries {
		t := &Tensor{Name: e.name, Shape: e.shape, DType: e.dtype}
		t.Data = decode(data[e.start:e.end], e.dtype)
		f.Tensors[i] = t
	}
	slices.SortFunc(f.Tensors, func(a, b *Tensor) int { return strings.Compare(a.Name, b.Name) })
	return f, nil
}

// entry is one tensor of the header, checked on its own but not yet against
// the other tensors.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	start, end uint64
}

// ---- layout ----

// checkLayout checks each tensor's byte range against its dtype and shape,
// then that the ranges tile [0, size) exactly, as the reference requires:
// contiguous, non-overlapping, with no gap and no trailing bytes.
func checkLayout(entries []entry, size uint64) error {
	for _, e := range entries {
		if e.start > e.end {
			return fmt.Errorf("weights: tensor %q: data offsets [%d %d] end before they start", e.name, e.start, e.end)
		}
		if e.end > size {
			return fmt.Errorf("weights: tensor %q: data offsets [%d %d] exceed the data region of %d bytes", e.name, e.start, e.end, size)
		}
		n, _ := numel(e.shape) // checked by parseEntry
		hi, want := bits.Mul64(uint64(n), uint64(e.dtype.Size()))
		if hi != 0 || want != e.end-e.start {
			return fmt.Errorf("weights: tensor %q: data offsets [%d %d] do not match dtype %s x shape %v (%s bytes)",
				e.name, e.start, e.end, e.dtype, e.shape, byteCount(hi, want))
		}
	}
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.end, b.end), strings.Compare(a.name, b.name))
	})
	var pos uint64
	for i, e := range sorted {
		switch {
		case e.start < pos:
			p := sorted[i-1]
			return fmt.Errorf("weights: tensor %q: data offsets [%d %d] overlap tensor %q [%d %d]", e.name, e.start, e.end, p.name, p.start, p.end)
		case e.start > pos:
			return fmt.Errorf("weights: tensor %q: data offsets [%d %d] leave a gap of %d bytes after offset %d (tensors must be contiguous)", e.name, e.start, e.end, e.start-pos, pos)
		}
		pos = e.end
	}
	if pos != size {
		return fmt.Errorf("weights: %d trailing bytes after the last tensor (data region is %d bytes, tensors cover %d)", size-pos, size, pos)
	}
	return nil
}

func byteCount(hi, lo uint64) string {
	if hi != 0 {
		return "more than 2^64"
	}
	return strconv.FormatUint(lo, 10)
}

// ---- data ----

// decode converts little-endian raw bytes of a checked length to float32.
func decode(raw []byte, dtype DType) []float32 {
	out := make([]float32, len(raw)/dtype.Size())
	if len(out) == 0 {
		return out
	}
	// The bits go straight into the floats' memory: a float32 made from
	// bits (math.Float32frombits) goes through linear memory under wasm,
	// and that made decoding most of a model's load time in the browser.
	bits := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(out))), len(out))
	switch dtype {
	case F32:
		raw = raw[:4*len(bits)]
		for i := range bits {
			bits[i] = binary.LittleEndian.Uint32(raw[4*i:])
		}
	case F16:
		raw = raw[:2*len(bits)]
		for i := range bits {
			h := uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
			if f16IsNormal(h) {
				bits[i] = f16NormalBits(h)
			} else {
				bits[i] = f16BitsSpecial(h)
			}
		}
	case BF16:
		raw = raw[:2*len(bits)]
		for i := range bits {
			bits[i] = (uint32(raw[2*i]) | uint32(raw[2*i+1])<<8) << 16
		}
	default:
		panic("weights: decode of an unchecked dtype")
	}
	return out
}
