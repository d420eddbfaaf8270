//go:build !amd64 || purego

package train

// gemm64Tile adds to the 4×8 tile of C at c (stride ldc) the product of
// the 4×kb A at a (strides sai, sap) and the kb×8 B at b (stride ldb).
func gemm64Tile(kb int, a []float64, sai, sap int, b []float64, ldb int, c []float64, ldc int) {
	gemm64Go(4, 8, kb, a, sai, sap, b, ldb, c, ldc)
}
