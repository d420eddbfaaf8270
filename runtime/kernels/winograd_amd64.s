//go:build amd64 && !purego

#include "textflag.h"
#include "transpose_amd64.h"

// ROWDOT sets dst = ((ka·G[i][0] + kb·G[i][1]) + kc·G[i][2]), G's row i at
// SI (each entry broadcast to four lanes), Y13 scratch: one row of G·g,
// four kernels wide (setWeights' tmp[i][q] = gi[0]*k[q] + gi[1]*k[3+q] +
// gi[2]*k[6+q]).
#define ROWDOT(ka, kb, kc, dst) \
	VMULPD 0(SI), ka, dst \
	VMULPD 32(SI), kb, Y13 \
	VADDPD Y13, dst, dst \
	VMULPD 64(SI), kc, Y13 \
	VADDPD Y13, dst, dst

// COL stores U[i][j] = (t0·G[j][0] + t1·G[j][1]) + t2·G[j][2] (t0, t1, t2 in
// Y12, Y14, Y15; G's row j at off(R9)) as four float32 at DX, then moves DX
// to the next plane.
#define COL(off) \
	VMULPD     off(R9), Y12, Y10 \
	VMULPD     off+32(R9), Y14, Y11 \
	VADDPD     Y11, Y10, Y10 \
	VMULPD     off+64(R9), Y15, Y11 \
	VADDPD     Y11, Y10, Y10 \
	VCVTPD2PSY Y10, X10 \
	VMOVUPS    X10, (DX) \
	ADDQ       BX, DX

// func winoWeightsF4x4(k *[9][4]float64, gb *[6][3][4]float64, u *float32, usz int)
TEXT ·winoWeightsF4x4(SB), NOSPLIT, $0-32
	MOVQ k+0(FP), AX
	MOVQ gb+8(FP), SI
	MOVQ u+16(FP), DX
	MOVQ usz+24(FP), BX
	SHLQ $2, BX // bytes between planes
	MOVQ SI, R9 // G's rows for the second product
	VMOVUPD 0(AX), Y0
	VMOVUPD 32(AX), Y1
	VMOVUPD 64(AX), Y2
	VMOVUPD 96(AX), Y3
	VMOVUPD 128(AX), Y4
	VMOVUPD 160(AX), Y5
	VMOVUPD 192(AX), Y6
	VMOVUPD 224(AX), Y7
	VMOVUPD 256(AX), Y8
	MOVQ $6, R8

rowloop:
	ROWDOT(Y0, Y3, Y6, Y12) // t0
	ROWDOT(Y1, Y4, Y7, Y14) // t1
	ROWDOT(Y2, Y5, Y8, Y15) // t2
	COL(0)
	COL(96)
	COL(192)
	COL(288)
	COL(384)
	COL(480)
	ADDQ $96, SI
	DECQ R8
	JNZ  rowloop
	VZEROUPPER
	RET

// COL2 stores U[i][j] = t0·G[j][0] + t1·G[j][1] (t0, t1 in Y12, Y14; G's row
// j at off(R9), 3×4 float64 of which 2 are used) as four float32 at DX,
// then moves DX to the next plane.
#define COL2(off) \
	VMULPD     off(R9), Y12, Y10 \
	VMULPD     off+32(R9), Y14, Y11 \
	VADDPD     Y11, Y10, Y10 \
	VCVTPD2PSY Y10, X10 \
	VMOVUPS    X10, (DX) \
	ADDQ       BX, DX

// func winoWeightsF42x4(k *[4][4]float64, gb *[6][3][4]float64, u *float32, usz int)
//
// setWeights' r = 2 loop: tmp[i][0] = gi[0]·k00 + gi[1]·k10, tmp[i][1] =
// gi[0]·k01 + gi[1]·k11, U[i][j] = tmp[i][0]·g[j][0] + tmp[i][1]·g[j][1].
TEXT ·winoWeightsF42x4(SB), NOSPLIT, $0-32
	MOVQ    k+0(FP), AX
	MOVQ    gb+8(FP), SI
	MOVQ    u+16(FP), DX
	MOVQ    usz+24(FP), BX
	SHLQ    $2, BX
	MOVQ    SI, R9
	VMOVUPD 0(AX), Y0  // k00
	VMOVUPD 32(AX), Y1 // k01
	VMOVUPD 64(AX), Y2 // k10
	VMOVUPD 96(AX), Y3 // k11
	MOVQ    $5, R8

rowloop2:
	VMULPD 0(SI), Y0, Y12
	VMULPD 32(SI), Y2, Y13
	VADDPD Y13, Y12, Y12
	VMULPD 0(SI), Y1, Y14
	VMULPD 32(SI), Y3, Y13
	VADDPD Y13, Y14, Y14
	COL2(0)
	COL2(96)
	COL2(192)
	COL2(288)
	COL2(384)
	ADDQ $96, SI
	DECQ R8
	JNZ  rowloop2
	VZEROUPPER
	RET

// Input transforms of eight tiles at once. First Bᵀ d for each tile, one
// column j per float32 lane (eight floats of each patch row are loaded, two
// or three past the patch: the padded planes have slack), into tmp[i][t];
// then, row by row, the eight tiles' tmp rows are transposed (one tile per
// lane) and go through the row transform; each V[ξ] is stored as two halves
// of four lanes, at vlo and vhi (two B panels of nr = 4 tiles), planes vsz
// floats apart. The products and sums are bt6's and bt5's, in their order
// and without fused multiply-adds, so the results are bit for bit the Go
// transform's (doubling as x+x and a + (-b) as a - b are exact rewrites).
// (Gathering one column of the eight patches per instruction was 2.4x
// slower on the work machine's CPU.)

// BT6 is bt6 of Y0..Y5 (Y11 = 4, Y12 = 5 in every lane): y0..y5 in
// Y6, Y8, Y9, Y10, Y13, Y7.
#define BT6 \
	VMULPS Y11, Y0, Y6 \
	VMULPS Y12, Y2, Y7 \
	VSUBPS Y7, Y6, Y6 \
	VADDPS Y4, Y6, Y6 \
	VMULPS Y11, Y1, Y7 \
	VMULPS Y12, Y3, Y8 \
	VSUBPS Y8, Y7, Y7 \
	VADDPS Y5, Y7, Y7 \
	VADDPS Y2, Y1, Y8 \
	VMULPS Y11, Y8, Y8 \
	VSUBPS Y8, Y3, Y8 \
	VADDPS Y4, Y8, Y8 \
	VSUBPS Y2, Y1, Y9 \
	VMULPS Y11, Y9, Y9 \
	VSUBPS Y3, Y9, Y9 \
	VADDPS Y4, Y9, Y9 \
	VSUBPS Y1, Y3, Y10 \
	VADDPS Y10, Y10, Y10 \
	VSUBPS Y2, Y10, Y10 \
	VADDPS Y4, Y10, Y10 \
	VSUBPS Y3, Y1, Y13 \
	VADDPS Y13, Y13, Y13 \
	VSUBPS Y2, Y13, Y13 \
	VADDPS Y4, Y13, Y13

// BT5 is bt5 of Y0..Y4 (Y12 = 3 in every lane): y0..y4 in Y6, Y8, Y9,
// Y10, Y13.
//   y0 = 2(x0-x2) - x1 + x3, y1 = x3 - 2x1 - x2, y2 = 2x1 - 3x2 + x3,
//   y3 = x3 - x1, y4 = 2(x1-x3) - x2 + x4
#define BT5 \
	VSUBPS Y2, Y0, Y6 \
	VADDPS Y6, Y6, Y6 \
	VSUBPS Y1, Y6, Y6 \
	VADDPS Y3, Y6, Y6 \
	VADDPS Y1, Y1, Y7 \
	VSUBPS Y7, Y3, Y8 \
	VSUBPS Y2, Y8, Y8 \
	VMULPS Y12, Y2, Y9 \
	VSUBPS Y9, Y7, Y9 \
	VADDPS Y3, Y9, Y9 \
	VSUBPS Y1, Y3, Y10 \
	VSUBPS Y3, Y1, Y13 \
	VADDPS Y13, Y13, Y13 \
	VSUBPS Y2, Y13, Y13 \
	VADDPS Y4, Y13, Y13

// ROWS loads n (5 or 6) rows of eight floats of tile t's patch into
// Y0..Y(n-1): the patch starts at R10 + 4·idx[t] (idx at SI), rows BX
// bytes apart (the loops call it with t = 0, moving SI).
#define ROWS5(t) \
	MOVLQSX (t*4)(SI), R11 \
	LEAQ    (R10)(R11*4), R11 \
	LEAQ    (R11)(BX*2), R12 \
	VMOVUPS (R11), Y0 \
	VMOVUPS (R11)(BX*1), Y1 \
	VMOVUPS (R12), Y2 \
	VMOVUPS (R12)(BX*1), Y3 \
	VMOVUPS (R12)(BX*2), Y4

#define ROWS6(t) \
	ROWS5(t) \
	LEAQ    (R12)(BX*2), R13 \
	VMOVUPS (R13)(BX*1), Y5

// TMP stores Bᵀ d of tile t (rows y0..y(n-1) of BT6 or BT5) at
// tmp[i][t], R8 + i·256 + t·32 (called with t = 0, moving R8).
#define TMP5(t) \
	VMOVUPS Y6, (t*32)(R8) \
	VMOVUPS Y8, (t*32+256)(R8) \
	VMOVUPS Y9, (t*32+512)(R8) \
	VMOVUPS Y10, (t*32+768)(R8) \
	VMOVUPS Y13, (t*32+1024)(R8)

#define TMP6(t) \
	TMP5(t) \
	VMOVUPS Y7, (t*32+1280)(R8)

// HALVES loads four floats of tile t (at off(R8)) and of tile t+4 (at
// off+128(R8)) into the low and high halves of y (x: its low half).
#define HALVES(off, x, y) \
	VMOVUPS     off(R8), x \
	VINSERTF128 $1, off+128(R8), y, y

// COLS4 transposes columns 0..3 of the eight tmp rows at R8 (tile t at
// R8 + 32t) into Y0..Y3, one tile per lane: each 128-bit half holds four
// tiles (0..3 low, 4..7 high), transposed 4×4 by unpacks and shuffles.
#define COLS4 \
	HALVES(0, X0, Y0) \
	HALVES(32, X1, Y1) \
	HALVES(64, X2, Y2) \
	HALVES(96, X3, Y3) \
	TRANSPOSE4(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3)

// COLS4TH adds column 4 (Y4), COLS45 columns 4 and 5 (Y4, Y5).
#define COLS4TH \
	HALVES(16, X4, Y4) \
	HALVES(48, X5, Y5) \
	HALVES(80, X6, Y6) \
	HALVES(112, X7, Y7) \
	VUNPCKLPS Y5, Y4, Y8 \
	VUNPCKLPS Y7, Y6, Y9 \
	VSHUFPS   $0x44, Y9, Y8, Y4

#define COLS45 \
	COLS4TH \
	VSHUFPS $0xee, Y9, Y8, Y5

// PUT stores the eight lanes of src (lo: its low half) as V[ξ] (low four
// at DX, high four at DI) and moves both to the next plane.
#define PUT(src, lo) \
	VMOVUPS      lo, (DX) \
	VEXTRACTF128 $1, src, X14 \
	VMOVUPS      X14, (DI) \
	ADDQ         CX, DX \
	ADDQ         CX, DI

// func winoInputx8(base *float32, idx *[8]int32, wp int, vlo, vhi *float32, vsz int, tmp *[48][8]float32, a int)
TEXT ·winoInputx8(SB), NOSPLIT, $0-64
	MOVQ    base+0(FP), R10
	MOVQ    idx+8(FP), SI
	MOVQ    wp+16(FP), BX
	SHLQ    $2, BX
	MOVQ    vlo+24(FP), DX
	MOVQ    vhi+32(FP), DI
	MOVQ    vsz+40(FP), CX
	SHLQ    $2, CX
	MOVQ    tmp+48(FP), R8
	MOVQ    a+56(FP), AX
	MOVQ    $8, R9
	CMPQ    AX, $6
	JNE     f42

	MOVL         $0x40800000, AX // 4
	VMOVD        AX, X11
	VBROADCASTSS X11, Y11
	MOVL         $0x40a00000, AX // 5
	VMOVD        AX, X12
	VBROADCASTSS X12, Y12

tiles6: // Bᵀ d of each tile into tmp[i][t]
	ROWS6(0)
	BT6
	TMP6(0)
	ADDQ $4, SI
	ADDQ $32, R8
	DECQ R9
	JNZ  tiles6
	SUBQ $256, R8
	MOVQ $6, R9

rows6:
	COLS4
	COLS45
	BT6
	PUT(Y6, X6)
	PUT(Y8, X8)
	PUT(Y9, X9)
	PUT(Y10, X10)
	PUT(Y13, X13)
	PUT(Y7, X7)
	ADDQ $256, R8
	DECQ R9
	JNZ  rows6
	VZEROUPPER
	RET

f42:
	MOVL         $0x40400000, AX // 3
	VMOVD        AX, X12
	VBROADCASTSS X12, Y12

tiles5:
	ROWS5(0)
	BT5
	TMP5(0)
	ADDQ $4, SI
	ADDQ $32, R8
	DECQ R9
	JNZ  tiles5
	SUBQ $256, R8
	MOVQ $5, R9

rows5:
	COLS4
	COLS4TH
	BT5
	PUT(Y6, X6)
	PUT(Y8, X8)
	PUT(Y9, X9)
	PUT(Y10, X10)
	PUT(Y13, X13)
	ADDQ $256, R8
	DECQ R9
	JNZ  rows5
	VZEROUPPER
	RET

// Output transforms of eight tiles at once, one per float32 lane: M[ξ] of
// eight consecutive tiles is eight consecutive floats of plane ξ (planes
// msz floats apart). Aᵀ M goes through tmp (tmp[r][j] at 32·(6r + j)),
// then each row r of Aᵀ M A is transposed into the tiles' own 4×4 blocks,
// y[t][4r + c]. The operations are at6's and at5's, in their order and
// without fused multiply-adds (2x as x+x; 4x and 8x are exact products),
// so the results are bit for bit transformF4's and transformF42's.

// AT6 is at6 of Y0..Y5 (Y14 = 4, Y15 = 8): y0..y3 in Y10..Y13.
#define AT6 \
	VADDPS Y2, Y1, Y6 \
	VSUBPS Y2, Y1, Y7 \
	VADDPS Y4, Y3, Y8 \
	VSUBPS Y4, Y3, Y9 \
	VADDPS Y6, Y0, Y10 \
	VADDPS Y8, Y10, Y10 \
	VADDPS Y9, Y9, Y11 \
	VADDPS Y11, Y7, Y11 \
	VMULPS Y14, Y8, Y12 \
	VADDPS Y12, Y6, Y12 \
	VMULPS Y15, Y9, Y13 \
	VADDPS Y13, Y7, Y13 \
	VADDPS Y5, Y13, Y13

// AT5 is at5 of Y0..Y4 (Y14 = 4, Y15 = 8): y0..y3 in Y10..Y13.
#define AT5 \
	VADDPS Y2, Y1, Y6 \
	VSUBPS Y2, Y1, Y7 \
	VADDPS Y6, Y0, Y10 \
	VADDPS Y3, Y10, Y10 \
	VADDPS Y3, Y3, Y11 \
	VADDPS Y11, Y7, Y11 \
	VMULPS Y14, Y3, Y12 \
	VADDPS Y12, Y6, Y12 \
	VMULPS Y15, Y3, Y13 \
	VADDPS Y13, Y7, Y13 \
	VADDPS Y4, Y13, Y13

// MCOL loads column j of M (rows i at R9 + i·R10) into Y0..Y(a-1).
#define MCOL5 \
	MOVQ    R9, R11 \
	VMOVUPS (R11), Y0 \
	ADDQ    R10, R11 \
	VMOVUPS (R11), Y1 \
	ADDQ    R10, R11 \
	VMOVUPS (R11), Y2 \
	ADDQ    R10, R11 \
	VMOVUPS (R11), Y3 \
	ADDQ    R10, R11 \
	VMOVUPS (R11), Y4

#define MCOL6 \
	MCOL5 \
	ADDQ    R10, R11 \
	VMOVUPS (R11), Y5

// TCOL stores Aᵀ M's column (Y10..Y13, rows 0..3) at tmp[r][0] + R8.
#define TCOL \
	VMOVUPS Y10, 0(R8) \
	VMOVUPS Y11, 192(R8) \
	VMOVUPS Y12, 384(R8) \
	VMOVUPS Y13, 576(R8)

// YROW transposes row r of the eight tiles' outputs (Y10..Y13: columns
// 0..3, one tile per lane) into y[t][4r..4r+3] at DI (already + 16r).
#define YROW \
	TRANSPOSE4(Y10, Y11, Y12, Y13, Y0, Y2, Y1, Y3, Y4, Y5, Y6, Y7) \
	VMOVUPS      X4, 0(DI) \
	VEXTRACTF128 $1, Y4, 256(DI) \
	VMOVUPS      X5, 64(DI) \
	VEXTRACTF128 $1, Y5, 320(DI) \
	VMOVUPS      X6, 128(DI) \
	VEXTRACTF128 $1, Y6, 384(DI) \
	VMOVUPS      X7, 192(DI) \
	VEXTRACTF128 $1, Y7, 448(DI)

// OUTSETUP loads the constants 4 and 8 into Y14, Y15.
#define OUTSETUP \
	MOVL         $0x40800000, AX \
	VMOVD        AX, X14 \
	VBROADCASTSS X14, Y14 \
	MOVL         $0x41000000, AX \
	VMOVD        AX, X15 \
	VBROADCASTSS X15, Y15

// func winoOutputx8(m *float32, msz int, y *[8][16]float32, tmp *[24][8]float32, a int)
TEXT ·winoOutputx8(SB), NOSPLIT, $0-40
	MOVQ m+0(FP), R9
	MOVQ msz+8(FP), BX
	SHLQ $2, BX         // bytes between planes
	MOVQ y+16(FP), DI
	MOVQ tmp+24(FP), R8
	MOVQ a+32(FP), CX
	MOVQ R8, DX
	OUTSETUP
	MOVQ CX, AX
	IMULQ BX, AX
	MOVQ AX, R10        // a planes: one row of M
	CMPQ CX, $6
	JNE  cols5

cols6:
	MCOL6
	AT6
	TCOL
	ADDQ BX, R9
	ADDQ $32, R8
	DECQ CX
	JNZ  cols6
	MOVQ DX, R8
	MOVQ $4, CX

rows6o:
	VMOVUPS 0(R8), Y0
	VMOVUPS 32(R8), Y1
	VMOVUPS 64(R8), Y2
	VMOVUPS 96(R8), Y3
	VMOVUPS 128(R8), Y4
	VMOVUPS 160(R8), Y5
	AT6
	YROW
	ADDQ $192, R8
	ADDQ $16, DI
	DECQ CX
	JNZ  rows6o
	VZEROUPPER
	RET

cols5:
	MCOL5
	AT5
	TCOL
	ADDQ BX, R9
	ADDQ $32, R8
	DECQ CX
	JNZ  cols5
	MOVQ DX, R8
	MOVQ $4, CX

rows5o:
	VMOVUPS 0(R8), Y0
	VMOVUPS 32(R8), Y1
	VMOVUPS 64(R8), Y2
	VMOVUPS 96(R8), Y3
	VMOVUPS 128(R8), Y4
	AT5
	YROW
	ADDQ $192, R8
	ADDQ $16, DI
	DECQ CX
	JNZ  rows5o
	VZEROUPPER
	RET
