package causal

import (
	"fmt"
	"math"

	"ctvae/runtime/nn"
)

// This file is the specification twin of Layer: the official computation
// written out directly from docs/MODEL.md (both discoverers over every
// ordered pair of concatenated node features, the padded graph with the
// action node, dense GATv2 with all heads of both layers, then head
// selection). It allocates freely and is never optimised; tests tie Layer
// to it.

// NaiveOutputs are ForwardNaive's results. Node sets are padded: latent
// nodes 0..n-1, the action node n, and for "endo" the noise node n+1.
type NaiveOutputs struct {
	MaskP, Mask, AdjP, Adj []float32
	GAT0                   []float32 // [nodes, h1*(A+1)] after module_0 + LeakyReLU
	Out1                   []float32 // [nodes, d*(A+1)] module_2, every head
	Logits, Probs          []float32
	Codes                  []int32
}

// ForwardNaive is Layer.Forward as the official dense computation.
func ForwardNaive(c Config, params nn.Params, codes []int32, action int, s Sampling, dr *Draws) (*NaiveOutputs, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if err := nn.Check(Specs(c), params); err != nil {
		return nil, fmt.Errorf("causal: %w", err)
	}
	n, d, A, h0, h1 := c.Nodes, c.NodeDim, c.ActionDim, c.HiddenDims[0], c.HiddenDims[1]
	H := A + 1
	if len(codes) != n || action < -1 || action >= A {
		return nil, fmt.Errorf("causal: naive: %d codes and action %d, want %d codes and an action in [-1, %d)", len(codes), action, n, A)
	}
	if s == Sample {
		if err := dr.check(c); err != nil {
			return nil, err
		}
	}
	p := func(name string) []float32 { return params[Prefix+name].Data }
	pe := p("pos_encoding.pe")
	x := make([][]float32, n) // onehot + pe
	for i := range x {
		x[i] = make([]float32, d)
		for k := 0; k < d; k++ {
			x[i][k] = pe[i*d+k]
		}
		x[i][codes[i]] += 1
	}
	linear := func(w, b, in []float32, out int) []float32 {
		y := make([]float32, out)
		for o := range y {
			var sum float32
			for k, v := range in {
				sum += w[o*len(in)+k] * v
			}
			y[o] = sum
			if b != nil {
				y[o] += b[o]
			}
		}
		return y
	}
	sigmoid := func(z float32) float32 { return float32(1 / (1 + math.Exp(-float64(z)))) }
	leaky := func(z, slope float32) float32 {
		if z < 0 {
			return z * slope
		}
		return z
	}
	o := &NaiveOutputs{MaskP: make([]float32, n), Mask: make([]float32, n),
		AdjP: make([]float32, n*n), Adj: make([]float32, n*n)}

	// Intervention mask on [onehot(a) ; pe_i].
	avec := make([]float32, A)
	if action >= 0 {
		avec[action] = 1
		for i := 0; i < n; i++ {
			in := append(append([]float32{}, avec...), pe[i*d:(i+1)*d]...)
			z := linear(p("mask.0.weight"), p("mask.0.bias"), in, d)
			o.MaskP[i] = sigmoid(z[codes[i]])
			var u float32
			if s == Sample {
				u = dr.Mask[i]
			}
			o.Mask[i] = b2f(keep(o.MaskP[i], s, u))
		}
	}

	// Discoverers 0 and 1+a over every ordered pair, row i picks by m_i.
	discover := func(k, i, j int) float32 {
		g := "graph_discovers." + fmt.Sprint(k) + "."
		in := append(append([]float32{}, x[i]...), x[j]...)
		hid := linear(p(g+"0.weight"), p(g+"0.bias"), in, h0)
		for h := range hid {
			hid[h] = leaky(hid[h], 0.01)
		}
		return sigmoid(linear(p(g+"2.weight"), p(g+"2.bias"), hid, 1)[0])
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			p0 := discover(0, i, j)
			pa := p0
			if action >= 0 {
				pa = discover(1+action, i, j)
			}
			v := p0
			if o.Mask[i] == 1 {
				v = pa
			}
			o.AdjP[i*n+j] = v
			var u float32
			if s == Sample {
				u = dr.Adj[i*n+j]
			}
			o.Adj[i*n+j] = v * b2f(keep(v, s, u))
		}
	}

	// Padded graph: extra nodes receive weight 1 from every latent, send none.
	extra := 1
	if c.Noise == NoiseEndo {
		extra = 2
	}
	M := n + extra
	wp := make([]float32, M*M)
	for i := 0; i < n; i++ {
		copy(wp[i*M:i*M+n], o.Adj[i*n:(i+1)*n])
		for e := n; e < M; e++ {
			wp[i*M+e] = 1
		}
	}
	nodes := make([][]float32, M)
	for i := 0; i < n; i++ {
		nodes[i] = append([]float32{}, x[i]...)
		if c.Noise == NoiseExo && s == Sample {
			for k := range nodes[i] {
				nodes[i][k] += dr.Noise[i*d+k]
			}
		}
	}
	nodes[n] = linear(p("a_dense.weight"), p("a_dense.bias"), avec, d)
	if extra == 2 {
		nodes[n+1] = make([]float32, d)
		if s == Sample {
			copy(nodes[n+1], dr.Noise)
		}
	}

	gatv2 := func(prefix string, xs [][]float32, ch int) [][]float32 {
		g := gatParams(params, Prefix+"graph_transitioner."+prefix)
		hc := H * ch
		xl := make([][]float32, M)
		xr := make([][]float32, M)
		for i := range xs {
			xl[i] = linear(g.wl, g.bl, xs[i], hc)
			xr[i] = linear(g.wr, g.br, xs[i], hc)
		}
		out := make([][]float32, M)
		for j := 0; j < M; j++ {
			var srcs []int
			var attrs []float32
			var sum float32
			for i := 0; i < M; i++ {
				if w := wp[i*M+j]; w != 0 && i != j {
					srcs, attrs = append(srcs, i), append(attrs, w)
					sum += w
				}
			}
			var mean float32
			if len(srcs) > 0 {
				mean = sum / float32(len(srcs))
			}
			srcs, attrs = append(srcs, j), append(attrs, mean)
			out[j] = make([]float32, hc)
			for h := 0; h < H; h++ {
				e := make([]float64, len(srcs))
				mx := math.Inf(-1)
				for t, i := range srcs {
					var sc float32
					for q := h * ch; q < (h+1)*ch; q++ {
						sc += g.att[q] * leaky(xl[i][q]+xr[j][q]+g.le[q]*attrs[t], 0.2)
					}
					e[t] = float64(sc)
					mx = math.Max(mx, e[t])
				}
				var z float64
				for t := range e {
					e[t] = math.Exp(e[t] - mx)
					z += e[t]
				}
				for t, i := range srcs {
					for q := h * ch; q < (h+1)*ch; q++ {
						out[j][q] += float32(e[t]/z) * xl[i][q]
					}
				}
			}
			for q := range out[j] {
				out[j][q] += g.bias[q]
			}
		}
		return out
	}
	g0 := gatv2("module_0.", nodes, h1)
	for _, row := range g0 {
		for q := range row {
			row[q] = leaky(row[q], 0.01)
		}
		o.GAT0 = append(o.GAT0, row...)
	}
	g1 := gatv2("module_2.", g0, d)
	for _, row := range g1 {
		o.Out1 = append(o.Out1, row...)
	}

	o.Logits, o.Probs, o.Codes = make([]float32, n*d), make([]float32, n*d), make([]int32, n)
	for i := 0; i < n; i++ {
		head := 0
		if o.Mask[i] == 1 {
			head = 1 + action
		}
		copy(o.Logits[i*d:(i+1)*d], g1[i][head*d:(head+1)*d])
		mx := math.Inf(-1)
		best := 0
		for k := 0; k < d; k++ {
			v := float64(o.Logits[i*d+k])
			if v > mx {
				mx, best = v, k
			}
		}
		o.Codes[i] = int32(best)
		var z float64
		for k := 0; k < d; k++ {
			z += math.Exp(float64(o.Logits[i*d+k]) - mx)
		}
		for k := 0; k < d; k++ {
			o.Probs[i*d+k] = float32(math.Exp(float64(o.Logits[i*d+k])-mx) / z)
		}
	}
	return o, nil
}

// RetrieveNaive is Layer.Retrieve in Mode: ForwardNaive for every action,
// the re-normalised cross-entropy per node, its mean, and softmin.
func RetrieveNaive(c Config, params nn.Params, x, y []int32) (dist, probs []float32, err error) {
	A, d := c.ActionDim, c.NodeDim
	dist, probs = make([]float32, A), make([]float32, A)
	ds := make([]float64, A)
	mn := math.Inf(1)
	for a := 0; a < A; a++ {
		o, err := ForwardNaive(c, params, x, a, Mode, nil)
		if err != nil {
			return nil, nil, err
		}
		var total float64
		for i, yi := range y {
			var s float64
			for k := 0; k < d; k++ {
				s += math.Max(float64(o.Probs[i*d+k]), 1e-4)
			}
			total += math.Log(s) - math.Log(math.Max(float64(o.Probs[i*d+int(yi)]), 1e-4))
		}
		ds[a] = total / float64(len(y))
		mn = math.Min(mn, ds[a])
	}
	var z float64
	for a := range ds {
		z += math.Exp(mn - ds[a])
	}
	for a := range ds {
		dist[a] = float32(ds[a])
		probs[a] = float32(math.Exp(mn-ds[a]) / z)
	}
	return dist, probs, nil
}
