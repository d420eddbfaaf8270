package weights

import (
	"io"
	"math/rand/v2"
	"testing"
)

// benchFile is about 55 MB as F32: a VQ-VAE-sized set of tensors.
func benchFile() *File {
	rng := rand.New(rand.NewPCG(7, 8))
	f := &File{Metadata: map[string]string{KeyFormat: FormatName, KeyFormatVersion: "1"}}
	for i, n := range []int{4_000_000, 4_000_000, 3_000_000, 2_750_000, 1000, 64} {
		d := make([]float32, n)
		for j := range d {
			d[j] = float32(rng.NormFloat64() * 0.05)
		}
		f.Tensors = append(f.Tensors, &Tensor{Name: string(rune('a' + i)), Shape: []int{n}, Data: d})
	}
	return f
}

func BenchmarkRead(b *testing.B) {
	f := benchFile()
	for _, dt := range []DType{F32, F16, BF16} {
		raw, err := Marshal(f, dt)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(dt), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := Read(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWrite(b *testing.B) {
	f := benchFile()
	for _, dt := range []DType{F32, F16, BF16} {
		raw, err := Marshal(f, dt)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(dt), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := Write(io.Discard, f, dt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
