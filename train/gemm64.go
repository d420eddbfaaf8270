package train

// ---------------------------------------------------------------------------
// A float64 GEMM for the causal layer's projections (GATv2 lin_l/lin_r per
// head, the discoverers' first Linear): C += A·B with A given by strides
// (A[i,p] = a[i·sai + p·sap], so A or Aᵀ of a row-major matrix) and B
// row-major. 4×8 tiles go to gemm64Tile (AVX2+FMA assembly on amd64, Go
// elsewhere); edges run gemm64Go. Each C element is summed over p in order
// and then added to C, in float64 throughout, so the finite-difference and
// PyTorch-golden tolerances of the float64 causal layer still hold.
// ---------------------------------------------------------------------------

const gemm64KC = 256 // k block: a 4×kc A tile and a kc×8 B panel sit in L1

// gemm64 adds to C [m, n] (row stride ldc) the product A·B, A [m, k] read
// as a[i·sai + p·sap], B [k, n] row-major with stride ldb.
func gemm64(m, n, k int, a []float64, sai, sap int, b []float64, ldb int, c []float64, ldc int) {
	if m <= 0 || n <= 0 || k <= 0 {
		return
	}
	// Every index read or written is inside the slices (the tile kernel
	// does no bounds checks of its own).
	if (m-1)*sai+(k-1)*sap >= len(a) || (k-1)*ldb+n > len(b) || (m-1)*ldc+n > len(c) {
		panic("train: gemm64: operand too short")
	}
	m4, n8 := m/4*4, n/8*8
	for p0 := 0; p0 < k; p0 += gemm64KC {
		kb := min(gemm64KC, k-p0)
		if n > m {
			// B is the larger operand: keep each kb×8 panel of it in L1
			// while the A tiles pass.
			for j := 0; j < n8; j += 8 {
				for i := 0; i < m4; i += 4 {
					gemm64Tile(kb, a[i*sai+p0*sap:], sai, sap, b[p0*ldb+j:], ldb, c[i*ldc+j:], ldc)
				}
			}
			continue
		}
		for i := 0; i < m4; i += 4 {
			ai := a[i*sai+p0*sap:]
			for j := 0; j < n8; j += 8 {
				gemm64Tile(kb, ai, sai, sap, b[p0*ldb+j:], ldb, c[i*ldc+j:], ldc)
			}
		}
	}
	// Edges: the last n%8 columns of every row, then the last m%4 rows.
	if n8 < n {
		gemm64Go(m4, n-n8, k, a, sai, sap, b[n8:], ldb, c[n8:], ldc)
	}
	if m4 < m {
		gemm64Go(m-m4, n, k, a[m4*sai:], sai, sap, b, ldb, c[m4*ldc:], ldc)
	}
}

// gemm64Go is gemm64 as plain loops (the specification, and the edges):
// c[i·ldc + j] += Σ_p a[i·sai + p·sap]·b[p·ldb + j], summed over p in order.
func gemm64Go(m, n, k int, a []float64, sai, sap int, b []float64, ldb int, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += a[i*sai+p*sap] * b[p*ldb+j]
			}
			c[i*ldc+j] += s
		}
	}
}

// transpose64 writes dst [cols, rows] = srcᵀ for src [rows, cols] (row
// stride lds).
func transpose64(dst, src []float64, rows, cols, lds int) {
	for i := 0; i < rows; i++ {
		row := src[i*lds : i*lds+cols]
		for j, v := range row {
			dst[j*rows+i] = v
		}
	}
}
