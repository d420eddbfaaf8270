package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"unicode/utf8"
)

// Marshal returns f as a safetensors file with every tensor stored as dtype.
// See Write for the layout and the checks.
func Marshal(f *File, dtype DType) ([]byte, error) {
	p, err := plan(f, dtype)
	if err != nil {
		return nil, err
	}
	out := make([]byte, len(p.head), len(p.head)+int(p.size))
	copy(out, p.head)
	for _, t := range p.tensors {
		n := len(out)
		out = out[:n+len(t.Data)*dtype.Size()]
		encode(out[n:], t.Data, dtype)
	}
	return out, nil
}

// Write writes f as a safetensors file with every tensor stored as dtype:
// tensors sorted by name and laid out contiguously in that order (as the
// reference writer does for a single dtype), metadata included, the header
// padded with spaces to a multiple of 8 bytes so the data stays aligned.
// F16 and BF16 round to nearest, ties to even. Everything is checked before
// the first byte is written: a finite value that would overflow to infinity
// in dtype is an error naming the tensor, not a silent inf; NaNs and
// infinities are stored as such.
func Write(w io.Writer, f *File, dtype DType) error {
	p, err := plan(f, dtype)
	if err != nil {
		return err
	}
	if _, err := w.Write(p.head); err != nil {
		return fmt.Errorf("weights: writing header: %w", err)
	}
	// Convert through a bounded buffer so writing a large file does not
	// hold a second copy of it.
	const chunk = 1 << 14
	buf := make([]byte, chunk*dtype.Size())
	for _, t := range p.tensors {
		for d := t.Data; len(d) > 0; {
			m := min(len(d), chunk)
			b := buf[:m*dtype.Size()]
			encode(b, d[:m], dtype)
			if _, err := w.Write(b); err != nil {
				return fmt.Errorf("weights: writing tensor %q: %w", t.Name, err)
			}
			d = d[m:]
		}
	}
	return nil
}

type writePlan struct {
	head    []byte // length prefix and padded header
	tensors []*Tensor
	size    uint64 // data region bytes
}

// plan validates f for writing as dtype and builds the header.
func plan(f *File, dtype DType) (*writePlan, error) {
	if dtype.Size() == 0 {
		return nil, fmt.Errorf("weights: cannot write dtype %q (want F32, F16 or BF16)", dtype)
	}
	if f == nil {
		return nil, errors.New("weights: cannot write a nil File")
	}
	for k, v := range f.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("weights: metadata %q: key or value is not valid UTF-8", k)
		}
	}
	for i, t := range f.Tensors {
		if err := checkTensor(t, i, dtype); err != nil {
			return nil, err
		}
	}
	ts := sortedByName(f.Tensors)
	for i := 1; i < len(ts); i++ {
		if ts[i].Name == ts[i-1].Name {
			return nil, fmt.Errorf("weights: duplicate tensor %q", ts[i].Name)
		}
	}

	h := []byte{'{'}
	if len(f.Metadata) > 0 {
		h = appendString(h, metadataKey)
		h = append(h, ":{"...)
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = appendString(h, k)
			h = append(h, ':')
			h = appendString(h, f.Metadata[k])
		}
		h = append(h, '}')
	}
	var off uint64
	for i, t := range ts {
		if i > 0 || len(f.Metadata) > 0 {
			h = append(h, ',')
		}
		end := off + uint64(len(t.Data)*dtype.Size())
		h = appendString(h, t.Name)
		h = fmt.Appendf(h, `:{"dtype":"%s","shape":[`, dtype)
		for j, d := range t.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = fmt.Appendf(h, "%d", d)
		}
		h = fmt.Appendf(h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, fmt.Errorf("weights: header would be %d bytes, over the limit of %d", len(h), MaxHeaderSize)
	}
	head := binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(h)), uint64(len(h)))
	return &writePlan{head: append(head, h...), tensors: ts, size: off}, nil
}

// checkTensor checks what Read would reject, and values that dtype cannot
// hold. i is the tensor's index in File.Tensors, for nameless tensors.
func checkTensor(t *Tensor, i int, dtype DType) error {
	if t == nil {
		return fmt.Errorf("weights: tensor %d is nil", i)
	}
	switch {
	case t.Name == "":
		return fmt.Errorf("weights: tensor %d has an empty name", i)
	case t.Name == metadataKey:
		return fmt.Errorf("weights: tensor name %q is reserved", t.Name)
	case !utf8.ValidString(t.Name):
		return fmt.Errorf("weights: tensor %q: name is not valid UTF-8", t.Name)
	case len(t.Shape) > MaxRank:
		return fmt.Errorf("weights: tensor %q: rank %d exceeds the limit of %d", t.Name, len(t.Shape), MaxRank)
	}
	n, ok := numel(t.Shape)
	if !ok {
		return fmt.Errorf("weights: tensor %q: shape %v has a negative dimension or overflows", t.Name, t.Shape)
	}
	if n != len(t.Data) {
		return fmt.Errorf("weights: tensor %q: shape %v holds %d elements, data has %d", t.Name, t.Shape, n, len(t.Data))
	}
	if dtype == F32 {
		return nil
	}
	// The smallest magnitude that rounds to infinity (see f16Overflows and
	// bf16Overflows); a plain comparison keeps this pass cheap.
	limit := uint32(0x477ff000)
	if dtype == BF16 {
		limit = 0x7f7f8000
	}
	for j, v := range t.Data {
		if a := math.Float32bits(v) & 0x7fffffff; a >= limit && a < 0x7f800000 {
			return fmt.Errorf("weights: tensor %q: element %d = %g overflows %s (would become infinity)", t.Name, j, v, dtype)
		}
	}
	return nil
}

// encode stores src into dst (len(src) x dtype size bytes), little-endian.
func encode(dst []byte, src []float32, dtype DType) {
	switch dtype {
	case F32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], f32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			binary.LittleEndian.PutUint16(dst[2*i:], f32ToBF16(v))
		}
	default:
		panic("weights: encode of an unchecked dtype")
	}
}

// appendString appends s (valid UTF-8) as a JSON string. Only what JSON
// requires is escaped, so configs stay readable in the header.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
