package kernels

import "math"

// This file holds the reference twins of every fast kernel. They are the
// specification: short loops that state the math, used by the randomized
// tests that tie each fast kernel to its twin. Never optimise them.

// GEMMNaive computes C = op(A)·op(B) + beta·C, where op(A) is m×k, op(B) is
// k×n and C is m×n, all row-major with leading dimensions lda, ldb, ldc:
//
//	C[i,j] = beta*C[i,j] + Σ_p opA[i,p]·opB[p,j]
//	opA[i,p] = A[i*lda+p]  (or A[p*lda+i] when transA)
//	opB[p,j] = B[p*ldb+j]  (or B[j*ldb+p] when transB)
//
// beta is 0 or 1 in practice; with beta 0, C's old contents are ignored
// (NaN included), as in BLAS.
func GEMMNaive(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float32
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = s
			} else {
				c[i*ldc+j] = beta*c[i*ldc+j] + s
			}
		}
	}
}

// Conv2DNaive is PyTorch's Conv2d on NCHW data:
//
//	dst[n,o,y,x] = b[o] + Σ_{c,ky,kx} src[n,c,y*S-P+ky, x*S-P+kx]·w[o,c,ky,kx]
//
// with out-of-range source pixels read as zero; b may be nil (no bias).
func Conv2DNaive(dst, src, w, b []float32, p ConvParams) {
	oh, ow := p.OutH(), p.OutW()
	for n := 0; n < p.N; n++ {
		for o := 0; o < p.COut; o++ {
			for y := 0; y < oh; y++ {
				for x := 0; x < ow; x++ {
					var s float32
					if b != nil {
						s = b[o]
					}
					for c := 0; c < p.CIn; c++ {
						for ky := 0; ky < p.KH; ky++ {
							iy := y*p.Stride - p.Pad + ky
							if iy < 0 || iy >= p.H {
								continue
							}
							for kx := 0; kx < p.KW; kx++ {
								ix := x*p.Stride - p.Pad + kx
								if ix < 0 || ix >= p.W {
									continue
								}
								s += src[((n*p.CIn+c)*p.H+iy)*p.W+ix] * w[((o*p.CIn+c)*p.KH+ky)*p.KW+kx]
							}
						}
					}
					dst[((n*p.COut+o)*oh+y)*ow+x] = s
				}
			}
		}
	}
}

// ConvTranspose2DNaive is PyTorch's ConvTranspose2d (weight [CIn, COut, KH, KW],
// no output_padding, dilation 1, groups 1) on NCHW data: every input pixel
// scatters its weighted kernel into the output,
//
//	dst[n,o,y*S-P+ky, x*S-P+kx] += src[n,c,y,x]·w[c,o,ky,kx]
//
// then b[o] is added (b may be nil). Output size (H-1)*S - 2P + K.
func ConvTranspose2DNaive(dst, src, w, b []float32, p ConvParams) {
	oh, ow := p.OutH(), p.OutW()
	for n := 0; n < p.N; n++ {
		for o := 0; o < p.COut; o++ {
			var bias float32
			if b != nil {
				bias = b[o]
			}
			plane := dst[(n*p.COut+o)*oh*ow : (n*p.COut+o+1)*oh*ow]
			for i := range plane {
				plane[i] = bias
			}
		}
		for c := 0; c < p.CIn; c++ {
			for y := 0; y < p.H; y++ {
				for x := 0; x < p.W; x++ {
					v := src[((n*p.CIn+c)*p.H+y)*p.W+x]
					for o := 0; o < p.COut; o++ {
						for ky := 0; ky < p.KH; ky++ {
							oy := y*p.Stride - p.Pad + ky
							if oy < 0 || oy >= oh {
								continue
							}
							for kx := 0; kx < p.KW; kx++ {
								ox := x*p.Stride - p.Pad + kx
								if ox < 0 || ox >= ow {
									continue
								}
								dst[((n*p.COut+o)*oh+oy)*ow+ox] += v * w[((c*p.COut+o)*p.KH+ky)*p.KW+kx]
							}
						}
					}
				}
			}
		}
	}
}

// NearestCodeNaive writes, for each of the rows vectors z[r*d:(r+1)*d], the index of
// the codebook row e[k*d:(k+1)*d] (k < K) with the smallest squared distance
//
//	dist = |z|² + |e_k|² - 2 z·e_k   (float32, the official formula)
//
// Ties go to the lowest index, like torch.argmin.
func NearestCodeNaive(idx []int32, z []float32, rows, d int, e []float32, K int) {
	for r := 0; r < rows; r++ {
		zr := z[r*d : (r+1)*d]
		var zz float32
		for _, v := range zr {
			zz += v * v
		}
		best, bestD := int32(0), float32(math.Inf(1))
		for k := 0; k < K; k++ {
			ek := e[k*d : (k+1)*d]
			var ee, ze float32
			for i := range ek {
				ee += ek[i] * ek[i]
				ze += zr[i] * ek[i]
			}
			dist := zz + ee - 2*ze
			if dist < bestD {
				best, bestD = int32(k), dist
			}
		}
		idx[r] = best
	}
}
