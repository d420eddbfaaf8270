package ctvae

import (
	"context"
	"testing"

	"ctvae/runtime/nn"
)

// The default (Shapes3D) config with PyTorch-default random weights: the
// cost of a pass does not depend on the weights' values, except for the
// causal layer's graph density, which random weights put near one half.
func newDefault(b *testing.B) *Model {
	b.Helper()
	cfg := DefaultConfig()
	m, err := New(cfg, nn.InitParams(Specs(cfg), 1), Meta{}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// cpuTimer measures the process CPU time of a benchmark's loop: start it
// after b.ResetTimer, and report passes it on.
type cpuTimer float64

func startCPU() cpuTimer { return cpuTimer(cpuSeconds()) }

// report adds ms/op (wall), cpu-ms/op (process CPU time: on a loaded
// machine the steadier number for one thread; the sum over threads
// natively) and GFLOP/s (by wall time, when macs > 0).
func report(b *testing.B, macs int64, cpu0 cpuTimer) {
	ms := float64(b.Elapsed().Nanoseconds()) / 1e6 / float64(b.N)
	b.ReportMetric(ms, "ms/op")
	b.ReportMetric((cpuSeconds()-float64(cpu0))*1e3/float64(b.N), "cpu-ms/op")
	if macs > 0 {
		b.ReportMetric(2*float64(macs)/(ms*1e6), "GFLOP/s")
	}
}

// BenchmarkVQVAE is encode+quantize+decode of one 64x64x3 image.
func BenchmarkVQVAE(b *testing.B) {
	m := newDefault(b)
	x := image(m, 1)
	m.ReconstructVQ(x)
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		m.ReconstructVQ(x)
	}
	report(b, m.vq.MACs(), cpu)
}

// BenchmarkIntervene is the causal layer alone on cached codes (the encoder
// output is reused, as the UI does when the user tries several actions),
// cycling through the actions so no per-action cache helps.
func BenchmarkIntervene(b *testing.B) {
	m := newDefault(b)
	codes, _ := m.Encode(image(m, 1))
	codes = append([]int32(nil), codes...)
	if err := m.ct.Forward(codes, 0, m.opts.Sampling, m.draws); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := startCPU()
	var macs int64
	for i := 0; i < b.N; i++ {
		m.ct.Forward(codes, i%m.NumActions(), m.opts.Sampling, m.draws)
		macs += m.ct.MACs()
	}
	report(b, macs/int64(b.N), cpu)
}

// BenchmarkInterveneImage is a whole intervention from pixels: encode, the
// causal layer, decode.
func BenchmarkInterveneImage(b *testing.B) {
	m := newDefault(b)
	x := image(m, 1)
	m.Intervene(x, 0)
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		m.Intervene(x, i%m.NumActions())
	}
	report(b, 0, cpu)
}

// BenchmarkRetrieve is one image pair: both encodes and all 12 actions.
func BenchmarkRetrieve(b *testing.B) {
	m := newDefault(b)
	x, y := image(m, 1), image(m, 2)
	ctx := context.Background()
	m.Retrieve(ctx, x, y, 1, nil)
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		// A new x each time would defeat the layer's code cache; alternate
		// two pairs so the shared per-x work is redone every call.
		if i%2 == 0 {
			m.Retrieve(ctx, x, y, 1, nil)
		} else {
			m.Retrieve(ctx, y, x, 1, nil)
		}
	}
	report(b, 0, cpu)
}

// BenchmarkRetrieveCodes is the causal part of BenchmarkRetrieve: the 12
// actions on encoded codes, alternating two pairs as there (so the shared
// per-x work is redone every call). Divided by 12 it compares with
// BenchmarkIntervene: what an action costs inside a retrieval.
func BenchmarkRetrieveCodes(b *testing.B) {
	m := newDefault(b)
	cx, _ := m.Encode(image(m, 1))
	cx = append([]int32(nil), cx...)
	cy, _ := m.Encode(image(m, 2))
	cy = append([]int32(nil), cy...)
	ctx := context.Background()
	m.RetrieveCodes(ctx, cx, cy, 1, nil)
	b.ResetTimer()
	cpu := startCPU()
	var macs int64
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			m.RetrieveCodes(ctx, cx, cy, 1, nil)
		} else {
			m.RetrieveCodes(ctx, cy, cx, 1, nil)
		}
		macs += m.ct.MACs()
	}
	report(b, macs/int64(b.N), cpu)
}
