package weights

import "math"

// ---- IEEE 754 binary16 (F16) ----

// f16ToF32 widens a binary16 value exactly: normals, subnormals, signed
// zeros, infinities and NaNs (payload kept in the top mantissa bits).
func f16ToF32(h uint16) float32 { return math.Float32frombits(f16Bits(h)) }

// f16Bits is f16ToF32 as float32 bits.
func f16Bits(h uint16) uint32 {
	if f16IsNormal(h) {
		return f16NormalBits(h)
	}
	return f16BitsSpecial(h)
}

// f16IsNormal reports a normal binary16: exponent field 1..30 (by unsigned
// wrap-around). Normals, the common case, take f16NormalBits; both inline
// into loops, which call f16BitsSpecial only for the rest.
func f16IsNormal(h uint16) bool { return h&0x7c00-0x400 < 0x7800 }

// f16NormalBits widens a normal binary16: shift into place and rebias the
// exponent from 15 to 127.
func f16NormalBits(h uint16) uint32 {
	return uint32(h)&0x8000<<16 | uint32(h)&0x7fff<<13 + (127-15)<<23
}

// f16BitsSpecial is f16Bits for zeros, subnormals, infinities and NaNs.
func f16BitsSpecial(h uint16) uint32 {
	sign := uint32(h&0x8000) << 16
	mant := uint32(h & 0x3ff)
	switch {
	case h&0x7c00 != 0: // inf or NaN
		return sign | 0x7f800000 | mant<<13
	case mant == 0:
		return sign
	}
	// Subnormal: mant x 2^-24. Shift the leading 1 into the implicit bit
	// position; every binary16 subnormal is a float32 normal.
	e := uint32(127 - 15 + 1)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return sign | e<<23 | (mant&0x3ff)<<13
}

// f32ToF16 rounds to the nearest binary16, ties to even. Values of magnitude
// 65520 or more become infinity; NaNs stay NaNs with their top payload bits.
func f32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	// Results in the normal range (float32 exponents 113..142), the common
	// case, inline: rebias, then round to nearest even on the 13 dropped
	// bits; a carry into the exponent is correct, up to infinity.
	if r := b&0x7fffffff - (127-15)<<23; r-1<<23 < 30<<23 { // by unsigned wrap-around
		return uint16(b>>16)&0x8000 | uint16((r+0xfff+r>>13&1)>>13)
	}
	return f32ToF16Special(b)
}

func f32ToF16Special(b uint32) uint16 {
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		m := uint16(mant >> 13)
		if m == 0 {
			m = 0x200 // the payload was only in dropped bits: keep it a (quiet) NaN
		}
		return sign | 0x7c00 | m
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal result in units of 2^-24: (mant|implicit 1) x 2^(e-14).
		// Below e = -10 the value is under half the smallest subnormal.
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint(14 - e)
		r := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || rem == half && r&1 == 1 {
			r++ // may carry into the smallest normal, which is still correct
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || rem == 0x1000 && r&1 == 1 {
		r++ // a carry into the exponent is correct, up to infinity
	}
	return sign | uint16(r)
}

// f16Overflows reports whether a finite float32 rounds to infinity in F16:
// |f| >= 65520, the midpoint between 65504 (the largest finite binary16)
// and 65536, which ties to the even neighbour 65536 = infinity.
func f16Overflows(f float32) bool {
	a := math.Float32bits(f) & 0x7fffffff
	return a >= 0x477ff000 && a < 0x7f800000
}

// ---- bfloat16 (BF16): the top half of a float32 ----

// bf16ToF32 widens exactly.
func bf16ToF32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// f32ToBF16 rounds to the nearest bfloat16, ties to even. NaNs stay NaNs.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		h := uint16(b >> 16)
		if h&0x7f == 0 {
			h |= 0x40 // the payload was only in dropped bits: keep it a (quiet) NaN
		}
		return h
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// bf16Overflows reports whether a finite float32 rounds to infinity in BF16:
// magnitudes from the midpoint 0x7f7f8000 between the largest finite
// bfloat16 (0x7f7f, odd) and infinity (0x7f80, even) upwards.
func bf16Overflows(f float32) bool {
	a := math.Float32bits(f) & 0x7fffffff
	return a >= 0x7f7f8000 && a < 0x7f800000
}
