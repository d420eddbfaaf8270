//go:build amd64 && !purego

#include "textflag.h"
#include "transpose_amd64.h"

// FMATILE accumulates the 8×4 tile of the panels at SI (k×8) and DI (k×4),
// CX steps of k, into the columns Y0..Y3 (column q: rows 0-7 of C[:, q]).
// Even steps of k sum into Y0..Y3 and odd ones into Y4..Y7 (two chains per
// column hide the FMA latency), added at the end. Y8, Y9 hold A's rows at
// two steps; Y10..Y13 are B values broadcast. At the end Y12..Y15 hold
// rows 0..3 of the tile in their low halves and rows 4..7 in their high.
#define FMATILE \
	VXORPS Y0, Y0, Y0 \
	VXORPS Y1, Y1, Y1 \
	VXORPS Y2, Y2, Y2 \
	VXORPS Y3, Y3, Y3 \
	VXORPS Y4, Y4, Y4 \
	VXORPS Y5, Y5, Y5 \
	VXORPS Y6, Y6, Y6 \
	VXORPS Y7, Y7, Y7 \
	MOVQ   CX, DX \
	SHRQ   $1, DX \
	JZ     tail \
pair: \
	VMOVUPS      (SI), Y8 \
	VMOVUPS      32(SI), Y9 \
	VBROADCASTSS (DI), Y10 \
	VBROADCASTSS 4(DI), Y11 \
	VFMADD231PS  Y10, Y8, Y0 \
	VFMADD231PS  Y11, Y8, Y1 \
	VBROADCASTSS 8(DI), Y12 \
	VBROADCASTSS 12(DI), Y13 \
	VFMADD231PS  Y12, Y8, Y2 \
	VFMADD231PS  Y13, Y8, Y3 \
	VBROADCASTSS 16(DI), Y10 \
	VBROADCASTSS 20(DI), Y11 \
	VFMADD231PS  Y10, Y9, Y4 \
	VFMADD231PS  Y11, Y9, Y5 \
	VBROADCASTSS 24(DI), Y12 \
	VBROADCASTSS 28(DI), Y13 \
	VFMADD231PS  Y12, Y9, Y6 \
	VFMADD231PS  Y13, Y9, Y7 \
	ADDQ         $64, SI \
	ADDQ         $32, DI \
	DECQ         DX \
	JNZ          pair \
tail: \
	TESTQ $1, CX \
	JZ    sum \
	VMOVUPS      (SI), Y8 \
	VBROADCASTSS (DI), Y10 \
	VBROADCASTSS 4(DI), Y11 \
	VBROADCASTSS 8(DI), Y12 \
	VBROADCASTSS 12(DI), Y13 \
	VFMADD231PS  Y10, Y8, Y0 \
	VFMADD231PS  Y11, Y8, Y1 \
	VFMADD231PS  Y12, Y8, Y2 \
	VFMADD231PS  Y13, Y8, Y3 \
sum: \
	VADDPS Y4, Y0, Y0 \
	VADDPS Y5, Y1, Y1 \
	VADDPS Y6, Y2, Y2 \
	VADDPS Y7, Y3, Y3 \
	TRANSPOSE4(Y0, Y1, Y2, Y3, Y8, Y10, Y9, Y11, Y12, Y13, Y14, Y15)

// KSTEPS sets CX = min(len(a)/8, len(b)/4) from the a and b slice headers.
#define KSTEPS \
	MOVQ    a_base+0(FP), SI \
	MOVQ    a_len+8(FP), AX \
	MOVQ    b_base+24(FP), DI \
	MOVQ    b_len+32(FP), CX \
	SHRQ    $3, AX \
	SHRQ    $2, CX \
	CMPQ    AX, CX \
	CMOVQLT AX, CX

// func microFMA(a, b []float32, t *[32]float32)
TEXT ·microFMA(SB), NOSPLIT, $0-56
	KSTEPS
	FMATILE
	MOVQ         t+48(FP), DX
	VMOVUPS      X12, 0(DX)
	VMOVUPS      X13, 16(DX)
	VMOVUPS      X14, 32(DX)
	VMOVUPS      X15, 48(DX)
	VEXTRACTF128 $1, Y12, 64(DX)
	VEXTRACTF128 $1, Y13, 80(DX)
	VEXTRACTF128 $1, Y14, 96(DX)
	VEXTRACTF128 $1, Y15, 112(DX)
	VZEROUPPER
	RET

// func microFMAC(a, b, c []float32, ldc int, add bool)
//
// Row r of the tile goes to c[r·ldc:], added to it when add.
TEXT ·microFMAC(SB), NOSPLIT, $0-81
	KSTEPS
	FMATILE
	MOVQ    c_base+48(FP), DX
	MOVQ    ldc+72(FP), R8
	SHLQ    $2, R8                // row stride in bytes
	LEAQ    (R8)(R8*2), R10       // 3 rows
	LEAQ    (DX)(R8*4), R9        // row 4
	VEXTRACTF128 $1, Y12, X4
	VEXTRACTF128 $1, Y13, X5
	VEXTRACTF128 $1, Y14, X6
	VEXTRACTF128 $1, Y15, X7
	MOVBLZX add+80(FP), AX
	TESTL   AX, AX
	JZ      store
	VADDPS  (DX), X12, X12
	VADDPS  (DX)(R8*1), X13, X13
	VADDPS  (DX)(R8*2), X14, X14
	VADDPS  (DX)(R10*1), X15, X15
	VADDPS  (R9), X4, X4
	VADDPS  (R9)(R8*1), X5, X5
	VADDPS  (R9)(R8*2), X6, X6
	VADDPS  (R9)(R10*1), X7, X7

store:
	VMOVUPS X12, (DX)
	VMOVUPS X13, (DX)(R8*1)
	VMOVUPS X14, (DX)(R8*2)
	VMOVUPS X15, (DX)(R10*1)
	VMOVUPS X4, (R9)
	VMOVUPS X5, (R9)(R8*1)
	VMOVUPS X6, (R9)(R8*2)
	VMOVUPS X7, (R9)(R10*1)
	VZEROUPPER
	RET

// func cpuid(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv0() (eax, edx uint32)
TEXT ·xgetbv0(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
