package checkpoint

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// ---- pickle pre-scan ----
//
// vet walks the pickle's opcodes once before gopickle runs them, simulating
// the stack's height (and which slots hold strings or bytes), and refuses
// what would make gopickle allocate without bound, panic, or resolve a
// global we have not allowed:
//   - every length argument fits in the bytes that remain, so no read
//     allocates more than the input holds; integers are at most maxLongBytes;
//   - no opcode pops more than its mark level holds, dict-building opcodes
//     get key/value pairs, MARK nesting is at most maxMarkDepth, the memo is
//     read only where written;
//   - GLOBAL and STACK_GLOBAL name an allowed global (gopickle resolves a
//     few built-ins such as array._array_reconstructor itself, before any
//     hook, so the check must happen here); STACK_GLOBAL must take both
//     names from string constants;
//   - dict keys are never bytes (unhashable in gopickle's OrderedDict);
//   - opcodes torch never writes and that gopickle cannot run safely (text
//     persistent ids, INST/OBJ, extensions, sets, out-of-band buffers) are
//     refused, and nothing may follow STOP.

const (
	maxMarkDepth = 64
	maxLineLen   = 4096
	maxLongBytes = 32
)

// slot is what vet knows about a stack entry.
type slot struct {
	kind byte   // 0 other, 's' string constant, 'b' bytes
	str  string // the string, for kind 's'
}

type vetter struct {
	p      []byte
	pos    int
	levels [][]slot // levels[len-1] is the stack above the newest MARK
	memo   map[uint64]slot
}

func vet(p []byte) error {
	v := &vetter{p: p, levels: [][]slot{nil}, memo: map[uint64]slot{}}
	for v.pos < len(p) {
		at := v.pos
		op := p[v.pos]
		v.pos++
		stop, err := v.step(op)
		if err != nil {
			return fmt.Errorf("checkpoint: data.pkl: opcode 0x%02x at byte %d: %w", op, at, err)
		}
		if stop {
			if v.pos != len(p) {
				return fmt.Errorf("checkpoint: data.pkl: %d bytes after STOP at byte %d", len(p)-v.pos, at)
			}
			return nil
		}
	}
	return fmt.Errorf("checkpoint: data.pkl: ends after %d bytes without STOP (truncated?)", len(p))
}

func (v *vetter) top() *[]slot { return &v.levels[len(v.levels)-1] }

func (v *vetter) push(s slot) { t := v.top(); *t = append(*t, s) }

// pop removes n slots of the current level and returns them.
func (v *vetter) pop(n int) ([]slot, error) {
	t := v.top()
	if len(*t) < n {
		return nil, fmt.Errorf("needs %d stack items, the stack holds %d above its mark", n, len(*t))
	}
	s := (*t)[len(*t)-n:]
	*t = (*t)[:len(*t)-n]
	return s, nil
}

// popMark removes the current level and returns its slots.
func (v *vetter) popMark() ([]slot, error) {
	if len(v.levels) == 1 {
		return nil, fmt.Errorf("no MARK to pop to")
	}
	s := v.levels[len(v.levels)-1]
	v.levels = v.levels[:len(v.levels)-1]
	return s, nil
}

func (v *vetter) take(n int) ([]byte, error) {
	if n < 0 || n > len(v.p)-v.pos {
		return nil, fmt.Errorf("argument of %d bytes, only %d remain", n, len(v.p)-v.pos)
	}
	b := v.p[v.pos : v.pos+n]
	v.pos += n
	return b, nil
}

func (v *vetter) line() (string, error) {
	for i := v.pos; i < len(v.p) && i-v.pos <= maxLineLen; i++ {
		if v.p[i] == '\n' {
			s := string(v.p[v.pos:i])
			v.pos = i + 1
			return s, nil
		}
	}
	return "", fmt.Errorf("line argument without a newline within %d bytes", maxLineLen)
}

// length reads an n-byte little-endian length; it must fit in what remains.
func (v *vetter) length(n int) (int, error) {
	b, err := v.take(n)
	if err != nil {
		return 0, err
	}
	var l uint64
	switch n {
	case 1:
		l = uint64(b[0])
	case 4:
		l = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		l = binary.LittleEndian.Uint64(b)
	}
	if l > uint64(len(v.p)-v.pos) {
		return 0, fmt.Errorf("length %d exceeds the %d bytes that remain", l, len(v.p)-v.pos)
	}
	return int(l), nil
}

func (v *vetter) memoIndex(n int) (uint64, error) {
	if n == 0 {
		s, err := v.line()
		if err != nil {
			return 0, err
		}
		i, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return 0, fmt.Errorf("memo index %q: want a small non-negative integer", s)
		}
		return i, nil
	}
	b, err := v.take(n)
	if err != nil {
		return 0, err
	}
	if n == 1 {
		return uint64(b[0]), nil
	}
	return uint64(binary.LittleEndian.Uint32(b)), nil
}

func (v *vetter) global(module, name string) error {
	if !allowedGlobal(module, name) {
		return fmt.Errorf("refusing global %s.%s: not a tensor, storage or container type a checkpoint needs (nothing is executed)", module, name)
	}
	return nil
}

// pairs checks that a dict-building opcode got key/value pairs with
// hashable keys.
func pairs(items []slot) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("%d items for key/value pairs", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if items[i].kind == 'b' {
			return fmt.Errorf("a bytes dict key")
		}
	}
	return nil
}

// step checks one opcode and its arguments; stop reports STOP.
func (v *vetter) step(op byte) (stop bool, err error) {
	var s []slot
	switch op {
	case '(': // MARK
		if len(v.levels) > maxMarkDepth {
			return false, fmt.Errorf("MARKs nested deeper than %d", maxMarkDepth)
		}
		v.levels = append(v.levels, nil)
	case '.': // STOP
		if len(v.levels) != 1 {
			return false, fmt.Errorf("STOP inside a MARK")
		}
		_, err = v.pop(1)
		return err == nil, err
	case '0': // POP
		_, err = v.pop(1)
	case '1': // POP_MARK
		_, err = v.popMark()
	case '2': // DUP
		if s, err = v.pop(1); err == nil {
			v.push(s[0])
			v.push(s[0])
		}
	case 'F', 'I', 'L', 'S', 'V': // FLOAT, INT, LONG, STRING, UNICODE
		var l string
		if l, err = v.line(); err == nil {
			if op == 'L' && len(l) > 3*maxLongBytes {
				return false, fmt.Errorf("integer of %d digits", len(l))
			}
			v.push(slot{})
		}
	case 'J': // BININT
		_, err = v.take(4)
		v.push(slot{})
	case 'K': // BININT1
		_, err = v.take(1)
		v.push(slot{})
	case 'M': // BININT2
		_, err = v.take(2)
		v.push(slot{})
	case 'N', 0x88, 0x89, '}', ']', ')': // NONE, NEWTRUE, NEWFALSE, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE
		v.push(slot{})
	case 'G': // BINFLOAT
		_, err = v.take(8)
		v.push(slot{})
	case 'Q': // BINPERSID
		if _, err = v.pop(1); err == nil {
			v.push(slot{})
		}
	case 'R', 0x81: // REDUCE, NEWOBJ
		if _, err = v.pop(2); err == nil {
			v.push(slot{})
		}
	case 0x92: // NEWOBJ_EX
		if _, err = v.pop(3); err == nil {
			v.push(slot{})
		}
	case 'T', 'X', 'B': // BINSTRING, BINUNICODE, BINBYTES: 4-byte length
		err = v.counted(4, op)
	case 'U', 'C', 0x8c: // SHORT_BINSTRING, SHORT_BINBYTES, SHORT_BINUNICODE
		err = v.counted(1, op)
	case 0x8d, 0x8e, 0x96: // BINUNICODE8, BINBYTES8, BYTEARRAY8
		err = v.counted(8, op)
	case 0x8a, 0x8b: // LONG1, LONG4
		n := 1
		if op == 0x8b {
			n = 4
		}
		var l int
		if l, err = v.length(n); err == nil {
			if l < 1 || l > maxLongBytes {
				return false, fmt.Errorf("integer of %d bytes, want 1 to %d", l, maxLongBytes)
			}
			v.pos += l
			v.push(slot{})
		}
	case 'a': // APPEND
		if _, err = v.pop(2); err == nil {
			v.push(slot{})
		}
	case 'b': // BUILD
		if _, err = v.pop(2); err == nil {
			v.push(slot{})
		}
	case 's': // SETITEM
		if s, err = v.pop(3); err == nil {
			if err = pairs(s[1:]); err == nil {
				v.push(s[0])
			}
		}
	case 'd', 'u': // DICT, SETITEMS
		if s, err = v.popMark(); err == nil {
			if err = pairs(s); err == nil {
				if op == 'u' {
					_, err = v.pop(1)
				}
				v.push(slot{})
			}
		}
	case 'e': // APPENDS
		if _, err = v.popMark(); err == nil {
			if _, err = v.pop(1); err == nil {
				v.push(slot{})
			}
		}
	case 'l', 't': // LIST, TUPLE
		if _, err = v.popMark(); err == nil {
			v.push(slot{})
		}
	case 0x85, 0x86, 0x87: // TUPLE1, TUPLE2, TUPLE3
		if _, err = v.pop(int(op - 0x84)); err == nil {
			v.push(slot{})
		}
	case 'g', 'h', 'j': // GET, BINGET, LONG_BINGET
		var i uint64
		if i, err = v.memoIndex(argLen(op)); err == nil {
			m, ok := v.memo[i]
			if !ok {
				return false, fmt.Errorf("memo entry %d read before it is written", i)
			}
			v.push(m)
		}
	case 'p', 'q', 'r': // PUT, BINPUT, LONG_BINPUT
		var i uint64
		if i, err = v.memoIndex(argLen(op)); err == nil {
			err = v.memoize(i)
		}
	case 0x94: // MEMOIZE
		err = v.memoize(uint64(len(v.memo)))
	case 'c': // GLOBAL
		var module, name string
		if module, err = v.line(); err == nil {
			if name, err = v.line(); err == nil {
				if err = v.global(module, name); err == nil {
					v.push(slot{})
				}
			}
		}
	case 0x93: // STACK_GLOBAL
		if s, err = v.pop(2); err == nil {
			if s[0].kind != 's' || s[1].kind != 's' {
				return false, fmt.Errorf("STACK_GLOBAL with names that are not string constants")
			}
			if err = v.global(s[0].str, s[1].str); err == nil {
				v.push(slot{})
			}
		}
	case 0x80: // PROTO
		var b []byte
		if b, err = v.take(1); err == nil && b[0] > 5 {
			err = fmt.Errorf("pickle protocol %d, want at most 5", b[0])
		}
	case 0x95: // FRAME: a hint; the framed opcodes follow inline
		_, err = v.length(8)
	default:
		return false, fmt.Errorf("unsupported opcode (torch.save does not write it)")
	}
	return false, err
}

// counted checks a length-prefixed string or bytes argument; short strings
// are remembered as constants for STACK_GLOBAL.
func (v *vetter) counted(n int, op byte) error {
	l, err := v.length(n)
	if err != nil {
		return err
	}
	b := v.p[v.pos : v.pos+l]
	v.pos += l
	switch op {
	case 'B', 'C', 0x8e, 0x96:
		v.push(slot{kind: 'b'})
	default:
		if l <= 256 {
			v.push(slot{kind: 's', str: string(b)})
		} else {
			v.push(slot{})
		}
	}
	return nil
}

// argLen is the binary argument size of the memo opcodes (0: a text line).
func argLen(op byte) int {
	switch op {
	case 'h', 'q':
		return 1
	case 'j', 'r':
		return 4
	}
	return 0
}

func (v *vetter) memoize(i uint64) error {
	t := *v.top()
	if len(t) == 0 {
		return fmt.Errorf("memoizing an empty stack")
	}
	v.memo[i] = t[len(t)-1]
	return nil
}
