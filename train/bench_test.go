package train

import (
	"math/rand/v2"
	"os"
	"syscall"
	"testing"

	"ctvae/data"
	"ctvae/runtime/causal"
	"ctvae/runtime/ctvae"
	"ctvae/runtime/nn"
	"ctvae/runtime/vqvae"
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

// BenchmarkCausalSample measures one sample of each causal-phase mode
// (forward + backward of the causal layer, float64, no encoder, one
// thread) at the shipped dSprites config and at the paper's default config
// (a causal sample is A passes). It reports cpu-ms/op (process CPU time:
// steadier than wall time on a shared machine).
func BenchmarkCausalSample(b *testing.B) {
	for _, sc := range speedCases {
		b.Run(sc.name, func(b *testing.B) {
			cfg, err := sc.config()
			if err != nil {
				b.Fatal(err)
			}
			benchCausalSample(b, cfg)
		})
	}
}

func benchCausalSample(b *testing.B, cfg ctvae.Config) {
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
	run := func(name string, f func()) {
		b.Run(name, func(b *testing.B) {
			f()
			b.ResetTimer()
			cpu0 := cpuSeconds()
			for range b.N {
				f()
			}
			b.ReportMetric((cpuSeconds()-cpu0)*1e3/float64(b.N), "cpu-ms/op")
		})
	}
	run("base", func() { w.baseLoss(p, g, x, w.draws[0], lw, 1) })
	run("action", func() { w.actionLoss(p, g, x, y, 3, w.draws[0], lw, 1) })
	run("causal", func() { w.causalLoss(p, g, x, y, 3, w.draws[:s.A], 1) })
}

// speedCase is one configuration of BenchmarkTrainSpeed, matching
// internal/golden/bench_train.py's CASES (same configs, same batch sizes).
type speedCase struct {
	name, dataset string
	config        func() (ctvae.Config, error)
	batch         map[string]int
}

var speedCases = []speedCase{
	{"shipped", "dsprites", func() (ctvae.Config, error) {
		raw, err := os.ReadFile("../weights/pretrained/dsprites.json")
		if err != nil {
			return ctvae.Config{}, err
		}
		return ctvae.ParseConfig(raw)
	}, map[string]int{"vqvae": 32, "base": 16, "action": 16, "causal": 16}},
	// The paper's default config (ctvae.DefaultConfig: 3 channels, 12
	// actions) on Shapes3D. A causal batch is 2 pairs, one per shard.
	{"default", "shapes3d", func() (ctvae.Config, error) { return ctvae.DefaultConfig(), nil },
		map[string]int{"vqvae": 32, "base": 16, "action": 16, "causal": 2}},
}

// BenchmarkTrainSpeed is the trainer's throughput per phase and per causal
// batch mode, at the shipped dSprites config and at the paper's default
// config: one b.N iteration is one Trainer.TrainStep (render, forward,
// backward, Adam) with the trainer's two shards in parallel, as `ctvae
// train` runs it. The causal modes train a fresh causal layer on a
// PyTorch-default random VQ-VAE (frozen, as in phase 2), one mode per
// batch (Options.ModeWeights). It reports samples/s (images for vqvae and
// base, pairs for action and causal) by wall time and cpu-s/sample
// (process CPU time, both cores summed: steadier on a shared machine).
// The PyTorch peer is internal/golden/bench_train.py; docs/training-speed.md
// has the table. Run with
//
//	go test -run '^$' -bench TrainSpeed -benchtime 3x ./train
func BenchmarkTrainSpeed(b *testing.B) {
	for _, sc := range speedCases {
		for _, mode := range []string{"vqvae", "base", "action", "causal"} {
			b.Run(sc.name+"/"+mode, func(b *testing.B) {
				cfg, err := sc.config()
				if err != nil {
					b.Fatal(err)
				}
				ds, err := data.New(sc.dataset)
				if err != nil {
					b.Fatal(err)
				}
				opts := DefaultOptions()
				opts.Batch = sc.batch[mode]
				var params nn.Params
				if mode != "vqvae" {
					opts.Phase, opts.Recipe = PhaseCausal, RecipePaper
					opts.ModeWeights = map[string][]float64{"base": {1, 0, 0}, "action": {0, 1, 0}, "causal": {0, 0, 1}}[mode]
					params = nn.InitParams(vqvae.Specs(cfg.Config), 1)
				}
				tr, err := New(ds, cfg, opts, params)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := tr.TrainStep(); err != nil { // warm-up
					b.Fatal(err)
				}
				b.ResetTimer()
				cpu0 := cpuSeconds()
				for range b.N {
					if _, err := tr.TrainStep(); err != nil {
						b.Fatal(err)
					}
				}
				n := float64(b.N * opts.Batch)
				b.ReportMetric(n/b.Elapsed().Seconds(), "samples/s")
				b.ReportMetric((cpuSeconds()-cpu0)/n, "cpu-s/sample")
			})
		}
	}
}

// cpuSeconds is the process's CPU time (user + system, all threads).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
