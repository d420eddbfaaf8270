package weights

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
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

// ---- header JSON ----

// parseHeader walks the header with the token API rather than unmarshalling
// into maps, so that duplicate keys, which encoding/json silently merges,
// are seen and rejected.
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("weights: header does not start with '{'")
	}
	if !utf8.Valid(h) {
		return nil, nil, errors.New("weights: header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	var entries []entry
	var md map[string]string
	err := eachKey(dec, func(key string) error {
		if key == metadataKey {
			var err error
			md, err = parseMetadata(dec)
			return err
		}
		e, err := parseEntry(dec, key)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	}, func(key string) error {
		if key == metadataKey {
			return errors.New("weights: header has two __metadata__ entries")
		}
		return fmt.Errorf("weights: duplicate tensor %q in header", key)
	})
	if err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("weights: header has data after the JSON object at byte %d (only space padding is allowed)", dec.InputOffset())
	}
	if md == nil {
		md = map[string]string{}
	}
	return entries, md, nil
}

// eachKey consumes one JSON object, calling fn with each key while the
// decoder is positioned at its value; fn must consume the value. A repeated
// key yields dup(key).
func eachKey(dec *json.Decoder, fn func(key string) error, dup func(key string) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(dec, err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("weights: header is not valid JSON: object key %v at byte %d", tok, dec.InputOffset())
		}
		if seen[key] {
			return dup(key)
		}
		seen[key] = true
		if err := fn(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonErr(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("weights: header is not valid JSON: want %q at byte %d, got %v", want, dec.InputOffset(), describe(tok))
	}
	return nil
}

func jsonErr(dec *json.Decoder, err error) error {
	if err == io.EOF {
		return errors.New("weights: header is not valid JSON: unexpected end")
	}
	return fmt.Errorf("weights: header is not valid JSON near byte %d: %v", dec.InputOffset(), err)
}

// describe names a JSON token for error messages.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case json.Delim:
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(tok)
}

func parseMetadata(dec *json.Decoder) (map[string]string, error) {
	md := map[string]string{}
	err := eachKey(dec, func(key string) error {
		tok, err := dec.Token()
		if err != nil {
			return jsonErr(dec, err)
		}
		v, ok := tok.(string)
		if !ok {
			return fmt.Errorf("weights: metadata %q: value %s is not a string", key, describe(tok))
		}
		md[key] = v
		return nil
	}, func(key string) error {
		return fmt.Errorf("weights: metadata: duplicate key %q", key)
	})
	if err != nil {
		return nil, err
	}
	return md, nil
}

func parseEntry(dec *json.Decoder, name string) (entry, error) {
	e := entry{name: name}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("weights: tensor %q: "+format, append([]any{name}, args...)...)
	}
	if name == "" {
		return e, errors.New("weights: header has a tensor with an empty name")
	}
	var haveDType, haveShape, haveOffsets bool
	err := eachKey(dec, func(key string) error {
		switch key {
		case "dtype":
			tok, err := dec.Token()
			if err != nil {
				return jsonErr(dec, err)
			}
			s, ok := tok.(string)
			if !ok {
				return fail("dtype %s is not a string", describe(tok))
			}
			e.dtype = DType(s)
			if e.dtype.Size() == 0 {
				return fail("dtype %q is not supported (want F32, F16 or BF16)", s)
			}
			haveDType = true
		case "shape":
			dims, err := parseUints(dec, MaxRank, fail, "shape")
			if err != nil {
				return err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > uint64(maxInt) {
					return fail("shape dimension %d is too large", d)
				}
				e.shape[i] = int(d)
			}
			if _, ok := numel(e.shape); !ok {
				return fail("shape %v: element count overflows", e.shape)
			}
			haveShape = true
		case "data_offsets":
			offs, err := parseUints(dec, 2, fail, "data_offsets")
			if err != nil {
				return err
			}
			if len(offs) != 2 {
				return fail("data_offsets %v: want [start, end]", offs)
			}
			e.start, e.end = offs[0], offs[1]
			haveOffsets = true
		default:
			return fail("unknown field %q (want dtype, shape, data_offsets)", key)
		}
		return nil
	}, func(key string) error {
		return fail("duplicate field %q", key)
	})
	if err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, fail("missing dtype")
	case !haveShape:
		return e, fail("missing shape")
	case !haveOffsets:
		return e, fail("missing data_offsets")
	}
	return e, nil
}

// parseUints reads a JSON array of at most max non-negative integers.
func parseUints(dec *json.Decoder, max int, fail func(string, ...any) error, field string) ([]uint64, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonErr(dec, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, fail("%s %s is not an array", field, describe(tok))
	}
	var out []uint64
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonErr(dec, err)
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, fail("%s: element %s is not a number", field, describe(tok))
		}
		s := string(num)
		if strings.HasPrefix(s, "-") {
			return nil, fail("%s: negative value %s", field, s)
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, fail("%s: value %s is too large", field, s)
			}
			return nil, fail("%s: value %s is not an integer", field, s)
		}
		if len(out) == max {
			if field == "shape" {
				return nil, fail("rank exceeds the limit of %d", max)
			}
			return nil, fail("%s has more than %d values", field, max)
		}
		out = append(out, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonErr(dec, err)
	}
	return out, nil
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
	switch dtype {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = f16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = bf16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	default:
		panic("weights: decode of an unchecked dtype")
	}
	return out
}
