// Package kernels holds the float32 compute kernels of the runtime, on
// row-major NCHW data: GEMM, convolutions, activations, softmax and the
// nearest-codebook search. Every fast kernel has a naive twin in naive.go
// that states its math, and a randomized test tying the two together.
//
// Kernels validate nothing they are handed: shapes come from validated
// configs, so a mismatch is a bug and panics. Calls allocate nothing in
// steady state: a Conv allocates its buffers in NewConv, and GEMM takes its
// packing buffers from a free list that grows only with the number of
// concurrent callers (and once per larger A than seen before).
//
// Threads: natively, large GEMMs and convolutions split their independent
// outputs over a persistent worker pool (SetThreads; default NumCPU, 1
// under wasm). Every output is summed in the same order whatever the split,
// so results are bit-identical for any thread count.
package kernels

// ConvParams describes a 2-D convolution or transposed convolution on NCHW
// data: input [N, CIn, H, W], square stride and symmetric zero padding.
type ConvParams struct {
	N, CIn, H, W int
	COut, KH, KW int
	Stride, Pad  int
	// Transposed selects ConvTranspose2d output sizes.
	Transposed bool
}

// OutH is the output height.
func (p ConvParams) OutH() int {
	if p.Transposed {
		return (p.H-1)*p.Stride - 2*p.Pad + p.KH
	}
	return (p.H+2*p.Pad-p.KH)/p.Stride + 1
}

// OutW is the output width.
func (p ConvParams) OutW() int {
	if p.Transposed {
		return (p.W-1)*p.Stride - 2*p.Pad + p.KW
	}
	return (p.W+2*p.Pad-p.KW)/p.Stride + 1
}

// MACs is the number of multiply-accumulates of the layer.
func (p ConvParams) MACs() int64 {
	if p.Transposed {
		return int64(p.N) * int64(p.CIn*p.H*p.W) * int64(p.COut*p.KH*p.KW)
	}
	return int64(p.N) * int64(p.COut*p.OutH()*p.OutW()) * int64(p.CIn*p.KH*p.KW)
}
