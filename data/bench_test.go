package data

import "testing"

// BenchmarkRender reports single-image and batch throughput in images/s.
func BenchmarkRender(b *testing.B) {
	for _, ds := range allDatasets() {
		r := newRNG(1)
		idx := make([]int, 256)
		for i := range idx {
			idx[i] = r.intn(ds.Len())
		}
		l := ImageLen(ds)
		b.Run(ds.Name()+"/single", func(b *testing.B) {
			dst := make([]float32, l)
			n := 0
			for b.Loop() {
				if err := ds.Render(dst, idx[n%len(idx)]); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
		})
		b.Run(ds.Name()+"/batch=256", func(b *testing.B) {
			dst := make([]float32, len(idx)*l)
			n := 0
			for b.Loop() {
				if err := RenderBatch(ds, dst, idx); err != nil {
					b.Fatal(err)
				}
				n += len(idx)
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

func BenchmarkTransitions(b *testing.B) {
	ds := NewDSprites()
	s, _ := NewSplits(ds.Len(), DefaultSplitSeed)
	for b.Loop() {
		if _, err := NewTransitions(ds, s, DefaultSettings, 1); err != nil {
			b.Fatal(err)
		}
	}
}
