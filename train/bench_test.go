package train

import (
	"math/rand/v2"
	"os"
	"testing"

	"ctvae/data"
	"ctvae/runtime/causal"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
)

// BenchmarkVQVAETrainStep measures training throughput (images/s, forward +
// backward + Adam + rendering) of the shipped CPU configs.
func BenchmarkVQVAETrainStep(b *testing.B) {
	for _, name := range []string{"dsprites", "shapes3d"} {
		b.Run(name, func(b *testing.B) {
			raw, err := os.ReadFile("../weights/pretrained/" + name + ".json")
			if err != nil {
				b.Fatal(err)
			}
			cfg, err := ctvae.ParseConfig(raw)
			if err != nil {
				b.Fatal(err)
			}
			ds, err := data.New(name)
			if err != nil {
				b.Fatal(err)
			}
			opts := DefaultOptions()
			opts.Batch = 32
			tr, err := New(ds, cfg, opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*opts.Batch)/b.Elapsed().Seconds(), "img/s")
		})
	}
}

// BenchmarkCausalSample measures one sample of each causal-phase mode at
// the shipped dSprites config (forward + backward, float64).
func BenchmarkCausalSample(b *testing.B) {
	raw, err := os.ReadFile("../weights/pretrained/dsprites.json")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := ctvae.ParseConfig(raw)
	if err != nil {
		b.Fatal(err)
	}
	ccfg := causal.Config{Nodes: cfg.Nodes(), NodeDim: cfg.NumEmbeddings, ActionDim: cfg.ActionDim, HiddenDims: cfg.CausalHiddenDims}
	p32 := nn.InitParams(causal.Specs(ccfg), 1)
	p, g := newCTParams(ccfg), newCTParams(ccfg)
	p.load(p32)
	s := newCTShape(ccfg)
	w := newCTWorker(s)
	r := rand.New(rand.NewPCG(1, 2))
	for _, dr := range w.draws {
		dr.fill(r.Float64, ctDropout)
	}
	x, y := make([]int32, s.n), make([]int32, s.n)
	for i := range x {
		x[i], y[i] = int32(r.IntN(s.d)), int32(r.IntN(s.d))
	}
	lw := ctLossWeights{gamma: 1.5, cAlpha: 0.01, cBeta: 0.4, cDelta: 0.01, cEpsilon: 0.1}
	b.Run("base", func(b *testing.B) {
		for range b.N {
			w.baseLoss(p, g, x, w.draws[0], lw, 1)
		}
	})
	b.Run("action", func(b *testing.B) {
		for range b.N {
			w.actionLoss(p, g, x, y, 3, w.draws[0], lw, 1)
		}
	})
	b.Run("causal", func(b *testing.B) {
		for range b.N {
			w.causalLoss(p, g, x, y, 3, w.draws[:s.A], 1)
		}
	})
}
