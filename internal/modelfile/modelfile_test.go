package modelfile

import (
	"os"
	"strings"
	"testing"

	"ctvae/runtime/ctvae"
	"ctvae/weights"
)

const shipped = "../../weights/pretrained/dsprites.safetensors"

func TestLoadCheckedNamesTheModelWithTheGivenSum(t *testing.T) {
	b, err := os.ReadFile(shipped)
	if err != nil {
		t.Skip(err)
	}
	_, info, err := Load(b, ctvae.Options{})
	if err != nil || info.Checksum != weights.Checksum(b) {
		t.Fatalf("Load: checksum %v, %v; want the file's", info, err)
	}
	given := strings.Repeat("5a", 32)
	if _, info, err = LoadChecked(b, given, ctvae.Options{}); err != nil || info.Checksum != given {
		t.Fatalf("LoadChecked: %v, %v; want checksum %s", info, err, given)
	}
	// The sum does not make a damaged file load.
	if _, _, err = LoadChecked(b[:len(b)-1], weights.Checksum(b[:len(b)-1]), ctvae.Options{}); err == nil {
		t.Fatal("LoadChecked accepted a truncated file")
	}
}

// BenchmarkLoad: a shipped model (1.5 MB), hashing the file (Load) or
// taking the caller's sum (LoadChecked, what the page's worker does). Under
// wasm: PATH=$PATH:$(go env GOROOT)/lib/wasm GOOS=js GOARCH=wasm go test
// -run '^$' -bench Load ./internal/modelfile
func BenchmarkLoad(b *testing.B) {
	data, err := os.ReadFile(shipped)
	if err != nil {
		b.Skip(err)
	}
	sum := weights.Checksum(data)
	b.Run("sha256", func(b *testing.B) { // what LoadChecked saves
		b.SetBytes(int64(len(data)))
		for range b.N {
			weights.Checksum(data)
		}
	})
	for _, c := range []struct{ name, sum string }{{"hashed", ""}, {"checked", sum}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for range b.N {
				if _, _, err := LoadChecked(data, c.sum, ctvae.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
