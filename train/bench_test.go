package train

import (
	"os"
	"testing"

	"ctvae/data"
	"ctvae/runtime/ctvae"
)

// BenchmarkVQVAETrainStep measures training throughput (images/s, forward +
// backward + Adam + rendering) of the shipped CPU configs.
func BenchmarkVQVAETrainStep(b *testing.B) {
	for _, name := range []string{"dsprites", "shapes3d"} {
		b.Run(name, func(b *testing.B) {
			raw, err := os.ReadFile("../weights/pretrained/" + name + ".json")
			if err != nil {
				b.Fatal(err)
			}
			cfg, err := ctvae.ParseConfig(raw)
			if err != nil {
				b.Fatal(err)
			}
			ds, err := data.New(name)
			if err != nil {
				b.Fatal(err)
			}
			opts := DefaultOptions()
			opts.Batch = 32
			tr, err := New(ds, cfg, opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*opts.Batch)/b.Elapsed().Seconds(), "img/s")
		})
	}
}
