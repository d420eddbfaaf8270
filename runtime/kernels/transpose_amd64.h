// TRANSPOSE4 transposes, in each 128-bit half on its own, the 4×4 block
// whose rows are r0..r3 into columns c0..c3 (c_j[i] = r_i[j]); t0..t3 are
// scratch. The c may reuse the r: every read of an r comes first.
#define TRANSPOSE4(r0, r1, r2, r3, t0, t1, t2, t3, c0, c1, c2, c3) \
	VUNPCKLPS r1, r0, t0 \
	VUNPCKHPS r1, r0, t1 \
	VUNPCKLPS r3, r2, t2 \
	VUNPCKHPS r3, r2, t3 \
	VSHUFPS   $0x44, t2, t0, c0 \
	VSHUFPS   $0xee, t2, t0, c1 \
	VSHUFPS   $0x44, t3, t1, c2 \
	VSHUFPS   $0xee, t3, t1, c3
