//go:build js && wasm

package simd128

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"syscall/js"
	"testing"

	"ctvae/runtime/ctvae"
	"ctvae/runtime/kernels"
	"ctvae/runtime/nn"
)

// install installs the module for one test. Without the host's memory
// global (a plain `go test` under Go's node runner) it skips, unless
// CTVAE_REQUIRE_SIMD is set, as the Makefile sets it with the runner
// that provides the global.
func install(t testing.TB) {
	t.Helper()
	err := Install()
	if err != nil && os.Getenv("CTVAE_REQUIRE_SIMD") == "" {
		t.Skipf("%v (run with -exec \"node testdata/node-exec.js\", see the Makefile)", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(Uninstall)
}

// TestTilesMatchGoKernel compares the module with kernels.TilesGo bit for
// bit over random shapes: 8-row and 4-row tiles, k from 1 to past a
// k block, wide and narrow C.
func TestTilesMatchGoKernel(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		kb := 1 + r.IntN(300)
		aPanels := 1 + r.IntN(7)
		bPanels := 1 + r.IntN(9)
		ldc := bPanels*4 + r.IntN(5)
		if err := CompareTiles(Tiles, r, kb, aPanels, bPanels, ldc); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGEMMWithModule checks whole GEMMs (edges on the Go kernel) against
// the naive twin and against the Go kernel bit for bit.
func TestGEMMWithModule(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range [][3]int{{1, 1, 1}, {4, 4, 4}, {9, 13, 300}, {256, 64, 256}, {37, 531, 17}, {130, 6, 600}} {
		m, n, k := s[0], s[1], s[2]
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		naive := make([]float32, m*n)
		kernels.GEMMNaive(false, false, m, n, k, a, k, b, n, 0, naive, n)
		got := make([]float32, m*n)
		kernels.GEMM(false, false, m, n, k, a, k, b, n, 0, got, n)
		Uninstall()
		want := make([]float32, m*n)
		kernels.GEMM(false, false, m, n, k, a, k, b, n, 0, want, n)
		install(t)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%dx%dx%d: element %d: %g with the module, %g with the Go kernel", m, n, k, i, got[i], want[i])
			}
			if d := got[i] - naive[i]; d > 1e-4*float32(k) || d < -1e-4*float32(k) {
				t.Fatalf("%dx%dx%d: element %d: %g, naive %g", m, n, k, i, got[i], naive[i])
			}
		}
	}
}

func TestTilesRejectsShortSlices(t *testing.T) {
	install(t)
	defer func() {
		if recover() == nil {
			t.Fatal("Tiles accepted a C too short for its tiles")
		}
	}()
	Tiles(make([]float32, 16), make([]float32, 16), make([]float32, 15), 1, 1, 1, 4, false)
}

func TestTilesAllocsNothing(t *testing.T) {
	install(t)
	a, b, c := make([]float32, 64), make([]float32, 64), make([]float32, 64)
	if n := testing.AllocsPerRun(20, func() { Tiles(a, b, c, 8, 2, 2, 8, true) }); n != 0 {
		t.Fatalf("Tiles allocates %v times per call", n)
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// TestInstallRefusesBadMemory: without a WebAssembly.Memory under the
// global, Install explains what the host must do and installs nothing.
func TestInstallRefusesBadMemory(t *testing.T) {
	g := js.Global()
	saved := g.Get(MemoryGlobal)
	defer g.Set(MemoryGlobal, saved)
	for _, v := range []any{js.Undefined(), 42, map[string]any{"buffer": 1}} {
		g.Set(MemoryGlobal, v)
		err := Install()
		if err == nil || !strings.Contains(err.Error(), "globalThis."+MemoryGlobal+" is not a WebAssembly.Memory") {
			t.Fatalf("Install with %v: %v", v, err)
		}
	}
}

// TestOutputMatchesGo compares the module's output transforms with
// kernels.WinogradOutputGo bit for bit over random sizes.
func TestOutputMatchesGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(9, 9))
	for i := 0; i < 60; i++ {
		a := 5 + i%2
		count := 1 + r.IntN(9)
		tn := 4 * (1 + r.IntN(5))
		if err := CompareOutput(WinogradOutput, r, a, count, tn, count*tn+r.IntN(7)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConvWithModule: the Winograd layouts of the VQ-VAE (3×3, 4×4 stride
// 2 and its transpose; batch 2, tiles past the edges) and an im2col one
// give bit-identical outputs with the module and with the Go kernels.
func TestConvWithModule(t *testing.T) {
	r := rand.New(rand.NewPCG(10, 10))
	for _, p := range []kernels.ConvParams{
		{N: 2, CIn: 20, H: 9, W: 7, COut: 18, KH: 3, KW: 3, Stride: 1, Pad: 1},
		{N: 2, CIn: 16, H: 10, W: 14, COut: 20, KH: 4, KW: 4, Stride: 2, Pad: 1},
		{N: 2, CIn: 24, H: 5, W: 6, COut: 16, KH: 4, KW: 4, Stride: 2, Pad: 1, Transposed: true},
		{N: 1, CIn: 3, H: 12, W: 12, COut: 8, KH: 4, KW: 4, Stride: 2, Pad: 1},
	} {
		c := kernels.NewConv(p)
		c.SetWeights(randSlice(r, p.COut*p.CIn*p.KH*p.KW), randSlice(r, p.COut))
		x := randSlice(r, p.N*p.CIn*p.H*p.W)
		want := make([]float32, p.N*p.COut*p.OutH()*p.OutW())
		got := make([]float32, len(want))
		Uninstall()
		c.Forward(want, x)
		install(t)
		c.Forward(got, x)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%+v: element %d: %g with the module, %g without", p, i, got[i], want[i])
			}
		}
	}
}

// TestInputMatchesGo compares the module's input transforms with
// kernels.WinogradInputGo bit for bit over random sizes, channel counts
// past one k block of V included.
func TestInputMatchesGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(11, 11))
	for i := 0; i < 40; i++ {
		cin := 1 + r.IntN(40)
		if i%8 == 0 {
			cin = 257 + r.IntN(300)
		}
		if err := CompareInput(WinogradInput, r, 5+i%2, cin, 4*(1+r.IntN(6))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSumsMatchGo compares the module's causal sums with causal.EdgeSumsGo
// and causal.PairSumsGo bit for bit over random lengths (the layer's are
// 64 and 100 at the default config), batch sizes and head counts (13 in
// module_0 at the default config).
func TestSumsMatchGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(12, 12))
	for _, n := range []int{2, 3, 5, 16, 33, 64, 100} {
		if err := CompareSums(EdgeSums, PairSums, r, n, 4*(1+r.IntN(5)), 1+r.IntN(14)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSoftmaxMatchesGo compares the module's softmax with
// causal.SoftmaxEdgesGo bit for bit (the layer's shapes: up to 65 edges,
// 13 heads in module_0 and 1 in module_2 at the default config; 2 or 3
// heads are left to Go), and its hand-over to Go at scores
// outside the float64 exponential's fast range.
func TestSoftmaxMatchesGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(15, 15))
	specials := []float32{0, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), -800}
	for i := 0; i < 400; i++ {
		edges, heads := 1+r.IntN(70), 1+r.IntN(17)
		if err := CompareSoftmax(Softmax, r, edges, heads, specials[i%len(specials)]); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEltwiseMatchesGo compares the module's element-wise passes with
// kernels.EltwiseGo bit for bit (lengths with and without a tail of one to
// three floats, which the Go code does; the causal layer's rows are 800 and
// 1300 at the default config) and checks that nothing past dst is written.
func TestEltwiseMatchesGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(16, 16))
	for _, n := range []int{0, 1, 3, 4, 5, 8, 13, 64, 100, 800, 1300} {
		if err := CompareEltwise(Eltwise, r, n); err != nil {
			t.Fatal(err)
		}
	}
}

// TestGatherMatchesGo compares the module's aggregations with
// causal.GatherGo bit for bit: the layer's shapes (64 columns of stride 64,
// 100 of stride 1300) and random ones, with column tails the Go code does.
func TestGatherMatchesGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(17, 17))
	for i := 0; i < 60; i++ {
		count, d := r.IntN(70), 1+r.IntN(120)
		stride := d + r.IntN(3)
		switch i % 3 {
		case 0:
			d, stride = 64, 64
		case 1:
			d, stride = 100, 1300
		}
		if err := CompareGather(Gather, r, count, d, stride); err != nil {
			t.Fatal(err)
		}
	}
}

// TestModelWithModule: the whole default-config model (Winograd
// convolutions, the quantizer, the causal layer, retrieval) gives
// bit-identical images, codes and probabilities with the module and with
// the Go kernels.
func TestModelWithModule(t *testing.T) {
	cfg := ctvae.DefaultConfig()
	m, err := ctvae.New(cfg, nn.InitParams(ctvae.Specs(cfg), 1), ctvae.Meta{}, ctvae.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(13, 13))
	x, y := randImage(r, m.ImageLen()), randImage(r, m.ImageLen())
	run := func() []float32 {
		var out []float32
		for a := 0; a < m.NumActions(); a += 5 {
			o, err := m.Intervene(x, a)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, o.Image...)
			out = append(out, o.Probs...)
		}
		ret, err := m.Retrieve(context.Background(), x, y, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		return append(out, ret.Probs...)
	}
	Uninstall()
	want := run()
	install(t)
	got := run()
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d of the interventions and retrieval: %g with the module, %g without", i, got[i], want[i])
		}
	}
}

func TestPackMatchesGo(t *testing.T) {
	install(t)
	r := rand.New(rand.NewPCG(14, 14))
	for i := 0; i < 30; i++ {
		kb := 1 + r.IntN(300)
		if err := ComparePack(Pack, r, 1+r.IntN(9), kb, kb+r.IntN(7)); err != nil {
			t.Fatal(err)
		}
	}
}
