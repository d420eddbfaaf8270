package ctvae_test

import (
	"context"
	"os"
	"testing"

	"ctvae/data"
	"ctvae/internal/modelfile"
	"ctvae/runtime/ctvae"
)

// The shipped weights on real procedural images: their trained masks and
// graphs are what the demo page runs, so these are the latencies a user sees
// (the default-config benchmarks in bench_test.go use random weights).
func loadShipped(b *testing.B, name string) (*ctvae.Model, []float32, []float32) {
	b.Helper()
	raw, err := os.ReadFile("../../weights/pretrained/" + name + ".safetensors")
	if err != nil {
		b.Skipf("no shipped weights: %v", err)
	}
	m, _, err := modelfile.Load(raw, ctvae.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ds, err := data.New(name)
	if err != nil {
		b.Fatal(err)
	}
	x, y := make([]float32, data.ImageLen(ds)), make([]float32, data.ImageLen(ds))
	if err := ds.Render(x, 1000); err != nil {
		b.Fatal(err)
	}
	if err := ds.Render(y, 1001); err != nil {
		b.Fatal(err)
	}
	return m, x, y
}

func BenchmarkShipped(b *testing.B) {
	for _, name := range []string{"dsprites", "shapes3d"} {
		b.Run(name+"/reconstruct", func(b *testing.B) {
			m, x, _ := loadShipped(b, name)
			for i := 0; i < b.N; i++ {
				if _, err := m.ReconstructVQ(x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
		})
		b.Run(name+"/intervene", func(b *testing.B) {
			m, x, _ := loadShipped(b, name)
			codes, _ := m.Encode(x)
			codes = append([]int32(nil), codes...)
			for i := 0; i < b.N; i++ {
				if _, err := m.InterveneCodes(codes, i%m.NumActions()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
		})
		b.Run(name+"/retrieve", func(b *testing.B) {
			m, x, y := loadShipped(b, name)
			for i := 0; i < b.N; i++ {
				if _, err := m.Retrieve(context.Background(), x, y, 1, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
		})
	}
}
