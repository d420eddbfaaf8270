package kernels

// PanelKernel computes whole register tiles of a packed GEMM block, for
// every A panel ip < aPanels and B panel jp < bPanels (panels of mr rows
// and nr columns, kb deep, laid out as packA and packB write them):
//
//	c[(ip·mr + r)·ldc + jp·nr + q] (+)= Σ_p a[ip·mr·kb + p·mr + r] · b[jp·nr·kb + p·nr + q]
//
// summed from zero in p order, one multiply and one add per term, then
// stored or, when add, added to c. That is exactly what the Go tile
// kernel computes under wasm, so an implementation must give bit-identical
// results (TilesGo is the reference). kb is at least 1; a, b and c are long
// enough for every tile.
type PanelKernel func(a, b, c []float32, kb, aPanels, bPanels, ldc int, add bool)

// panelKernel, when set, replaces the Go tile loop for the full tiles of
// every GEMM block (see SetPanelKernel).
var panelKernel PanelKernel

// SetPanelKernel installs k for the full tiles of every GEMM (nil restores
// the Go kernel). The wasm engine installs a WebAssembly SIMD kernel this
// way: the runtime itself does no host calls. Not safe to call while
// kernels run.
func SetPanelKernel(k PanelKernel) { panelKernel = k }

// PanelTile returns the register tile (mr, nr) the panels of PanelKernel
// are packed for.
func PanelTile() (rows, cols int) { return mr, nr }

// TilesGo is the Go tile loop PanelKernel replaces, the reference its
// implementations are tested against.
func TilesGo(a, b, c []float32, kb, aPanels, bPanels, ldc int, add bool) {
	for ip := 0; ip < aPanels; ip++ {
		apan := a[ip*mr*kb : (ip+1)*mr*kb]
		for jp := 0; jp < bPanels; jp++ {
			microC(apan, b[jp*nr*kb:(jp+1)*nr*kb], c[ip*mr*ldc+jp*nr:], ldc, add)
		}
	}
}

// PackKernel packs whole panels of a row-major A (rows lda apart) the way
// packA does for one k block: for panel ip < panels, row r < mr and p < kb,
//
//	dst[ip·mr·kb + p·mr + r] = a[(ip·mr + r)·lda + p]
//
// (a copy: any implementation gives the same values).
type PackKernel func(dst, a []float32, lda, panels, kb int)

var packKernel PackKernel

// SetPackKernel installs k for packing A's whole panels (nil restores the
// Go code); like SetPanelKernel. Not safe to call while kernels run.
func SetPackKernel(k PackKernel) { packKernel = k }

// PackGo is the reference PackKernel.
func PackGo(dst, a []float32, lda, panels, kb int) {
	for ip := 0; ip < panels; ip++ {
		pan := dst[ip*mr*kb : (ip+1)*mr*kb]
		for r := 0; r < mr; r++ {
			row := a[(ip*mr+r)*lda : (ip*mr+r)*lda+kb]
			for p, v := range row {
				pan[p*mr+r] = v
			}
		}
	}
}
