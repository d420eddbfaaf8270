//go:build !wasm && (!amd64 || purego)

package kernels

// microC is micro writing the tile into rows of c (stride ldc):
// c[r·ldc + q] = t[r·nr + q], or += when add. Under wasm it stores from
// registers; here it goes through micro's tile.
func microC(a, b, c []float32, ldc int, add bool) {
	var t [mr * nr]float32
	micro(a, b, &t)
	storeFullTile(c, ldc, &t, add)
}
