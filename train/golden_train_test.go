package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"

	"ctvae/runtime/causal"
	"ctvae/runtime/nn"
	"ctvae/runtime/tensor"
	"ctvae/runtime/vqvae"
	"ctvae/weights"
)

// One training step of each causal batch mode (base, action, causal) and of
// the VQ-VAE phase against PyTorch autograd: internal/golden/gen_train.py
// runs gen.py's model in training mode with the noise stored in the file
// (dropout keep masks, Gumbel noise, the KL target's uniforms) and stores the
// batch loss and the gradient of every trainable tensor.
//
// Causal layer: both sides compute in float64 from the same float32 weights
// and noise, and the golden stores float64 values as float32 hi + lo pairs
// (~48 bits), so the only differences are rounding in different summation
// orders (Go factorises the discoverers' first Linear per node, PyTorch runs
// it on concatenated pairs; Go's identity-graph GNN is the reduced per-node
// network, PyTorch's the full GATv2 on the identity graph). Tolerance:
// goldenCTTol relative per element, with values below goldenCTFloor times
// the tensor's largest magnitude compared absolutely against that floor.
const (
	goldenCTTol   = 1e-9
	goldenCTFloor = 1e-3
)

const goldenTrainFile = "../internal/golden/testdata/train_step.safetensors"

type goldenFile struct {
	t *testing.T
	f *weights.File
}

func openGoldenTrain(t *testing.T) *goldenFile {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(goldenTrainFile))
	if err != nil {
		t.Fatalf("%v (regenerate with `make goldens`)", err)
	}
	f, err := weights.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return &goldenFile{t, f}
}

func (g *goldenFile) tensor(name string) *weights.Tensor {
	g.t.Helper()
	x, ok := g.f.Get(name)
	if !ok {
		g.t.Fatalf("golden %s has no tensor %q", goldenTrainFile, name)
	}
	return x
}

// f64 returns float64(hi) + float64(lo) of the stored pair name, name_lo.
func (g *goldenFile) f64(hi, lo string) []float64 {
	g.t.Helper()
	h, l := g.tensor(hi), g.tensor(lo)
	out := make([]float64, len(h.Data))
	for i := range out {
		out[i] = float64(h.Data[i]) + float64(l.Data[i])
	}
	return out
}

func (g *goldenFile) ints(name string) []int32 {
	g.t.Helper()
	x := g.tensor(name)
	out := make([]int32, len(x.Data))
	for i, v := range x.Data {
		out[i] = int32(v)
	}
	return out
}

func (g *goldenFile) meta(key string, v any) {
	g.t.Helper()
	if err := json.Unmarshal([]byte(g.f.Metadata[key]), v); err != nil {
		g.t.Fatalf("golden metadata %s: %v", key, err)
	}
}

// maxRelErr returns the worst |got-want| / max(|want|, floor·max|want|) and
// its index; for an all-zero want it is the largest |got| (absolute).
func maxRelErr(got, want []float64, floor float64) (float64, int) {
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if scale > 0 {
			d /= max(math.Abs(want[i]), floor*scale)
		}
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	return worst, at
}

func TestGoldenTrainStepCausal(t *testing.T) {
	g := openGoldenTrain(t)
	var cc struct {
		Nodes  int   `json:"nodes"`
		D      int   `json:"node_dim"`
		A      int   `json:"action_dim"`
		Hidden []int `json:"causal_hidden_dims"`
	}
	g.meta("ct_config", &cc)
	var lc struct {
		Gamma    float64 `json:"gamma"`
		CAlpha   float64 `json:"c_alpha"`
		CBeta    float64 `json:"c_beta"`
		CDelta   float64 `json:"c_delta"`
		CEpsilon float64 `json:"c_epsilon"`
	}
	g.meta("ct_losses", &lc)
	dropout, err := strconv.ParseFloat(g.f.Metadata["dropout"], 64)
	if err != nil {
		t.Fatalf("golden metadata dropout: %v", err)
	}
	cfg := causal.Config{Nodes: cc.Nodes, NodeDim: cc.D, ActionDim: cc.A, HiddenDims: cc.Hidden}
	s := newCTShape(cfg)
	n, d := s.n, s.d
	p := newCTParams(cfg)
	for name, dst := range p.t {
		src := g.tensor(name).Data
		if len(src) != len(dst) {
			t.Fatalf("%s: %d values, want %d", name, len(src), len(dst))
		}
		for i, v := range src {
			dst[i] = float64(v)
		}
	}
	for i, v := range g.tensor("io.ct.pe").Data {
		p.pe[i] = float64(v)
	}
	lw := ctLossWeights{gamma: lc.Gamma, cAlpha: lc.CAlpha, cBeta: lc.CBeta, cDelta: lc.CDelta, cEpsilon: lc.CEpsilon}
	names := make([]string, 0, len(p.t))
	for name := range p.t {
		names = append(names, name)
	}
	sort.Strings(names)

	for _, mode := range []string{"base", "action", "causal"} {
		t.Run(mode, func(t *testing.T) {
			pre := "io.ct." + mode + "."
			x, y, act := g.ints(pre+"x"), g.ints(pre+"y"), g.ints(pre+"action")
			B := len(act)
			P := 1
			if mode == "causal" {
				P = s.A
			}
			keepX, keepM := g.tensor(pre+"keep_x").Data, g.tensor(pre+"keep_m").Data
			gMask, gAdj, uKL := g.tensor(pre+"g_mask").Data, g.tensor(pre+"g_adj").Data, g.tensor(pre+"u_kl").Data
			// draws returns the stored noise of pass k of sample b as ctDraws.
			draws := func(b, k int) *ctDraws {
				dr := newCTDraws(s)
				dr.dropout = dropout
				o := b*P + k
				for i := range dr.keepX {
					dr.keepX[i] = keepX[o*n*d+i] != 0
					dr.keepM[i] = keepM[o*n*d+i] != 0
				}
				for i := range dr.gMask {
					dr.gMask[i] = float64(gMask[o*2*n+i])
				}
				for i := range dr.gAdj {
					dr.gAdj[i] = float64(gAdj[o*2*n*n+i])
				}
				for i := range dr.uniformT {
					dr.uniformT[i] = float64(uKL[o*n*n+i])
				}
				return dr
			}
			w := newCTWorker(s)
			grad := newCTParams(cfg)
			var loss float64
			ces := make([]float64, B)
			fb := float64(B)
			for b := 0; b < B; b++ {
				xb, yb := x[b*n:(b+1)*n], y[b*n:(b+1)*n]
				switch mode {
				case "base":
					c, l := w.baseLoss(p, grad, xb, draws(b, 0), lw, lw.gamma/fb)
					ces[b], loss = c, loss+lw.gamma*l/fb
				case "action":
					c, l := w.actionLoss(p, grad, xb, yb, int(act[b]), draws(b, 0), lw, lw.gamma/fb)
					ces[b], loss = c, loss+lw.gamma*l/fb
				case "causal":
					dr := make([]*ctDraws, P)
					for k := range dr {
						dr[k] = draws(b, k)
					}
					l, _ := w.causalLoss(p, grad, xb, yb, int(act[b]), dr, 1/fb)
					ces[b], loss = l, loss+l/fb
				}
			}
			wantLoss := g.f64(pre+"loss", pre+"loss_lo")[0]
			if e := math.Abs(loss-wantLoss) / math.Abs(wantLoss); e > goldenCTTol {
				t.Errorf("loss %.15g, PyTorch %.15g (rel err %.2g)", loss, wantLoss, e)
			} else {
				t.Logf("loss %.12g, rel err %.2g", loss, e)
			}
			if e, i := maxRelErr(ces, g.f64(pre+"ce", pre+"ce_lo"), 0); e > goldenCTTol {
				t.Errorf("per-sample CE: rel err %.2g at sample %d", e, i)
			}
			worst, worstName, nonzero := 0.0, "", 0
			for _, name := range names {
				want := g.f64(pre+"grad."+name, pre+"grad_lo."+name)
				got := grad.t[name]
				if len(want) != len(got) {
					t.Fatalf("%s: %d gradient values, want %d", name, len(got), len(want))
				}
				for _, v := range want {
					if v != 0 {
						nonzero++
					}
				}
				e, i := maxRelErr(got, want, goldenCTFloor)
				if e > worst {
					worst, worstName = e, fmt.Sprintf("%s[%d]", name, i)
				}
				if e > goldenCTTol {
					t.Errorf("%s[%d]: Go %.12g, PyTorch %.12g (rel err %.2g)", name, i, got[i], want[i], e)
				}
			}
			if nonzero < 100 {
				t.Errorf("only %d nonzero gradient values: the check is too weak", nonzero)
			}
			t.Logf("%d tensors, %d nonzero gradient values, max rel err %.2g (%s)", len(names), nonzero, worst, worstName)
		})
	}
}

// VQ-VAE phase: the Go step runs in float32 (planned Winograd/GEMM
// convolutions forward, im2col GEMMs backward), PyTorch in float64 from the
// same float32 weights and images, so the differences are Go's float32
// rounding, accumulated over the 13 layers and both passes. Measured: every
// gradient within 7e-7 of its tensor's largest magnitude, elements above 10%
// of it within 4e-6 relative; smaller elements are sums with cancellation
// (an encoder.1 weight at 0.3% of its tensor's largest was off by 1.1e-4
// relative), so values below goldenVQFloor (1%) of the tensor's largest
// magnitude are compared absolutely against that floor, the rest within
// goldenVQTol relative. Codes must be identical (gen_train.py keeps argmin
// margins above 1e-4 and every ReLU input away from its kink).
const (
	goldenVQTol   = 1e-4
	goldenVQFloor = 1e-2
)

func TestGoldenTrainStepVQVAE(t *testing.T) {
	g := openGoldenTrain(t)
	var cfg vqvae.Config
	g.meta("vq_config", &cfg)
	beta, err := strconv.ParseFloat(g.f.Metadata["vq_beta"], 64)
	if err != nil {
		t.Fatalf("golden metadata vq_beta: %v", err)
	}
	if err := checkTrainable(cfg); err != nil {
		t.Fatal(err)
	}
	specs := vqvae.Specs(cfg)
	params := nn.Params{}
	for _, sp := range specs {
		src := g.tensor(sp.Name)
		params[sp.Name] = tensor.FromData(append([]float32(nil), src.Data...), sp.Shape...)
	}
	if err := nn.Check(specs, params); err != nil {
		t.Fatal(err)
	}
	x := g.tensor("io.vq.x").Data
	n := g.tensor("io.vq.x").Shape[0]
	grads := newGrads(specs)
	v := newVQNet(cfg, params, grads, n, false)
	nImg := len(x)
	nLat := n * cfg.EmbeddingDim * cfg.LatentSize() * cfg.LatentSize()
	s := v.step(x, x, beta, nImg, nLat)
	for i, c := range g.ints("io.vq.codes") {
		if v.codes[i] != c {
			t.Fatalf("code %d: Go %d, PyTorch %d", i, v.codes[i], c)
		}
	}
	recon, vq := s.SqErr/float64(nImg), s.VQDist/float64(nLat)
	loss := recon + (1+beta)*vq
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"loss", loss, g.f64("io.vq.loss", "io.vq.loss_lo")[0]},
		{"recon MSE", recon, g.f64("io.vq.recon_mse", "io.vq.recon_mse_lo")[0]},
		{"VQ MSE", vq, g.f64("io.vq.vq_mse", "io.vq.vq_mse_lo")[0]},
	} {
		e := math.Abs(c.got-c.want) / math.Abs(c.want)
		if e > goldenVQTol {
			t.Errorf("%s %.9g, PyTorch %.9g (rel err %.2g)", c.name, c.got, c.want, e)
		}
		t.Logf("%s %.9g, rel err %.2g", c.name, c.got, e)
	}
	worst, worstName := 0.0, ""
	for _, sp := range specs {
		want32 := g.tensor("io.vq.grad." + sp.Name).Data
		want, got := make([]float64, len(want32)), make([]float64, len(want32))
		for i := range want {
			want[i], got[i] = float64(want32[i]), float64(grads[sp.Name].Data[i])
		}
		e, i := maxRelErr(got, want, goldenVQFloor)
		if e > worst {
			worst, worstName = e, fmt.Sprintf("%s[%d]", sp.Name, i)
		}
		if e > goldenVQTol {
			t.Errorf("%s[%d]: Go %.9g, PyTorch %.9g (rel err %.2g)", sp.Name, i, got[i], want[i], e)
		}
	}
	t.Logf("%d tensors, max rel err %.2g (%s)", len(specs), worst, worstName)
}
