//go:build amd64 && !purego

#include "textflag.h"

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
