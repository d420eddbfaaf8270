//go:build amd64 && !purego

#include "textflag.h"

// func microSSE(a, b []float32, t *[32]float32)
//
// X6..X9 accumulate rows 0-3 and X10..X13 rows 4-7 of columns 0..3;
// X0, X1 hold A's rows 0-3 and 4-7 at step p; X2 is B[p][j] broadcast.
TEXT ·microSSE(SB), NOSPLIT, $0-56
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), AX
	MOVQ b_base+24(FP), DI
	MOVQ b_len+32(FP), CX
	SHRQ $3, AX
	SHRQ $2, CX
	CMPQ AX, CX
	CMOVQLT AX, CX // k = min(len(a)/8, len(b)/4)
	XORPS X6, X6
	XORPS X7, X7
	XORPS X8, X8
	XORPS X9, X9
	XORPS X10, X10
	XORPS X11, X11
	XORPS X12, X12
	XORPS X13, X13
	TESTQ CX, CX
	JEQ   done

loop:
	MOVUPS (SI), X0
	MOVUPS 16(SI), X1

	MOVSS  (DI), X2
	SHUFPS $0, X2, X2
	MOVAPS X2, X3
	MULPS  X0, X3
	ADDPS  X3, X6
	MULPS  X1, X2
	ADDPS  X2, X10

	MOVSS  4(DI), X2
	SHUFPS $0, X2, X2
	MOVAPS X2, X3
	MULPS  X0, X3
	ADDPS  X3, X7
	MULPS  X1, X2
	ADDPS  X2, X11

	MOVSS  8(DI), X2
	SHUFPS $0, X2, X2
	MOVAPS X2, X3
	MULPS  X0, X3
	ADDPS  X3, X8
	MULPS  X1, X2
	ADDPS  X2, X12

	MOVSS  12(DI), X2
	SHUFPS $0, X2, X2
	MOVAPS X2, X3
	MULPS  X0, X3
	ADDPS  X3, X9
	MULPS  X1, X2
	ADDPS  X2, X13

	ADDQ $32, SI
	ADDQ $16, DI
	DECQ CX
	JNE  loop

done:
	MOVQ t+48(FP), DX

	// Columns X6..X9 (rows 0-3) to rows: a 4×4 transpose.
	MOVAPS   X6, X0
	UNPCKLPS X7, X0  // c0[0] c1[0] c0[1] c1[1]
	MOVAPS   X8, X1
	UNPCKLPS X9, X1  // c2[0] c3[0] c2[1] c3[1]
	UNPCKHPS X7, X6  // c0[2] c1[2] c0[3] c1[3]
	UNPCKHPS X9, X8  // c2[2] c3[2] c2[3] c3[3]
	MOVAPS   X0, X2
	MOVLHPS  X1, X2  // row 0
	MOVHLPS  X0, X1  // row 1
	MOVAPS   X6, X3
	MOVLHPS  X8, X3  // row 2
	MOVHLPS  X6, X8  // row 3
	MOVUPS   X2, 0(DX)
	MOVUPS   X1, 16(DX)
	MOVUPS   X3, 32(DX)
	MOVUPS   X8, 48(DX)

	// Rows 4-7 from X10..X13.
	MOVAPS   X10, X0
	UNPCKLPS X11, X0
	MOVAPS   X12, X1
	UNPCKLPS X13, X1
	UNPCKHPS X11, X10
	UNPCKHPS X13, X12
	MOVAPS   X0, X2
	MOVLHPS  X1, X2
	MOVHLPS  X0, X1
	MOVAPS   X10, X3
	MOVLHPS  X12, X3
	MOVHLPS  X10, X12
	MOVUPS   X2, 64(DX)
	MOVUPS   X1, 80(DX)
	MOVUPS   X3, 96(DX)
	MOVUPS   X12, 112(DX)
	RET
