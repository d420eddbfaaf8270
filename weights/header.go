package weights

import (
	"errors"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// The header is read by a small scanner for the subset of JSON it may hold
// (objects, strings, arrays of non-negative integers) rather than with
// encoding/json: that package silently keeps the last of duplicate keys, and
// its token API allocates dozens of bytes per header byte. Here every value
// is checked where it appears, nothing is skipped unread, and allocation is
// limited to the names, metadata and shapes that end up in the File.

// parseHeader returns the tensor entries in header order and the metadata
// (never nil).
func parseHeader(h []byte) ([]entry, map[string]string, error) {
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("weights: header does not start with '{'")
	}
	if !utf8.Valid(h) {
		return nil, nil, errors.New("weights: header is not valid UTF-8")
	}
	s := &scanner{b: h}
	var entries []entry
	var md map[string]string
	seen := map[string]bool{}
	err := s.object(func(key string) error {
		if key == metadataKey {
			if md != nil {
				return errors.New("weights: header has two __metadata__ entries")
			}
			var err error
			md, err = parseMetadata(s)
			return err
		}
		if seen[key] {
			return fmt.Errorf("weights: duplicate tensor %q in header", key)
		}
		seen[key] = true
		e, err := parseEntry(s, key)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, nil, wrapSyntax(err, "weights: header: ")
	}
	s.skipSpace()
	if s.i != len(s.b) {
		return nil, nil, fmt.Errorf("weights: header has data after the JSON object at header byte %d (only space padding is allowed)", s.i)
	}
	if md == nil {
		md = map[string]string{}
	}
	return entries, md, nil
}

func parseMetadata(s *scanner) (map[string]string, error) {
	md := map[string]string{}
	err := s.object(func(key string) error {
		if _, dup := md[key]; dup {
			return fmt.Errorf("weights: metadata: duplicate key %q", key)
		}
		s.skipSpace()
		v, err := s.str()
		if err != nil {
			return wrapSyntax(err, fmt.Sprintf("weights: metadata %q: value: ", key))
		}
		md[key] = v
		return nil
	})
	return md, wrapSyntax(err, "weights: metadata: ")
}

func parseEntry(s *scanner, name string) (entry, error) {
	e := entry{name: name}
	// Built only on error: headers can hold many thousands of entries.
	prefix := func() string { return fmt.Sprintf("weights: tensor %q: ", name) }
	fail := func(format string, args ...any) error {
		return fmt.Errorf(prefix()+format, args...)
	}
	if name == "" {
		return e, errors.New("weights: header has a tensor with an empty name")
	}
	var haveDType, haveShape, haveOffsets bool
	err := s.object(func(key string) error {
		if key == "dtype" && haveDType || key == "shape" && haveShape || key == "data_offsets" && haveOffsets {
			return fail("duplicate field %q", key)
		}
		s.skipSpace()
		switch key {
		case "dtype":
			d, err := s.str()
			if err != nil {
				return wrapSyntax(err, prefix()+"dtype: ")
			}
			e.dtype = DType(d)
			if e.dtype.Size() == 0 {
				return fail("dtype %q is not supported (want F32, F16 or BF16)", d)
			}
			haveDType = true
		case "shape":
			var dims [MaxRank]uint64
			n, err := s.uints(dims[:])
			if err == errTooMany {
				return fail("rank exceeds the limit of %d", MaxRank)
			}
			if err != nil {
				return wrapSyntax(err, prefix()+"shape: ")
			}
			e.shape = make([]int, n)
			for i, d := range dims[:n] {
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
			var offs [2]uint64
			n, err := s.uints(offs[:])
			if err == errTooMany {
				return fail("data_offsets has more than 2 values")
			}
			if err != nil {
				return wrapSyntax(err, prefix()+"data_offsets: ")
			}
			if n != 2 {
				return fail("data_offsets %v: want [start, end]", offs[:n])
			}
			e.start, e.end = offs[0], offs[1]
			haveOffsets = true
		default:
			return fail("unknown field %q (want dtype, shape, data_offsets)", key)
		}
		return nil
	})
	if err != nil {
		return e, wrapSyntax(err, prefix())
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

// ---- scanner ----

// syntaxError is a scanner error, not yet told where in the header it is.
type syntaxError struct{ msg string }

func (e *syntaxError) Error() string { return e.msg }

// wrapSyntax gives a bare scanner error its context; errors that already
// have one pass through.
func wrapSyntax(err error, prefix string) error {
	if se, ok := err.(*syntaxError); ok {
		return errors.New(prefix + se.msg)
	}
	return err
}

var errTooMany = errors.New("weights: too many array elements")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) skipSpace() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// want reports that something else was found at the current position.
func (s *scanner) want(what string) error {
	found := "the end of the header"
	if s.i < len(s.b) {
		r, _ := utf8.DecodeRune(s.b[s.i:])
		found = fmt.Sprintf("%q", r)
	}
	return &syntaxError{fmt.Sprintf("want %s at header byte %d, found %s", what, s.i, found)}
}

// object reads an object, calling fn after each key and its colon; fn must
// read the value and reject repeated keys.
func (s *scanner) object(fn func(key string) error) error {
	s.skipSpace()
	if !s.consume('{') {
		return s.want("an object")
	}
	s.skipSpace()
	if s.consume('}') {
		return nil
	}
	for {
		s.skipSpace()
		key, err := s.str()
		if err != nil {
			return err
		}
		s.skipSpace()
		if !s.consume(':') {
			return s.want("':'")
		}
		if err := fn(key); err != nil {
			return err
		}
		s.skipSpace()
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return s.want("',' or '}'")
		}
	}
}

// str reads a string. The header is valid UTF-8 (checked up front), so only
// escapes need decoding; a lone surrogate is an error, as in the reference.
func (s *scanner) str() (string, error) {
	if !s.consume('"') {
		return "", s.want("a string")
	}
	start := s.i
	for s.i < len(s.b) && s.b[s.i] != '"' && s.b[s.i] != '\\' && s.b[s.i] >= 0x20 {
		s.i++
	}
	if s.i < len(s.b) && s.b[s.i] == '"' {
		s.i++
		return string(s.b[start : s.i-1]), nil
	}
	buf := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(buf), nil
		case c < 0x20:
			return "", s.want("no control character in a string")
		case c != '\\':
			buf = append(buf, c)
			s.i++
			continue
		}
		s.i++
		if s.i == len(s.b) {
			break
		}
		esc := s.b[s.i]
		s.i++
		switch esc {
		case '"', '\\', '/':
			buf = append(buf, esc)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, err := s.hex4()
			if err != nil {
				return "", err
			}
			if utf16.IsSurrogate(r) {
				var lo rune = -1
				if r < 0xdc00 && s.consume('\\') && s.consume('u') {
					if lo, err = s.hex4(); err != nil {
						return "", err
					}
				}
				if r = utf16.DecodeRune(r, lo); r == utf8.RuneError {
					return "", &syntaxError{fmt.Sprintf("lone UTF-16 surrogate in a string escape before header byte %d", s.i)}
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			s.i--
			return "", s.want("a valid escape character")
		}
	}
	return "", s.want("the end of the string")
}

func (s *scanner) hex4() (rune, error) {
	var r rune
	for range 4 {
		if s.i == len(s.b) {
			return 0, s.want("a hex digit")
		}
		c := s.b[s.i]
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, s.want("a hex digit")
		}
		s.i++
	}
	return r, nil
}

// uints reads an array of at most len(dst) non-negative integers into dst
// and returns their count, or errTooMany.
func (s *scanner) uints(dst []uint64) (int, error) {
	if !s.consume('[') {
		return 0, s.want("an array")
	}
	s.skipSpace()
	if s.consume(']') {
		return 0, nil
	}
	n := 0
	for {
		s.skipSpace()
		if n == len(dst) {
			return n, errTooMany
		}
		v, err := s.uint()
		if err != nil {
			return n, err
		}
		dst[n] = v
		n++
		s.skipSpace()
		if s.consume(']') {
			return n, nil
		}
		if !s.consume(',') {
			return n, s.want("',' or ']'")
		}
	}
}

// uint reads a non-negative integer. Other JSON numbers (negative,
// fractional, with an exponent) get an error that names them.
func (s *scanner) uint() (uint64, error) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if ('0' > c || c > '9') && c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E' {
			break
		}
		s.i++
	}
	t := s.b[start:s.i]
	if len(t) == 0 {
		return 0, s.want("a non-negative integer")
	}
	var v uint64
	for _, c := range t {
		if c < '0' || c > '9' {
			if t[0] == '-' {
				return 0, &syntaxError{fmt.Sprintf("negative value %s at header byte %d", t, start)}
			}
			return 0, &syntaxError{fmt.Sprintf("value %s at header byte %d is not an integer", t, start)}
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, &syntaxError{fmt.Sprintf("value %s at header byte %d is too large", t, start)}
		}
		v = v*10 + d
	}
	if len(t) > 1 && t[0] == '0' {
		return 0, &syntaxError{fmt.Sprintf("value %s at header byte %d has a leading zero (not JSON)", t, start)}
	}
	return v, nil
}
