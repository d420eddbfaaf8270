package nn

import (
	"math"
	"math/rand/v2"

	"ctvae/runtime/tensor"
)

// InitParams allocates every tensor of the table and fills it with PyTorch's default
// initialisation (see the Init kinds), drawing from a PCG generator seeded with
// seed in table order, so the same table and seed give the same parameters.
func InitParams(specs []Spec, seed uint64) Params {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	p := make(Params, len(specs))
	for _, s := range specs {
		t := tensor.New(s.Shape...)
		switch s.Init {
		case InitUniformFanIn:
			fillUniform(rng, t.Data, 1/math.Sqrt(float64(s.FanIn)))
		case InitUniformCodebook:
			fillUniform(rng, t.Data, 1/float64(s.Shape[0]))
		case InitGlorot:
			r := len(s.Shape)
			fanIn, fanOut := s.Shape[r-1], s.Shape[r-2]
			fillUniform(rng, t.Data, math.Sqrt(6/float64(fanIn+fanOut)))
		case InitZeros:
		case InitPositional:
			PositionalEncoding(t.Data, s.Shape[0], s.Shape[len(s.Shape)-1])
		default:
			panic("nn: unknown Init kind")
		}
		p[s.Name] = t
	}
	return p
}

func fillUniform(rng *rand.Rand, dst []float32, bound float64) {
	for i := range dst {
		dst[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// PositionalEncoding writes the sinusoidal table of the official
// PositionalEncoding module, [rows, d] row-major, in float32 throughout so it
// matches the stored buffer bit for bit where libm agrees:
//
//	div[i] = exp(2i · (-ln(10000)/d)), angle = p·div[i],
//	pe[p, 2i] = sin(angle), pe[p, 2i+1] = cos(angle).
func PositionalEncoding(dst []float32, rows, d int) {
	scale := float32(-math.Log(10000) / float64(d))
	for i := 0; 2*i < d; i++ {
		div := float32(math.Exp(float64(float32(2*i) * scale)))
		for p := 0; p < rows; p++ {
			angle := float32(p) * div
			dst[p*d+2*i] = float32(math.Sin(float64(angle)))
			if 2*i+1 < d {
				dst[p*d+2*i+1] = float32(math.Cos(float64(angle)))
			}
		}
	}
}
