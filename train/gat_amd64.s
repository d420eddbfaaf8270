//go:build amd64 && !purego

#include "textflag.h"

// func gatScoreFMA(xl, xr, le, att []float64, w float64) (s1, s2 float64)
//
// Y0 sums att·z, Y1 att·|z| (Y12: the abs mask), 4 channels per step.
TEXT ·gatScoreFMA(SB), NOSPLIT, $0-120
	MOVQ xl_base+0(FP), SI
	MOVQ xl_len+8(FP), CX
	MOVQ xr_base+24(FP), DI
	MOVQ le_base+48(FP), R8
	MOVQ att_base+72(FP), R9
	VBROADCASTSD w+96(FP), Y15
	VPCMPEQQ Y12, Y12, Y12
	VPSRLQ   $1, Y12, Y12
	VXORPD   Y0, Y0, Y0
	VXORPD   Y1, Y1, Y1
	SHRQ     $2, CX
	XORQ     BX, BX
	TESTQ    CX, CX
	JEQ      sdone

sloop:
	VMOVUPD     (SI)(BX*1), Y2
	VADDPD      (DI)(BX*1), Y2, Y2
	VFMADD231PD (R8)(BX*1), Y15, Y2
	VMOVUPD     (R9)(BX*1), Y4
	VFMADD231PD Y4, Y2, Y0
	VANDPD      Y12, Y2, Y3
	VFMADD231PD Y4, Y3, Y1
	ADDQ        $32, BX
	DECQ        CX
	JNE         sloop

sdone:
	VEXTRACTF128 $1, Y0, X4
	VADDPD       X4, X0, X0
	VUNPCKHPD    X0, X0, X4
	VADDSD       X4, X0, X0
	VEXTRACTF128 $1, Y1, X5
	VADDPD       X5, X1, X1
	VUNPCKHPD    X1, X1, X5
	VADDSD       X5, X1, X1
	VMOVSD       X0, s1+104(FP)
	VMOVSD       X1, s2+112(FP)
	VZEROUPPER
	RET

// func gatEdgeGradFMA(ea, eb, w float64, xl, xr, le, att, datt, dxl, dxr, dle []float64) (dw float64)
//
// z = xl + xr + le·w; e = ea + (eb with the sign of z flipped in when z < 0);
// datt += e·z; ds = att·e; dxl += ds; dxr += ds; dle += ds·w; Y6 sums ds·le.
TEXT ·gatEdgeGradFMA(SB), NOSPLIT, $0-224
	VBROADCASTSD ea+0(FP), Y14
	VBROADCASTSD eb+8(FP), Y13
	VBROADCASTSD w+16(FP), Y15
	MOVQ xl_base+24(FP), SI
	MOVQ xl_len+32(FP), CX
	MOVQ xr_base+48(FP), DI
	MOVQ le_base+72(FP), R8
	MOVQ att_base+96(FP), R9
	MOVQ datt_base+120(FP), R10
	MOVQ dxl_base+144(FP), R11
	MOVQ dxr_base+168(FP), R12
	MOVQ dle_base+192(FP), R13
	VPCMPEQQ Y12, Y12, Y12
	VPSLLQ   $63, Y12, Y12 // sign mask
	VXORPD   Y6, Y6, Y6
	SHRQ     $2, CX
	XORQ     BX, BX
	TESTQ    CX, CX
	JEQ      gdone

gloop:
	VMOVUPD     (SI)(BX*1), Y0
	VADDPD      (DI)(BX*1), Y0, Y0
	VFMADD231PD (R8)(BX*1), Y15, Y0 // z
	VANDPD      Y12, Y0, Y1
	VXORPD      Y13, Y1, Y1
	VADDPD      Y14, Y1, Y1         // e
	VMOVUPD     (R10)(BX*1), Y2
	VFMADD231PD Y1, Y0, Y2
	VMOVUPD     Y2, (R10)(BX*1)     // datt += e·z
	VMULPD      (R9)(BX*1), Y1, Y3  // ds
	VADDPD      (R11)(BX*1), Y3, Y4
	VMOVUPD     Y4, (R11)(BX*1)
	VADDPD      (R12)(BX*1), Y3, Y5
	VMOVUPD     Y5, (R12)(BX*1)
	VMOVUPD     (R13)(BX*1), Y7
	VFMADD231PD Y15, Y3, Y7
	VMOVUPD     Y7, (R13)(BX*1)     // dle += ds·w
	VFMADD231PD (R8)(BX*1), Y3, Y6  // dw += ds·le
	ADDQ        $32, BX
	DECQ        CX
	JNE         gloop

gdone:
	VEXTRACTF128 $1, Y6, X4
	VADDPD       X4, X6, X6
	VUNPCKHPD    X6, X6, X4
	VADDSD       X4, X6, X6
	VMOVSD       X6, dw+216(FP)
	VZEROUPPER
	RET

// func axpyDotFMA(a float64, d, x, y []float64) (dot float64)
TEXT ·axpyDotFMA(SB), NOSPLIT, $0-88
	VBROADCASTSD a+0(FP), Y15
	MOVQ d_base+8(FP), SI
	MOVQ d_len+16(FP), CX
	MOVQ x_base+32(FP), DI
	MOVQ y_base+56(FP), R8
	VXORPD Y0, Y0, Y0
	SHRQ   $2, CX
	XORQ   BX, BX
	TESTQ  CX, CX
	JEQ    adone

aloop:
	VMOVUPD     (SI)(BX*1), Y1
	VMOVUPD     (R8)(BX*1), Y2
	VFMADD231PD Y15, Y1, Y2
	VMOVUPD     Y2, (R8)(BX*1)
	VFMADD231PD (DI)(BX*1), Y1, Y0
	ADDQ        $32, BX
	DECQ        CX
	JNE         aloop

adone:
	VEXTRACTF128 $1, Y0, X4
	VADDPD       X4, X0, X0
	VUNPCKHPD    X0, X0, X4
	VADDSD       X4, X0, X0
	VMOVSD       X0, dot+80(FP)
	VZEROUPPER
	RET

// func axpyFMA(a float64, x, y []float64)
TEXT ·axpyFMA(SB), NOSPLIT, $0-56
	VBROADCASTSD a+0(FP), Y15
	MOVQ x_base+8(FP), SI
	MOVQ x_len+16(FP), CX
	MOVQ y_base+32(FP), R8
	SHRQ  $2, CX
	XORQ  BX, BX
	TESTQ CX, CX
	JEQ   xdone

xloop:
	VMOVUPD     (SI)(BX*1), Y1
	VMOVUPD     (R8)(BX*1), Y2
	VFMADD231PD Y15, Y1, Y2
	VMOVUPD     Y2, (R8)(BX*1)
	ADDQ        $32, BX
	DECQ        CX
	JNE         xloop

xdone:
	VZEROUPPER
	RET

// func absPairSumFMA(w, u, v []float64) float64
//
// Y0, Y1 sum w·|u+v| over the even and odd groups of 4 (Y12: abs mask).
TEXT ·absPairSumFMA(SB), NOSPLIT, $0-80
	MOVQ w_base+0(FP), SI
	MOVQ w_len+8(FP), CX
	MOVQ u_base+24(FP), DI
	MOVQ v_base+48(FP), R8
	VPCMPEQQ Y12, Y12, Y12
	VPSRLQ   $1, Y12, Y12
	VXORPD   Y0, Y0, Y0
	VXORPD   Y1, Y1, Y1
	SHRQ     $3, CX
	XORQ     BX, BX
	TESTQ    CX, CX
	JEQ      pdone

ploop:
	VMOVUPD     (DI)(BX*1), Y2
	VADDPD      (R8)(BX*1), Y2, Y2
	VANDPD      Y12, Y2, Y2
	VFMADD231PD (SI)(BX*1), Y2, Y0
	VMOVUPD     32(DI)(BX*1), Y3
	VADDPD      32(R8)(BX*1), Y3, Y3
	VANDPD      Y12, Y3, Y3
	VFMADD231PD 32(SI)(BX*1), Y3, Y1
	ADDQ        $64, BX
	DECQ        CX
	JNE         ploop

pdone:
	VADDPD       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X4
	VADDPD       X4, X0, X0
	VUNPCKHPD    X0, X0, X4
	VADDSD       X4, X0, X0
	VMOVSD       X0, ret+72(FP)
	VZEROUPPER
	RET

// func signSumsFMA(dz float64, u, v, S, T, G []float64)
//
// a = u + v; t = dz with the sign of a flipped in; S += t; T += t; G += t·a.
TEXT ·signSumsFMA(SB), NOSPLIT, $0-128
	VBROADCASTSD dz+0(FP), Y13
	MOVQ u_base+8(FP), SI
	MOVQ u_len+16(FP), CX
	MOVQ v_base+32(FP), DI
	MOVQ S_base+56(FP), R8
	MOVQ T_base+80(FP), R9
	MOVQ G_base+104(FP), R10
	VPCMPEQQ Y12, Y12, Y12
	VPSLLQ   $63, Y12, Y12
	SHRQ     $2, CX
	XORQ     BX, BX
	TESTQ    CX, CX
	JEQ      qdone

qloop:
	VMOVUPD     (SI)(BX*1), Y0
	VADDPD      (DI)(BX*1), Y0, Y0
	VANDPD      Y12, Y0, Y1
	VXORPD      Y13, Y1, Y1
	VADDPD      (R8)(BX*1), Y1, Y2
	VMOVUPD     Y2, (R8)(BX*1)
	VADDPD      (R9)(BX*1), Y1, Y3
	VMOVUPD     Y3, (R9)(BX*1)
	VMOVUPD     (R10)(BX*1), Y4
	VFMADD231PD Y1, Y0, Y4
	VMOVUPD     Y4, (R10)(BX*1)
	ADDQ        $32, BX
	DECQ        CX
	JNE         qloop

qdone:
	VZEROUPPER
	RET
