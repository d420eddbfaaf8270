//go:build amd64 && !purego

#include "textflag.h"

// func gemm64FMA(kb int, a *float64, sai, sap int, b *float64, ldb int, c *float64, ldc int)
//
// Y0,Y1 .. Y6,Y7 accumulate rows 0..3 (columns 0-3 and 4-7); R8..R11 walk
// A's four rows, BX walks B's rows; Y8, Y9 hold B[p, 0:8], Y10..Y13 A[r, p]
// broadcast.
TEXT ·gemm64FMA(SB), NOSPLIT, $0-64
	MOVQ kb+0(FP), CX
	MOVQ a+8(FP), R8
	MOVQ sai+16(FP), AX
	SHLQ $3, AX
	MOVQ sap+24(FP), SI
	SHLQ $3, SI
	MOVQ b+32(FP), BX
	MOVQ ldb+40(FP), DI
	SHLQ $3, DI
	LEAQ (R8)(AX*1), R9
	LEAQ (R9)(AX*1), R10
	LEAQ (R10)(AX*1), R11
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	TESTQ CX, CX
	JEQ   done

loop:
	VMOVUPD      (BX), Y8
	VMOVUPD      32(BX), Y9
	VBROADCASTSD (R8), Y10
	VBROADCASTSD (R9), Y11
	VFMADD231PD  Y10, Y8, Y0
	VFMADD231PD  Y10, Y9, Y1
	VFMADD231PD  Y11, Y8, Y2
	VFMADD231PD  Y11, Y9, Y3
	VBROADCASTSD (R10), Y12
	VBROADCASTSD (R11), Y13
	VFMADD231PD  Y12, Y8, Y4
	VFMADD231PD  Y12, Y9, Y5
	VFMADD231PD  Y13, Y8, Y6
	VFMADD231PD  Y13, Y9, Y7
	ADDQ         SI, R8
	ADDQ         SI, R9
	ADDQ         SI, R10
	ADDQ         SI, R11
	ADDQ         DI, BX
	DECQ         CX
	JNE          loop

done:
	MOVQ   c+48(FP), DX
	MOVQ   ldc+56(FP), R8
	SHLQ   $3, R8
	VADDPD (DX), Y0, Y0
	VADDPD 32(DX), Y1, Y1
	VMOVUPD Y0, (DX)
	VMOVUPD Y1, 32(DX)
	ADDQ   R8, DX
	VADDPD (DX), Y2, Y2
	VADDPD 32(DX), Y3, Y3
	VMOVUPD Y2, (DX)
	VMOVUPD Y3, 32(DX)
	ADDQ   R8, DX
	VADDPD (DX), Y4, Y4
	VADDPD 32(DX), Y5, Y5
	VMOVUPD Y4, (DX)
	VMOVUPD Y5, 32(DX)
	ADDQ   R8, DX
	VADDPD (DX), Y6, Y6
	VADDPD 32(DX), Y7, Y7
	VMOVUPD Y6, (DX)
	VMOVUPD Y7, 32(DX)
	VZEROUPPER
	RET

// func cpuid64(eaxArg, ecxArg uint32) (eax, ebx, ecx, edx uint32)
TEXT ·cpuid64(SB), NOSPLIT, $0-24
	MOVL eaxArg+0(FP), AX
	MOVL ecxArg+4(FP), CX
	CPUID
	MOVL AX, eax+8(FP)
	MOVL BX, ebx+12(FP)
	MOVL CX, ecx+16(FP)
	MOVL DX, edx+20(FP)
	RET

// func xgetbv64() (eax, edx uint32)
TEXT ·xgetbv64(SB), NOSPLIT, $0-8
	MOVL $0, CX
	XGETBV
	MOVL AX, eax+0(FP)
	MOVL DX, edx+4(FP)
	RET
