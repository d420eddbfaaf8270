package weights

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// refF16 decodes binary16 from the IEEE definition in float64, independently
// of the bit manipulation in f16ToF32.
func refF16(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return s * math.Ldexp(m, -24)
	case 31:
		if m == 0 {
			return math.Inf(int(s))
		}
		return math.NaN()
	}
	return s * math.Ldexp(1+m/1024, e-15)
}

func TestF16ToF32AllValues(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := f16ToF32(h)
		want := refF16(h)
		if math.IsNaN(want) {
			// A NaN keeps its sign and payload in the top mantissa bits.
			b := math.Float32bits(got)
			if !math.IsNaN(float64(got)) || uint16(b>>16)&0x8000 != h&0x8000 || uint16(b>>13)&0x3ff != h&0x3ff {
				t.Fatalf("f16ToF32(%#04x) = %#08x, want NaN with the same sign and payload", h, b)
			}
			continue
		}
		if math.Float32bits(got) != math.Float32bits(float32(want)) {
			t.Fatalf("f16ToF32(%#04x) = %g (%#08x), want %g", h, got, math.Float32bits(got), want)
		}
	}
}

func TestF16RoundTripIsIdentity(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		if got := f32ToF16(f16ToF32(uint16(i))); got != uint16(i) {
			t.Fatalf("f32ToF16(f16ToF32(%#04x)) = %#04x", i, got)
		}
	}
}

// f16Ladder is every non-negative finite binary16 value in increasing order
// (index = bit pattern), followed by 65536, the value infinity stands for
// when rounding.
func f16Ladder() []float64 {
	l := make([]float64, 0x7c01)
	for h := range 0x7c00 {
		l[h] = refF16(uint16(h))
	}
	l[0x7c00] = 65536
	return l
}

// refF32ToF16 rounds to nearest, ties to even, by searching the ladder.
func refF32ToF16(ladder []float64, f float32) uint16 {
	x := float64(f)
	var sign uint16
	if math.Signbit(x) {
		sign, x = 0x8000, -x
	}
	if math.IsInf(x, 0) {
		return sign | 0x7c00
	}
	i := sort.SearchFloat64s(ladder, x) // ladder[i-1] < x <= ladder[i]
	if i == len(ladder) {
		return sign | 0x7c00
	}
	if ladder[i] == x || i == 0 {
		return sign | uint16(i)
	}
	lo, hi := x-ladder[i-1], ladder[i]-x
	if lo < hi || lo == hi && (i-1)%2 == 0 {
		return sign | uint16(i-1)
	}
	return sign | uint16(i)
}

func TestF32ToF16RoundsToNearestEven(t *testing.T) {
	ladder := f16Ladder()
	check := func(f float32) {
		t.Helper()
		if got, want := f32ToF16(f), refF32ToF16(ladder, f); got != want {
			t.Fatalf("f32ToF16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
		if got := f16Overflows(f); got != (f32ToF16(f)&0x7fff == 0x7c00 && !math.IsInf(float64(f), 0)) {
			t.Fatalf("f16Overflows(%g) = %v", f, got)
		}
	}
	// Every midpoint between neighbours (a tie) and the float32 values on
	// either side of it, for both signs.
	for h := 0; h < 0x7c00; h++ {
		mid := float32((ladder[h] + ladder[h+1]) / 2) // exact: 12 significant bits
		for _, f := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, 1e30), float32(ladder[h])} {
			check(f)
			check(-f)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 18 {
		f := math.Float32frombits(rng.Uint32())
		if math.IsNaN(float64(f)) {
			continue
		}
		check(f)
		// Also concentrate on the f16 range.
		check(float32(rng.NormFloat64() * math.Pow(2, float64(rng.IntN(40)-25))))
	}
	for _, f := range []float32{0, 65504, 65519.996, 65520, 65536, math.MaxFloat32, 1e-8, 2.9802322e-08, 2.9802326e-08} {
		check(f)
		check(-f)
	}
}

func TestF32ToF16KeepsNaN(t *testing.T) {
	for _, b := range []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0x7f801fff, 0x7fa00000, 0xff800001} {
		h := f32ToF16(math.Float32frombits(b))
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 || h&0x8000 != uint16(b>>16)&0x8000 {
			t.Errorf("f32ToF16(NaN %#08x) = %#04x, not a NaN of the same sign", b, h)
		}
	}
}

// refF32ToBF16 rounds to nearest, ties to even, comparing the two bfloat16
// neighbours in float64 (infinity counts as 2^128 when rounding).
func refF32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	a := b & 0x7fffffff
	if a >= 0x7f800000 {
		return uint16(b >> 16)
	}
	lo := a &^ 0xffff
	value := func(bits uint32) float64 {
		if bits == 0x7f800000 {
			return math.Ldexp(1, 128)
		}
		return float64(math.Float32frombits(bits))
	}
	x, l, h := value(a), value(lo), value(lo+0x10000)
	if x-l < h-x || x-l == h-x && (lo>>16)%2 == 0 {
		return sign | uint16(lo>>16)
	}
	return sign | uint16((lo+0x10000)>>16)
}

func TestBF16(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := bf16ToF32(h)
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("bf16ToF32(%#04x) = %#08x", h, math.Float32bits(f))
		}
		if got := f32ToBF16(f); got != h {
			t.Fatalf("f32ToBF16(bf16ToF32(%#04x)) = %#04x", h, got)
		}
	}
	check := func(f float32) {
		t.Helper()
		if got, want := f32ToBF16(f), refF32ToBF16(f); got != want {
			t.Fatalf("f32ToBF16(%g = %#08x) = %#04x, want %#04x", f, math.Float32bits(f), got, want)
		}
		if got := bf16Overflows(f); got != (f32ToBF16(f)&0x7fff == 0x7f80 && !math.IsInf(float64(f), 0)) {
			t.Fatalf("bf16Overflows(%g) = %v", f, got)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 1 << 18 {
		b := rng.Uint32()
		if b&0x7fffffff > 0x7f800000 {
			continue
		}
		check(math.Float32frombits(b))
		check(math.Float32frombits(b&^0xffff | 0x8000)) // a tie
	}
	for _, b := range []uint32{0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0x3f808000, 0x3f818000, 0x00008000, 0x00018000} {
		check(math.Float32frombits(b))
		check(math.Float32frombits(b | 0x80000000))
	}
	for _, b := range []uint32{0x7fc00000, 0x7f800001, 0xff80ffff, 0x7fc0ffff} {
		h := f32ToBF16(math.Float32frombits(b))
		if h&0x7f80 != 0x7f80 || h&0x7f == 0 || h&0x8000 != uint16(b>>16)&0x8000 {
			t.Errorf("f32ToBF16(NaN %#08x) = %#04x, not a NaN of the same sign", b, h)
		}
	}
}
