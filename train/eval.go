package train

import (
	"context"
	"fmt"
	"math"

	"ctvae/data"
	"ctvae/runtime/ctvae"
)

// ---------------------------------------------------------------------------
// Evaluation of a model on a split: reconstruction MSE and codebook usage on
// images; for a model with a causal layer, action retrieval accuracy (2F-way
// and, folding directions, F-way) overall and per factor, and intervention
// fidelity: how well CT(x, a) predicts the codes and image of y.
// ---------------------------------------------------------------------------

// EvalOptions choose what Evaluate measures.
type EvalOptions struct {
	Split  data.Split
	Images int // images for reconstruction and codebook usage
	Pairs  int // transition pairs for retrieval and fidelity (causal models)
	// Balanced draws every action equally often; otherwise pairs follow the
	// split's natural (imbalanced) distribution.
	Balanced bool
	Seed     uint64
	// Samples > 0 averages that many Sample-mode passes per action in
	// retrieval (the model must be loaded with causal.Sample); 0 uses the
	// model as loaded, one pass per action.
	Samples int
	// TableBaseline > 0 also reports the code-table baseline (see
	// codetable.go) counted on that many action-balanced training pairs
	// and scored on the same pairs as the model.
	TableBaseline int
}

// FactorReport is the retrieval accuracy on the pairs of one factor.
type FactorReport struct {
	Name           string  `json:"name"`
	Pairs          int     `json:"pairs"`
	ActionAccuracy float64 `json:"action_accuracy"`
	FactorAccuracy float64 `json:"factor_accuracy"`
	// InterveneMSE is the report's InterveneMSE on this factor's pairs
	// (not set for the code-table baseline).
	InterveneMSE float64 `json:"intervene_mse,omitempty"`
	// UnchangedMSE is the report's UnchangedMSE on this factor's pairs.
	UnchangedMSE float64 `json:"unchanged_mse,omitempty"`
	// MaskRecall and ChangePrecision are the report's, on this factor's
	// pairs.
	MaskRecall      float64 `json:"mask_recall,omitempty"`
	ChangePrecision float64 `json:"change_precision,omitempty"`
	nodes           nodeCounts
}

// nodeCounts counts nodes over pairs for the per-node rates: those whose
// code differs between x and y (changed), of them those CT(x, a) predicts
// right and those under the mask, and the codes CT(x, a) changes
// (predicted), of them those changed to y's.
type nodeCounts struct {
	changed, changedOK, changedMasked, predicted, predictedOK int
}

func (c *nodeCounts) add(d nodeCounts) {
	c.changed += d.changed
	c.changedOK += d.changedOK
	c.changedMasked += d.changedMasked
	c.predicted += d.predicted
	c.predictedOK += d.predictedOK
}

func (c nodeCounts) rates() (maskRecall, changePrecision float64) {
	if c.changed > 0 {
		maskRecall = float64(c.changedMasked) / float64(c.changed)
	}
	if c.predicted > 0 {
		changePrecision = float64(c.predictedOK) / float64(c.predicted)
	}
	return
}

// EvalReport is Evaluate's result, shaped for JSON.
type EvalReport struct {
	Dataset        string  `json:"dataset"`
	Split          string  `json:"split"`
	Images         int     `json:"images"`
	ReconMSE       float64 `json:"recon_mse"`
	CodesUsed      int     `json:"codes_used"`
	NumCodes       int     `json:"num_codes"`
	CodePerplexity float64 `json:"code_perplexity"`

	Pairs          int     `json:"pairs,omitempty"`
	Balanced       bool    `json:"balanced,omitempty"`
	Samples        int     `json:"samples,omitempty"`
	ActionAccuracy float64 `json:"action_accuracy,omitempty"`
	// FactorAccuracy is the rate at which the best action's factor is the
	// true factor (MODEL.md: argmax P against the true action with the
	// directions folded), so it is at least the action accuracy.
	FactorAccuracy float64        `json:"factor_accuracy,omitempty"`
	PerFactor      []FactorReport `json:"per_factor,omitempty"`
	// CodeFidelity is the fraction of nodes where CT(x, a) predicts y's code.
	CodeFidelity float64 `json:"code_fidelity,omitempty"`
	// ChangedFidelity is that fraction over the nodes whose codes differ
	// between x and y (the part an identity map gets wrong).
	ChangedFidelity float64 `json:"changed_fidelity,omitempty"`
	// InterveneMSE is MSE(decode(CT(x, a)), y).
	InterveneMSE float64 `json:"intervene_mse,omitempty"`
	// MaskRecall is the fraction of the nodes whose code differs between x
	// and y where the intervention mask is on; ChangePrecision the fraction
	// of the codes CT(x, a) changes that it changes to y's.
	MaskRecall      float64 `json:"mask_recall,omitempty"`
	ChangePrecision float64 `json:"change_precision,omitempty"`
	// TargetMSE is MSE(decode(codes of y), y) over the same pairs: what
	// decoding perfectly predicted codes would give.
	TargetMSE float64 `json:"target_mse,omitempty"`
	// UnchangedMSE is MSE(decode(codes of x), y): an intervention that
	// changes nothing. InterveneMSE above it means the predicted changes
	// cost more than they explain.
	UnchangedMSE float64 `json:"unchanged_mse,omitempty"`
	// TableBaseline is the code-table baseline's retrieval on the same
	// pairs (EvalOptions.TableBaseline).
	TableBaseline *BaselineReport `json:"table_baseline,omitempty"`
}

// BaselineReport is the retrieval accuracy of the code-table baseline.
type BaselineReport struct {
	TrainPairs     int            `json:"train_pairs"`
	ActionAccuracy float64        `json:"action_accuracy"`
	FactorAccuracy float64        `json:"factor_accuracy"`
	PerFactor      []FactorReport `json:"per_factor"`
}

// Evaluate measures m on ds. It renders images itself and runs one image
// at a time through m (deterministic mode unless m was set otherwise).
func Evaluate(ctx context.Context, m *ctvae.Model, ds data.Dataset, o EvalOptions) (*EvalReport, error) {
	if ds.Channels() != m.Config.InChannels || ds.Size() != m.Config.ImgSize {
		return nil, fmt.Errorf("train: eval: dataset %s (%d channels, %dx%d) does not fit the model (in_channels %d, img_size %d)",
			ds.Name(), ds.Channels(), ds.Size(), ds.Size(), m.Config.InChannels, m.Config.ImgSize)
	}
	if o.TableBaseline < 0 {
		return nil, fmt.Errorf("train: eval: table baseline of %d pairs, want >= 0", o.TableBaseline)
	}
	if o.Images < 1 {
		return nil, fmt.Errorf("train: eval: %d images, want >= 1", o.Images)
	}
	splits, err := data.NewSplits(ds.Len(), data.DefaultSplitSeed)
	if err != nil {
		return nil, err
	}
	idx, err := splits.Sample(o.Split, o.Images, o.Seed)
	if err != nil {
		return nil, err
	}
	rep := &EvalReport{Dataset: ds.Name(), Split: o.Split.String(), Images: o.Images, NumCodes: m.Config.NumEmbeddings}
	x := make([]float32, data.ImageLen(ds))
	y := make([]float32, len(x))
	hist := make([]int, m.Config.NumEmbeddings)
	var se float64
	for _, i := range idx {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := ds.Render(x, i); err != nil {
			return nil, err
		}
		r, err := m.ReconstructVQ(x)
		if err != nil {
			return nil, err
		}
		se += sqDist(r.Image, x)
		for _, c := range r.Input {
			hist[c]++
		}
	}
	rep.ReconMSE = se / float64(o.Images*len(x))
	total := float64(o.Images * m.Nodes())
	var h float64
	for _, n := range hist {
		if n > 0 {
			rep.CodesUsed++
			p := float64(n) / total
			h -= p * math.Log(p)
		}
	}
	rep.CodePerplexity = math.Exp(h)
	if !m.HasCausal() || o.Pairs == 0 {
		return rep, nil
	}
	if err := evalPairs(ctx, m, ds, splits, o, rep, x, y); err != nil {
		return nil, err
	}
	return rep, nil
}

func evalPairs(ctx context.Context, m *ctvae.Model, ds data.Dataset, splits *data.Splits, o EvalOptions, rep *EvalReport, x, y []float32) error {
	tr, err := data.NewTransitions(ds, splits, data.DefaultSettings, data.DefaultSplitSeed)
	if err != nil {
		return err
	}
	skew := 1.0
	if o.Balanced {
		skew = 0
	}
	smp, err := data.NewSkewSampler(tr.Pairs[o.Split], ds.NumActions(), skew, o.Seed)
	if err != nil {
		return err
	}
	F := m.NumFactors()
	newPer := func() []FactorReport {
		per := make([]FactorReport, F)
		for f, fac := range ds.Factors() {
			per[f].Name = fac.Name
		}
		return per
	}
	per := newPer()
	var table *codeTable
	var base *BaselineReport
	var scores []float64
	if o.TableBaseline > 0 {
		if table, err = buildCodeTable(ctx, m, ds, tr.Pairs[data.Train], o.TableBaseline, o.Seed^0x7ab1e); err != nil {
			return err
		}
		base = &BaselineReport{TrainPairs: o.TableBaseline, PerFactor: newPer()}
		scores = make([]float64, m.NumActions())
	}
	codesY := make([]int32, m.Nodes())
	var actOK, facOK, nodes, nodesOK int
	var ise, unchanged, target float64
	for range o.Pairs {
		p := smp.Next()
		if err := ds.Render(x, p.From); err != nil {
			return err
		}
		if err := ds.Render(y, p.To); err != nil {
			return err
		}
		r, err := m.Retrieve(ctx, x, y, max(1, o.Samples), nil)
		if err != nil {
			return err
		}
		f := p.Action % F
		per[f].Pairs++
		if r.Best == p.Action {
			actOK++
			per[f].ActionAccuracy++
		}
		if r.BestFactor == f { // the best action's factor
			facOK++
			per[f].FactorAccuracy++
		}
		copy(codesY, r.CodesY)
		in, err := m.Intervene(x, p.Action)
		if err != nil {
			return err
		}
		if table != nil {
			best := table.retrieve(in.Input, codesY, scores)
			base.PerFactor[f].Pairs++
			if best == p.Action {
				base.ActionAccuracy++
				base.PerFactor[f].ActionAccuracy++
			}
			if best%F == f {
				base.FactorAccuracy++
				base.PerFactor[f].FactorAccuracy++
			}
		}
		nc := &per[f].nodes
		for i, c := range in.Codes {
			nodes++
			if c == codesY[i] {
				nodesOK++
			}
			if in.Input[i] != codesY[i] {
				nc.changed++
				if c == codesY[i] {
					nc.changedOK++
				}
				if in.Mask[i] > 0 {
					nc.changedMasked++
				}
			}
			if c != in.Input[i] {
				nc.predicted++
				if c == codesY[i] {
					nc.predictedOK++
				}
			}
		}
		d := sqDist(in.Image, y)
		ise += d
		per[f].InterveneMSE += d / float64(len(y))
		img, err := m.Decode(in.Input)
		if err != nil {
			return err
		}
		d = sqDist(img, y)
		unchanged += d
		per[f].UnchangedMSE += d / float64(len(y))
		if img, err = m.Decode(codesY); err != nil {
			return err
		}
		target += sqDist(img, y)
	}
	rep.Pairs, rep.Balanced, rep.Samples = o.Pairs, o.Balanced, o.Samples
	rep.ActionAccuracy = float64(actOK) / float64(o.Pairs)
	rep.FactorAccuracy = float64(facOK) / float64(o.Pairs)
	var all nodeCounts
	for f := range per {
		c := per[f].nodes
		per[f].MaskRecall, per[f].ChangePrecision = c.rates()
		all.add(c)
	}
	rep.MaskRecall, rep.ChangePrecision = all.rates()
	perFactorRates(per)
	rep.PerFactor = per
	if base != nil {
		base.ActionAccuracy /= float64(o.Pairs)
		base.FactorAccuracy /= float64(o.Pairs)
		perFactorRates(base.PerFactor)
		rep.TableBaseline = base
	}
	rep.CodeFidelity = float64(nodesOK) / float64(nodes)
	if all.changed > 0 {
		rep.ChangedFidelity = float64(all.changedOK) / float64(all.changed)
	}
	rep.InterveneMSE = ise / float64(o.Pairs*len(y))
	rep.UnchangedMSE = unchanged / float64(o.Pairs*len(y))
	rep.TargetMSE = target / float64(o.Pairs*len(y))
	return nil
}

// perFactorRates turns per-factor counts of correct answers into rates.
func perFactorRates(per []FactorReport) {
	for f := range per {
		if n := float64(per[f].Pairs); n > 0 {
			per[f].ActionAccuracy /= n
			per[f].FactorAccuracy /= n
			per[f].InterveneMSE /= n
			per[f].UnchangedMSE /= n
		}
	}
}

func sqDist(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}
