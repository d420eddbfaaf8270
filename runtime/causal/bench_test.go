package causal

import (
	"math/rand/v2"
	"testing"

	"ctvae/runtime/nn"
)

// Benchmarks at the default config with PyTorch's default initialisation:
// probabilities near 0.5 give about half the edges and half the nodes
// masked, close to the dense worst case of the cost model.
func benchLayer(b *testing.B) (*Layer, [2][]int32) {
	c := DefaultConfig()
	l, err := New(c, nn.InitParams(Specs(c), 1))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	return l, [2][]int32{randomCodes(rng, c.Nodes, c.NodeDim), randomCodes(rng, c.Nodes, c.NodeDim)}
}

func BenchmarkForward(b *testing.B) {
	// warm: interventions on one image, whose code-only work is cached;
	// cold: every call on a new image.
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			l, x := benchLayer(b)
			l.Forward(x[0], 0, Mode, nil)
			var macs int64
			i := 0
			for b.Loop() {
				codes := x[0]
				if cold {
					codes = x[i%2]
				}
				if err := l.Forward(codes, i%l.A, Mode, nil); err != nil {
					b.Fatal(err)
				}
				macs += l.MACs()
				i++
			}
			b.ReportMetric(float64(macs)/float64(b.N)/1e6, "MMAC/op")
		})
	}
}

func BenchmarkRetrieve(b *testing.B) {
	// Every retrieval on a new x: nothing is cached from the previous one.
	l, x := benchLayer(b)
	dist, probs := make([]float32, l.A), make([]float32, l.A)
	var macs int64
	i := 0
	for b.Loop() {
		if err := l.Retrieve(x[i%2], x[(i+1)%2], Mode, 1, nil, dist, probs); err != nil {
			b.Fatal(err)
		}
		macs += l.MACs()
		i++
	}
	b.ReportMetric(float64(macs)/float64(b.N)/1e6, "MMAC/op")
}
