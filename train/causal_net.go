package train

import "math"

func expF(x float64) float64 { return math.Exp(x) }

// discCache is one discoverer MLP's forward state over all ordered pairs
// and its backward buffers. The per-pair hidden layer is not stored: with
// LeakyReLU(a) = la·a + lb·|a| (see leakyParts), the MLP's output is
//
//	z_ij = b2 + la·(w2·u_i + w2·v_j) + lb·Σ_h w2_h·|u_ih + v_jh|
//
// and the backward recomputes a = u_ih + v_jh.
type discCache struct {
	k      int       // MLP index: 0, or 1+a
	u, v   []float64 // [n, h0] per-node halves of the first Linear (u with bias)
	su, sv []float64 // [n] w2·u_i and w2·v_j
	P      []float64 // [n·n] σ output
	dz     []float64 // [n·n] ∂loss/∂z_ij
	du     []float64 // [n, h0]
	dv     []float64
	gabs   []float64 // [h0] Σ_ij dz_ij·|a_ijh|
}

// leakyParts are the even and odd weights of LeakyReLU(a) = la·a + lb·|a|
// for the discoverers' slope 0.01, as leakyF computes it.
const (
	discLA = 0.5 * (1 + 0.01)
	discLB = 0.5 * (1 - 0.01)
)

// ctPass is the forward state of one causal pass and its backward.
type ctPass struct {
	s      ctShape
	codes  []int32
	action int // -1: base mode
	dr     *ctDraws

	x, mpe  []float64 // [n, d] features and the mask's positional input
	p, m    []float64 // [n] mask probability and hard sample
	dsoftM  []float64 // [n] ∂soft/∂p of the mask sample
	disc    [2]*discCache
	adj     []float64 // [n·n]
	G, dsG  []float64 // hard graph sample and ∂soft/∂Adj
	gr      edges
	g0, g2  *gatCache
	h0, h0a []float64 // [n, H·h1] layer-0 output before and after LeakyReLU
	logits  []float64 // [n, d]
	q       []float64 // [n, d]

	softM, softG []float64 // soft samples
	// ste, when set, replaces each hard sample h by h0 + soft - soft0 with
	// (h0, soft0) recorded at a reference point: the straight-through
	// surrogate whose derivative the backward computes, for tests.
	ste *ctSTE

	// dzMask, when set, is an extra gradient on the mask's pre-sigmoid
	// outputs z_i (the auxiliary mask loss).
	dzMask []float64

	// backward buffers
	dlog, dout2, dh0, dadj, dGs, dm []float64
}

// ctSTE is a recorded set of hard and soft samples (see ctPass.ste).
type ctSTE struct{ m, softM, G, softG []float64 }

// record returns the pass's current samples as a reference point.
func (c *ctPass) record() *ctSTE {
	cl := func(x []float64) []float64 { return append([]float64(nil), x...) }
	return &ctSTE{m: cl(c.m), softM: cl(c.softM), G: cl(c.G), softG: cl(c.softG)}
}

func newCTPass(s ctShape) *ctPass {
	n, d := s.n, s.d
	maxE := n*n + n
	c := &ctPass{s: s, softM: make([]float64, n), softG: make([]float64, n*n), x: make([]float64, n*d), mpe: make([]float64, n*d), p: make([]float64, n), m: make([]float64, n),
		dsoftM: make([]float64, n), adj: make([]float64, n*n), G: make([]float64, n*n), dsG: make([]float64, n*n),
		gr: edges{off: make([]int, n+1), src: make([]int, 0, maxE), attr: make([]float64, 0, maxE)},
		g0: newGatCache(n, s.H, s.h1, d, maxE),
		g2: newGatCache(n, 2, d, s.H*s.h1, maxE),
		h0: make([]float64, n*s.H*s.h1), h0a: make([]float64, n*s.H*s.h1),
		logits: make([]float64, n*d), q: make([]float64, n*d),
		dlog: make([]float64, n*d), dout2: make([]float64, n*2*d), dh0: make([]float64, n*s.H*s.h1),
		dadj: make([]float64, n*n), dGs: make([]float64, n*n), dm: make([]float64, n)}
	for k := range c.disc {
		c.disc[k] = &discCache{u: make([]float64, n*s.h0), v: make([]float64, n*s.h0), su: make([]float64, n), sv: make([]float64, n),
			P: make([]float64, n*n), dz: make([]float64, n*n), du: make([]float64, n*s.h0), dv: make([]float64, n*s.h0),
			gabs: make([]float64, s.h0)}
	}
	c.g0.heads = make([]int, s.H)
	for h := range c.g0.heads {
		c.g0.heads[h] = h
	}
	return c
}

// forward runs the layer on codes with action (-1: base mode) under draws.
func (c *ctPass) forward(p *ctParams, codes []int32, action int, dr *ctDraws) {
	s := c.s
	n, d, A := s.n, s.d, s.A
	c.codes, c.action, c.dr = codes, action, dr
	scale := 1 / (1 - dr.dropout)
	for i := 0; i < n; i++ {
		for k := 0; k < d; k++ {
			v := p.pe[i*d+k]
			if int(codes[i]) == k {
				v++
			}
			c.x[i*d+k], c.mpe[i*d+k] = 0, 0
			if dr.keepX[i*d+k] {
				c.x[i*d+k] = v * scale
			}
			if dr.keepM[i*d+k] {
				c.mpe[i*d+k] = p.pe[i*d+k] * scale
			}
		}
	}
	// Mask: only row code_i of the Linear is read.
	clear(c.m)
	if action >= 0 {
		for i := 0; i < n; i++ {
			r := int(codes[i])
			w := p.maskW[r*(A+d) : (r+1)*(A+d)]
			z := p.maskB[r] + w[action]
			for k, v := range c.mpe[i*d : (i+1)*d] {
				z += w[A+k] * v
			}
			c.p[i] = sigmoid(z)
			c.m[i], c.softM[i], c.dsoftM[i] = hardGumbel(c.p[i], dr.gMask[2*i], dr.gMask[2*i+1])
			if c.ste != nil {
				c.m[i] = c.ste.m[i] + c.softM[i] - c.ste.softM[i]
			}
		}
	}
	// Discoverers.
	c.discForward(p, c.disc[0], 0)
	if action >= 0 {
		c.discForward(p, c.disc[1], 1+action)
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				c.adj[i*n+j] = c.m[i]*c.disc[1].P[i*n+j] + (1-c.m[i])*c.disc[0].P[i*n+j]
			}
		}
	} else {
		copy(c.adj, c.disc[0].P)
	}
	// Graph sample and edges.
	for t := range c.adj {
		c.G[t], c.softG[t], c.dsG[t] = hardGumbel(c.adj[t], dr.gAdj[2*t], dr.gAdj[2*t+1])
	}
	edge := c.G
	if c.ste != nil {
		edge = c.ste.G
		for t := range c.G {
			c.G[t] = c.ste.G[t] + c.softG[t] - c.ste.softG[t]
		}
	}
	e := &c.gr
	e.src, e.attr = e.src[:0], e.attr[:0]
	for j := 0; j < n; j++ {
		e.off[j] = len(e.src)
		var sum float64
		cnt := 0
		for i := 0; i < n; i++ {
			if i != j && edge[i*n+j] != 0 {
				w := c.adj[i*n+j] * c.G[i*n+j]
				e.src, e.attr = append(e.src, i), append(e.attr, w)
				sum += w
				cnt++
			}
		}
		var mean float64
		if cnt > 0 {
			mean = sum / float64(cnt)
		}
		e.src, e.attr = append(e.src, j), append(e.attr, mean)
	}
	e.off[n] = len(e.src)
	// GATv2 stack.
	gatForward(p.g0, c.g0, c.x, n, e)
	copy(c.h0, c.g0.out[:len(c.h0)])
	for t, v := range c.h0 {
		c.h0a[t] = leakyF(v, 0.01)
	}
	c.g2.heads = c.g2.heads[:0]
	c.g2.heads = append(c.g2.heads, 0)
	if action >= 0 {
		c.g2.heads = append(c.g2.heads, 1+action)
	}
	gatForward(p.g2, c.g2, c.h0a, n, e)
	nh := len(c.g2.heads)
	for i := 0; i < n; i++ {
		for k := 0; k < d; k++ {
			v := c.g2.out[(i*nh)*d+k]
			if nh == 2 {
				v = c.m[i]*c.g2.out[(i*nh+1)*d+k] + (1-c.m[i])*v
			}
			c.logits[i*d+k] = v
		}
	}
	softmaxRows(c.q, c.logits, n, d)
}

func (c *ctPass) discForward(p *ctParams, dc *discCache, k int) {
	s := c.s
	n, d, h0 := s.n, s.d, s.h0
	dc.k = k
	w1, b1, w2, b2 := p.discW1[k], p.discB1[k], p.discW2[k], p.discB2[k][0]
	// U = X·W1[:, :d]ᵀ + b1, V = X·W1[:, d:]ᵀ (W1 is [h0, 2d]), as
	// Uᵀ = W1[:, :d]·Xᵀ and Vᵀ = W1[:, d:]·Xᵀ.
	sp, buf := scratch64(d*n + h0*n)
	xT, ct := buf[:d*n], buf[d*n:]
	transpose64(xT, c.x, n, d, d)
	for half, dst := range [2][]float64{dc.u, dc.v} {
		clear(ct)
		gemm64(h0, n, d, w1[half*d:], 2*d, 1, xT, n, ct, n)
		for i := 0; i < n; i++ {
			row := dst[i*h0 : (i+1)*h0]
			for h := range row {
				row[h] = ct[h*n+i]
				if half == 0 {
					row[h] += b1[h]
				}
			}
		}
	}
	scratchPool.Put(sp)
	for i := 0; i < n; i++ {
		dc.su[i] = dotH(w2, dc.u[i*h0:(i+1)*h0])
		dc.sv[i] = dotH(w2, dc.v[i*h0:(i+1)*h0])
	}
	for i := 0; i < n; i++ {
		u := dc.u[i*h0 : (i+1)*h0]
		for j := 0; j < n; j++ {
			z := b2 + discLA*(dc.su[i]+dc.sv[j]) + discLB*absPairSum(w2, u, dc.v[j*h0:(j+1)*h0])
			dc.P[i*n+j] = sigmoid(z)
		}
	}
}

// dotH is Σ a[h]·b[h] over len(a).
func dotH(a, b []float64) float64 {
	b = b[:len(a)]
	var s float64
	for h, v := range a {
		s += v * b[h]
	}
	return s
}

// absPairSumGo is Σ_h w[h]·|u[h] + v[h]| over len(w), in four partial sums
// (absPairSum runs it, or AVX2 on amd64 for the first len/8·8 terms).
func absPairSumGo(w, u, v []float64) float64 {
	u, v = u[:len(w)], v[:len(w)]
	var s0, s1, s2, s3 float64
	for len(w) >= 4 && len(u) >= 4 && len(v) >= 4 {
		s0 += w[0] * math.Abs(u[0]+v[0])
		s1 += w[1] * math.Abs(u[1]+v[1])
		s2 += w[2] * math.Abs(u[2]+v[2])
		s3 += w[3] * math.Abs(u[3]+v[3])
		w, u, v = w[4:], u[4:], v[4:]
	}
	for h := range w {
		s0 += w[h] * math.Abs(u[h]+v[h])
	}
	return (s0 + s1) + (s2 + s3)
}

func softmaxRows(dst, src []float64, rows, cols int) {
	for r := 0; r < rows; r++ {
		row := src[r*cols : (r+1)*cols]
		mx := row[0]
		for _, v := range row {
			mx = max(mx, v)
		}
		var z float64
		out := dst[r*cols : (r+1)*cols]
		for k, v := range row {
			out[k] = math.Exp(v - mx)
			z += out[k]
		}
		for k := range out {
			out[k] /= z
		}
	}
}

// backward adds parameter gradients into g from dq [n, d] (∂loss/∂q), plus
// extra gradients on the adjacency probabilities dAdjX and on the hard
// graph sample dGX (regularisers; nil for none).
func (c *ctPass) backward(p, g *ctParams, dq, dAdjX, dGX []float64) {
	s := c.s
	n, d, A := s.n, s.d, s.A
	// Softmax.
	for i := 0; i < n; i++ {
		q, dqi := c.q[i*d:(i+1)*d], dq[i*d:(i+1)*d]
		var dot float64
		for k := range q {
			dot += q[k] * dqi[k]
		}
		for k := range q {
			c.dlog[i*d+k] = q[k] * (dqi[k] - dot)
		}
	}
	// Head selection.
	nh := len(c.g2.heads)
	clear(c.dm)
	for i := 0; i < n; i++ {
		for k := 0; k < d; k++ {
			gl := c.dlog[i*d+k]
			if nh == 1 {
				c.dout2[i*d+k] = gl
				continue
			}
			c.dout2[(i*nh)*d+k] = (1 - c.m[i]) * gl
			c.dout2[(i*nh+1)*d+k] = c.m[i] * gl
			c.dm[i] += gl * (c.g2.out[(i*nh+1)*d+k] - c.g2.out[(i*nh)*d+k])
		}
	}
	e := &c.gr
	clear(c.dh0)
	gatBackward(p.g2, g.g2, c.g2, c.dout2, c.dh0, n, e)
	for t, v := range c.h0 {
		c.dh0[t] *= leakyD(v, 0.01)
	}
	dattr2 := c.g2.dattr
	gatBackward(p.g0, g.g0, c.g0, c.dh0, nil, n, e)
	// Edge attributes: W_ij = Adj_ij·G_ij on edges; the self loop's mean
	// spreads its gradient evenly over the target's incoming edges.
	clear(c.dadj)
	clear(c.dGs)
	for j := 0; j < n; j++ {
		lo, hi := e.off[j], e.off[j+1]
		self := dattr2[hi-1] + c.g0.dattr[hi-1]
		cnt := hi - 1 - lo
		for t := lo; t < hi-1; t++ {
			dw := dattr2[t] + c.g0.dattr[t]
			if cnt > 0 {
				dw += self / float64(cnt)
			}
			i := e.src[t]
			// W = Adj·G with G = hard - sg(soft) + soft: ∂W/∂Adj = G + Adj·∂soft/∂Adj.
			c.dadj[i*n+j] += dw * c.G[i*n+j]
			c.dGs[i*n+j] += dw * c.adj[i*n+j]
		}
	}
	if dGX != nil {
		for t, v := range dGX {
			c.dGs[t] += v
		}
	}
	for t := range c.dadj {
		c.dadj[t] += c.dGs[t] * c.dsG[t]
	}
	if dAdjX != nil {
		for t, v := range dAdjX {
			c.dadj[t] += v
		}
	}
	// Row selection between the two discoverers.
	if c.action >= 0 {
		d0, d1 := c.disc[0], c.disc[1]
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				ga := c.dadj[i*n+j]
				c.dm[i] += ga * (d1.P[i*n+j] - d0.P[i*n+j])
			}
		}
		c.discBackward(p, g, d1, func(i, j int) float64 { return c.m[i] * c.dadj[i*n+j] })
		c.discBackward(p, g, d0, func(i, j int) float64 { return (1 - c.m[i]) * c.dadj[i*n+j] })
	} else {
		c.discBackward(p, g, c.disc[0], func(i, j int) float64 { return c.dadj[i*n+j] })
	}
	// Mask.
	if c.action >= 0 {
		for i := 0; i < n; i++ {
			dz := c.dm[i] * c.dsoftM[i] * c.p[i] * (1 - c.p[i])
			if c.dzMask != nil {
				dz += c.dzMask[i]
			}
			if dz == 0 {
				continue
			}
			r := int(c.codes[i])
			gw := g.maskW[r*(A+d) : (r+1)*(A+d)]
			g.maskB[r] += dz
			gw[c.action] += dz
			for k, v := range c.mpe[i*d : (i+1)*d] {
				gw[A+k] += dz * v
			}
		}
	}
}

// discBackward adds the gradients of MLP dc.k given ∂loss/∂P_ij = dP(i, j).
// With dz_ij = dP·P(1-P), r_i = Σ_j dz_ij, c_j = Σ_i dz_ij and the sign
// sums S_ih = Σ_j dz_ij·sgn(a_ijh), T_jh = Σ_i dz_ij·sgn(a_ijh):
//
//	∂u_ih = w2_h·(la·r_i + lb·S_ih)     ∂v_jh = w2_h·(la·c_j + lb·T_jh)
//	∂w2_h = la·Σ_i (u_ih·r_i + v_ih·c_i) + lb·Σ_ij dz_ij·|a_ijh|
func (c *ctPass) discBackward(p, g *ctParams, dc *discCache, dP func(i, j int) float64) {
	s := c.s
	n, d, h0 := s.n, s.d, s.h0
	k := dc.k
	w2 := p.discW2[k]
	gw1, gb1, gw2, gb2 := g.discW1[k], g.discB1[k], g.discW2[k], g.discB2[k]
	clear(dc.du)
	clear(dc.dv)
	clear(dc.gabs)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			P := dc.P[i*n+j]
			dc.dz[i*n+j] = dP(i, j) * P * (1 - P)
		}
	}
	for i := 0; i < n; i++ {
		u, S := dc.u[i*h0:(i+1)*h0], dc.du[i*h0:(i+1)*h0]
		for j := 0; j < n; j++ {
			if dz := dc.dz[i*n+j]; dz != 0 {
				signSums(dz, u, dc.v[j*h0:(j+1)*h0], S, dc.dv[j*h0:(j+1)*h0], dc.gabs)
			}
		}
	}
	for i := 0; i < n; i++ {
		var r, cs float64
		for j := 0; j < n; j++ {
			r += dc.dz[i*n+j]
			cs += dc.dz[j*n+i]
		}
		gb2[0] += r
		u, v := dc.u[i*h0:(i+1)*h0], dc.v[i*h0:(i+1)*h0]
		du, dv := dc.du[i*h0:(i+1)*h0], dc.dv[i*h0:(i+1)*h0]
		for h, w := range w2 {
			gw2[h] += discLA * (u[h]*r + v[h]*cs)
			du[h] = w * (discLA*r + discLB*du[h])
			dv[h] = w * (discLA*cs + discLB*dv[h])
			gb1[h] += du[h]
		}
	}
	for h, v := range dc.gabs {
		gw2[h] += discLB * v
	}
	// gW1[:, :d] += dUᵀ·X, gW1[:, d:] += dVᵀ·X.
	gemm64(h0, d, n, dc.du, 1, h0, c.x, d, gw1, 2*d)
	gemm64(h0, d, n, dc.dv, 1, h0, c.x, d, gw1[d:], 2*d)
}

// signSumsGo adds, for a[h] = u[h] + v[h] and t = dz·sgn(a[h]) (sgn(±0) =
// ±1, as leakyD), t to S[h] and T[h], and t·a[h] = dz·|a[h]| to G[h], over
// len(u) (signSums runs it, or AVX2 on amd64 for the first len/4·4).
func signSumsGo(dz float64, u, v, S, T, G []float64) {
	const sign = 1 << 63
	bits := math.Float64bits(dz)
	v, S, T, G = v[:len(u)], S[:len(u)], T[:len(u)], G[:len(u)]
	for h, uh := range u {
		a := uh + v[h]
		t := math.Float64frombits(bits ^ math.Float64bits(a)&sign) // dz·sgn(a)
		S[h] += t
		T[h] += t
		G[h] += t * a
	}
}
