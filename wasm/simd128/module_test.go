package simd128

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestModuleLayout walks the module's sections: the header, ids in the
// order the spec requires, and lengths that add up to the whole file
// (node's WebAssembly.validate checks the rest in the js tests).
func TestModuleLayout(t *testing.T) {
	m := Module()
	if !bytes.HasPrefix(m, []byte("\x00asm\x01\x00\x00\x00")) {
		t.Fatalf("module header % x", m[:8])
	}
	var ids []byte
	for p := 8; p < len(m); {
		id := m[p]
		p++
		size, n := readU32(m[p:])
		if n == 0 || p+n+int(size) > len(m) {
			t.Fatalf("section %d at %d: bad length", id, p-1)
		}
		ids = append(ids, id)
		p += n + int(size)
	}
	if want := []byte{1, 2, 3, 6, 7, 10}; !bytes.Equal(ids, want) {
		t.Fatalf("sections %v, want %v", ids, want)
	}
}

func TestLEB128(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 300, 1 << 20, 1<<32 - 1} {
		got, n := readU32(appendU32(nil, v))
		if got != v || n == 0 {
			t.Fatalf("u32 %d round-trips to %d", v, got)
		}
	}
	for v, want := range map[int32]string{0: "00", 2: "02", -1: "7f", 63: "3f", 64: "c000", -64: "40", -65: "bf7f", 1000: "e807"} {
		if got := hex.EncodeToString(appendS32(nil, v)); got != want {
			t.Fatalf("s32 %d encodes as %s, want %s", v, got, want)
		}
	}
}

func readU32(b []byte) (uint32, int) {
	var v uint32
	for i := 0; i < len(b) && i < 5; i++ {
		v |= uint32(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
