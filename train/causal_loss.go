package train

import "math"

// ---------------------------------------------------------------------------
// Causal-phase losses of one sample (docs/MODEL.md "Losses"), each returning
// its value and adding scale × its gradient into the gradient tensors. CE is
// the official re-normalised form: log Σ_k clamp(q_k) - log clamp(q_y),
// clamp = max(., 1e-4), averaged over nodes.
// ---------------------------------------------------------------------------

const ceClamp = 1e-4

// ceRenorm returns mean_i CE(q_i, y_i) and writes its gradient dq (scaled).
func ceRenorm(dq, q []float64, y []int32, d int, scale float64) float64 {
	return ceRenormWeighted(dq, q, y, nil, d, scale)
}

// ceRenormWeighted is ceRenorm with node weights: Σ_i w_i CE_i / Σ_i w_i
// (nil w: uniform, the official mean).
func ceRenormWeighted(dq, q []float64, y []int32, w []float64, d int, scale float64) float64 {
	n := len(y)
	wsum := float64(n)
	if w != nil {
		wsum = 0
		for _, v := range w {
			wsum += v
		}
	}
	var total float64
	for i, yi := range y {
		qi := q[i*d : (i+1)*d]
		var s float64
		for _, v := range qi {
			s += max(v, ceClamp)
		}
		qy := max(qi[yi], ceClamp)
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		total += wi * (math.Log(s) - math.Log(qy))
		if dq == nil {
			continue
		}
		g := scale * wi / wsum
		for k, v := range qi {
			dq[i*d+k] = 0
			if v > ceClamp {
				dq[i*d+k] = g / s
			}
		}
		if qi[yi] > ceClamp {
			dq[i*d+int(yi)] -= g / qy
		}
	}
	return total / wsum
}

// ctLossWeights are the causal loss coefficients.
type ctLossWeights struct {
	gamma, cAlpha, cBeta, cDelta, cEpsilon float64
	// auxMask weighs the auxiliary mask loss (0: off, the paper).
	auxMask float64
	// changedWeight is the extra CE weight of nodes whose code changes
	// between x and y in action batches (0: uniform, the paper).
	changedWeight float64
}

// ctWorker holds one shard's passes and buffers.
type ctWorker struct {
	s      ctShape
	pass   *ctPass
	passes []*ctPass // one per action, for the causal batch
	draws  []*ctDraws
	dq     []float64
	dAdj   []float64
	dG     []float64
	dzMask []float64
	nodeW  []float64
	// identity-graph GNN
	idH, idHa, idOut, idQ, idDOut, idDH []float64
	heads0, headsAll                    []int
}

func newCTWorker(s ctShape) *ctWorker {
	w := &ctWorker{s: s, pass: newCTPass(s), dq: make([]float64, s.n*s.d), dAdj: make([]float64, s.n*s.n), dG: make([]float64, s.n*s.n),
		idH: make([]float64, s.n*s.H*s.h1), idHa: make([]float64, s.n*s.H*s.h1), idOut: make([]float64, s.n*s.d),
		idQ: make([]float64, s.n*s.d), idDOut: make([]float64, s.n*s.d), idDH: make([]float64, s.n*s.H*s.h1), heads0: []int{0}}
	for h := 0; h < s.H; h++ {
		w.headsAll = append(w.headsAll, h)
	}
	for a := 0; a <= s.A; a++ {
		w.draws = append(w.draws, newCTDraws(s))
	}
	return w
}

// baseLoss is the base batch's ct term for one sample:
// CE(CT(x), x) + c_alpha·(CE(identity GNN, x) + MSE(G, I)); scale
// multiplies the gradient (gamma / batch). It returns (CE, ct).
func (w *ctWorker) baseLoss(p, g *ctParams, codes []int32, dr *ctDraws, lw ctLossWeights, scale float64) (float64, float64) {
	s := w.s
	n, d := s.n, s.d
	c := w.pass
	c.forward(p, codes, -1, dr)
	ce := ceRenorm(w.dq, c.q, codes, d, scale)
	// MSE(G, I) over n² entries, gradient into the hard sample (STE).
	var mse float64
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			t := 0.0
			if i == j {
				t = 1
			}
			diff := c.G[i*n+j] - t
			mse += diff * diff
			w.dG[i*n+j] = scale * lw.cAlpha * 2 * diff / float64(n*n)
		}
	}
	mse /= float64(n * n)
	c.backward(p, g, w.dq, nil, w.dG)
	id := w.identityLoss(p, g, codes, c.x, c.g0.xl, scale*lw.cAlpha)
	return ce, ce + lw.cAlpha*(id+mse)
}

// identityLoss is CE of the GNN on the identity graph: every node's only
// edge is its own loop (attribute 0), so attention is 1 and the output is
// lin_l2(LeakyReLU(lin_l1(x) + bias1)) + bias2, head 0. xl1 is lin_l1(x)
// over all heads, as the pass's first GATv2 layer computed it.
func (w *ctWorker) identityLoss(p, g *ctParams, codes []int32, x, xl1 []float64, scale float64) float64 {
	s := w.s
	n, d, hc := s.n, s.d, s.H*s.h1
	copy(w.idH, xl1[:n*hc])
	for i := 0; i < n; i++ {
		for q := 0; q < hc; q++ {
			w.idH[i*hc+q] += p.g0.bias[q]
			w.idHa[i*hc+q] = leakyF(w.idH[i*hc+q], 0.01)
		}
	}
	linearHeads(w.idOut, p.g2.wl, p.g2.bl, w.idHa, n, hc, d, w.heads0)
	for i := 0; i < n; i++ {
		for k := 0; k < d; k++ {
			w.idOut[i*d+k] += p.g2.bias[k]
		}
	}
	softmaxRows(w.idQ, w.idOut, n, d)
	ce := ceRenorm(w.dq, w.idQ, codes, d, scale)
	for i := 0; i < n; i++ {
		q, dq := w.idQ[i*d:(i+1)*d], w.dq[i*d:(i+1)*d]
		var dot float64
		for k := range q {
			dot += q[k] * dq[k]
		}
		for k := range q {
			w.idDOut[i*d+k] = q[k] * (dq[k] - dot)
			g.g2.bias[k] += w.idDOut[i*d+k]
		}
	}
	clear(w.idDH)
	linearHeadsBackward(g.g2.wl, g.g2.bl, w.idDH, p.g2.wl, w.idHa, w.idDOut, n, hc, d, w.heads0)
	for i := 0; i < n; i++ {
		for q := 0; q < hc; q++ {
			w.idDH[i*hc+q] *= leakyD(w.idH[i*hc+q], 0.01)
			g.g0.bias[q] += w.idDH[i*hc+q]
		}
	}
	linearHeadsBackward(g.g0.wl, g.g0.bl, nil, p.g0.wl, x, w.idDH, n, d, s.h1, w.headsAll)
	return ce
}

// actionLoss is the action batch's ct term for one sample x --a--> y:
// CE(CT(x, a), y) + c_beta·KL(t ‖ softmax(vec Adj)) + c_delta·‖G‖_F
// + c_epsilon·‖(Π_j (1 - Adj_ij))_i‖₂, t = softmax(U). It returns (CE, ct).
func (w *ctWorker) actionLoss(p, g *ctParams, x, y []int32, a int, dr *ctDraws, lw ctLossWeights, scale float64) (float64, float64) {
	s := w.s
	n, d := s.n, s.d
	c := w.pass
	c.forward(p, x, a, dr)
	var nodeW []float64
	if lw.changedWeight > 0 {
		if len(w.nodeW) != n {
			w.nodeW = make([]float64, n)
		}
		for i := range n {
			w.nodeW[i] = 1
			if x[i] != y[i] {
				w.nodeW[i] += lw.changedWeight
			}
		}
		nodeW = w.nodeW
	}
	ce := ceRenormWeighted(w.dq, c.q, y, nodeW, d, scale)
	// KL(t ‖ softmax(adj)) = Σ t (log t - log_softmax(adj)); ∂/∂adj = softmax(adj) - t.
	nn2 := n * n
	mxU, mxA := dr.uniformT[0], c.adj[0]
	for t := 0; t < nn2; t++ {
		mxU, mxA = max(mxU, dr.uniformT[t]), max(mxA, c.adj[t])
	}
	var zU, zA float64
	for t := 0; t < nn2; t++ {
		zU += math.Exp(dr.uniformT[t] - mxU)
		zA += math.Exp(c.adj[t] - mxA)
	}
	var kl float64
	for t := 0; t < nn2; t++ {
		lt := dr.uniformT[t] - mxU - math.Log(zU)
		la := c.adj[t] - mxA - math.Log(zA)
		kl += math.Exp(lt) * (lt - la)
		w.dAdj[t] = scale * lw.cBeta * (math.Exp(la) - math.Exp(lt))
	}
	// ‖G‖_F and its gradient G/‖G‖ (into the hard sample, STE).
	var gg float64
	for _, v := range c.G {
		gg += v * v
	}
	fro := math.Sqrt(gg)
	for t, v := range c.G {
		w.dG[t] = 0
		if fro > 0 {
			w.dG[t] = scale * lw.cDelta * v / fro
		}
	}
	// r_i = Π_j (1 - Adj_ij); ‖r‖₂; ∂r_i/∂Adj_ij = -Π_{k≠j}(1 - Adj_ik),
	// from prefix and suffix products so Adj = 1 needs no division.
	r := make([]float64, n)
	var rr float64
	for i := 0; i < n; i++ {
		prod := 1.0
		for j := 0; j < n; j++ {
			prod *= 1 - c.adj[i*n+j]
		}
		r[i] = prod
		rr += prod * prod
	}
	norm := math.Sqrt(rr)
	if norm > 0 {
		pre := make([]float64, n+1)
		for i := 0; i < n; i++ {
			row := c.adj[i*n : (i+1)*n]
			pre[0] = 1
			for j := 0; j < n; j++ {
				pre[j+1] = pre[j] * (1 - row[j])
			}
			suf := 1.0
			for j := n - 1; j >= 0; j-- {
				w.dAdj[i*n+j] -= scale * lw.cEpsilon * r[i] / norm * pre[j] * suf
				suf *= 1 - row[j]
			}
		}
	}
	// Auxiliary mask target (an improvement, off in the paper recipe): the
	// nodes whose codes differ between x and y are the ones the action must
	// intervene on, so BCE(p_i, [x_i != y_i]) averaged over nodes; with
	// p = σ(z), ∂BCE/∂z = p - t.
	var aux float64
	c.dzMask = nil
	if lw.auxMask > 0 {
		if len(w.dzMask) != n {
			w.dzMask = make([]float64, n)
		}
		for i := 0; i < n; i++ {
			t := 0.0
			if x[i] != y[i] {
				t = 1
			}
			pi := min(max(c.p[i], 1e-12), 1-1e-12)
			aux -= t*math.Log(pi) + (1-t)*math.Log(1-pi)
			w.dzMask[i] = scale * lw.auxMask * (c.p[i] - t) / float64(n)
		}
		aux /= float64(n)
		c.dzMask = w.dzMask
	}
	c.backward(p, g, w.dq, w.dAdj, w.dG)
	c.dzMask = nil
	return ce, ce + lw.cBeta*kl + lw.cDelta*fro + lw.cEpsilon*norm + lw.auxMask*aux
}

// causalLoss is the causal batch's loss for one pair x --a--> y: with
// d_b = CE(CT(x, b), y) for every action b and P = softmin(d), the loss
// is CE(P, a) in the re-normalised form. Regularisers are not used. It
// returns (loss, argmax P).
func (w *ctWorker) causalLoss(p, g *ctParams, x, y []int32, a int, draws []*ctDraws, scale float64) (float64, int) {
	s := w.s
	A, d := s.A, s.d
	for len(w.passes) < A {
		w.passes = append(w.passes, newCTPass(s))
	}
	dist := make([]float64, A)
	for b := 0; b < A; b++ {
		w.passes[b].forward(p, x, b, draws[b])
		dist[b] = ceRenorm(nil, w.passes[b].q, y, d, 0)
	}
	mn := dist[0]
	for _, v := range dist {
		mn = min(mn, v)
	}
	P := make([]float64, A)
	var z float64
	for b, v := range dist {
		P[b] = math.Exp(mn - v)
		z += P[b]
	}
	best := 0
	var sum float64
	for b := range P {
		P[b] /= z
		sum += max(P[b], ceClamp)
		if P[b] > P[best] {
			best = b
		}
	}
	loss := math.Log(sum) - math.Log(max(P[a], ceClamp))
	// ∂loss/∂P, then softmin: ∂/∂d_b = -P_b (dP_b - Σ P dP).
	dP := make([]float64, A)
	for b, v := range P {
		if v > ceClamp {
			dP[b] = 1 / sum
		}
	}
	if P[a] > ceClamp {
		dP[a] -= 1 / P[a]
	}
	var dot float64
	for b := range P {
		dot += P[b] * dP[b]
	}
	for b := 0; b < A; b++ {
		dd := -P[b] * (dP[b] - dot)
		ceRenorm(w.dq, w.passes[b].q, y, d, scale*dd)
		w.passes[b].backward(p, g, w.dq, nil, nil)
	}
	return loss, best
}
