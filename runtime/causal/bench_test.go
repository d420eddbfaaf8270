package causal

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"ctvae/runtime/nn"
)

// Benchmarks at the default config with PyTorch's default initialisation:
// mask probabilities near 0.5 mask about half the nodes per action, and
// the discoverers keep about 10% of the edges (430 of 4096 in Mode), spread
// so that every target's incoming edges change with every action: nothing
// but the per-code work is shared, the worst case for retrieval.
func benchLayer(b *testing.B) (*Layer, [2][]int32) {
	c := DefaultConfig()
	return benchLayerParams(b, c, nn.InitParams(Specs(c), 1))
}

func benchLayerParams(b *testing.B, c Config, p nn.Params) (*Layer, [2][]int32) {
	l, err := New(c, p)
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
	benchRetrieve(b, l, x)
}

func benchRetrieve(b *testing.B, l *Layer, x [2][]int32) {
	dist, probs := make([]float32, l.A), make([]float32, l.A)
	var macs int64
	masked := 0 // in the last action
	i := 0
	for b.Loop() {
		if err := l.Retrieve(x[i%2], x[(i+1)%2], Mode, 1, nil, dist, probs); err != nil {
			b.Fatal(err)
		}
		macs += l.MACs()
		for _, m := range l.Out().Mask {
			masked += int(m)
		}
		i++
	}
	b.ReportMetric(float64(macs)/float64(b.N)/1e6, "MMAC/op")
	b.ReportMetric(float64(masked)/float64(b.N), "masked_nodes")
}

// BenchmarkRetrieveSparseMask is BenchmarkRetrieve in the regime the mask
// and graph regularisers aim at: each action masks the nodes of about 1/32
// of the codes (mask bias -4, weight +8 on random (code, action) pairs),
// about 2 nodes here, and every discoverer keeps a sparse graph (the action
// MLPs are MLP 0 with 10% noise on W1; random init would give some of them
// dense graphs). A masked node then changes the incoming edges of a few
// targets, and the other targets' module_0 rows and head-0 projections are
// reused across actions.
func BenchmarkRetrieveSparseMask(b *testing.B) {
	c := DefaultConfig()
	p := nn.InitParams(Specs(c), 1)
	rng := rand.New(rand.NewPCG(3, 3))
	w, bias := p[Prefix+"mask.0.weight"].Data, p[Prefix+"mask.0.bias"].Data // [d, A+d], [d]
	for k := 0; k < c.NodeDim; k++ {
		bias[k] = -4
		for a := 0; a < c.ActionDim; a++ {
			if rng.IntN(32) == 0 {
				w[k*(c.ActionDim+c.NodeDim)+a] = 8
			}
		}
	}
	g0 := Prefix + "graph_discovers.0."
	for a := 1; a <= c.ActionDim; a++ {
		g := Prefix + "graph_discovers." + strconv.Itoa(a) + "."
		for _, name := range []string{"0.weight", "0.bias", "2.weight", "2.bias"} {
			copy(p[g+name].Data, p[g0+name].Data)
		}
		for i, v := range p[g+"0.weight"].Data {
			p[g+"0.weight"].Data[i] = v * float32(1+0.1*rng.NormFloat64())
		}
	}
	l, x := benchLayerParams(b, c, p)
	benchRetrieve(b, l, x)
}
