package weights

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// FuzzRead: any input gives an error or a valid File, and a valid File
// survives Marshal and Read unchanged. The seeds are testdata/fuzz/FuzzRead.
func FuzzRead(f *testing.F) {
	f.Fuzz(checkReread)
}

// checkReread checks the property of FuzzRead for one input.
func checkReread(t *testing.T, b []byte) {
	f, err := Read(b)
	if err != nil {
		if f != nil || !strings.HasPrefix(err.Error(), "weights: ") {
			t.Fatalf("Read = %v, %v; want nil and a weights: error", f, err)
		}
		return
	}
	// Every data byte belongs to exactly one tensor, so the float32 storage
	// is bounded by the input.
	dataLen := uint64(len(b)) - 8 - binary.LittleEndian.Uint64(b)
	var covered uint64
	var uniform DType
	for i, tt := range f.Tensors {
		if i > 0 && f.Tensors[i-1].Name >= tt.Name {
			t.Fatalf("tensors not sorted and unique: %q, %q", f.Tensors[i-1].Name, tt.Name)
		}
		if n, ok := numel(tt.Shape); !ok || n != len(tt.Data) || len(tt.Shape) > MaxRank {
			t.Fatalf("tensor %q: shape %v with %d values", tt.Name, tt.Shape, len(tt.Data))
		}
		covered += uint64(len(tt.Data) * tt.DType.Size())
		if i == 0 || tt.DType == uniform {
			uniform = tt.DType
		} else {
			uniform = ""
		}
	}
	if covered != dataLen {
		t.Fatalf("tensors cover %d bytes of a %d-byte data region", covered, dataLen)
	}
	// F32 holds every value exactly; a single-dtype file also re-encodes to
	// its own dtype exactly.
	dtypes := []DType{F32}
	if uniform != "" && uniform != F32 {
		dtypes = append(dtypes, uniform)
	}
	for _, dt := range dtypes {
		m, err := Marshal(f, dt)
		if err != nil {
			t.Fatalf("Marshal %s of a file Read accepted: %v", dt, err)
		}
		g, err := Read(m)
		if err != nil {
			t.Fatalf("Read of Marshal %s: %v", dt, err)
		}
		if !maps.Equal(f.Metadata, g.Metadata) || len(g.Tensors) != len(f.Tensors) {
			t.Fatalf("Marshal %s and Read changed metadata or the tensor count", dt)
		}
		for i, a := range f.Tensors {
			z := g.Tensors[i]
			if a.Name != z.Name || !slices.Equal(a.Shape, z.Shape) || z.DType != dt || len(a.Data) != len(z.Data) {
				t.Fatalf("Marshal %s and Read: tensor %q %v became %q %v %s", dt, a.Name, a.Shape, z.Name, z.Shape, z.DType)
			}
			for j := range a.Data {
				if math.Float32bits(a.Data[j]) != math.Float32bits(z.Data[j]) {
					t.Fatalf("Marshal %s and Read: tensor %q [%d] %#08x became %#08x", dt, a.Name, j, math.Float32bits(a.Data[j]), math.Float32bits(z.Data[j]))
				}
			}
		}
	}
}

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/fuzz/FuzzRead from the test tables")

// corpus is the seed corpus of FuzzRead: every valid and bad input of the
// tests, the Python fixture and the sample file in each dtype.
func corpus(t *testing.T) map[string][]byte {
	seeds := map[string][]byte{}
	add := func(name string, b []byte) {
		name = strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' {
				return r
			}
			return '-'
		}, strings.ToLower(name))
		if _, dup := seeds[name]; dup {
			t.Fatalf("two seeds named %q", name)
		}
		seeds[name] = b
	}
	for _, c := range validInputs {
		add("valid-"+c.name, c.file)
	}
	for _, c := range badInputs {
		add("bad-"+c.name, c.file)
	}
	py, err := os.ReadFile("testdata/python_writer.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	add("valid-python-writer", py)
	for _, dt := range []DType{F32, F16, BF16} {
		b, err := Marshal(sampleFile(), dt)
		if err != nil {
			t.Fatal(err)
		}
		add("valid-sample-"+string(dt), b)
	}
	return seeds
}

func TestFuzzCorpusUpToDate(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	seeds := corpus(t)
	if *updateCorpus {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range seeds {
		path := filepath.Join(dir, name)
		want := []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b))
		if *updateCorpus {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale; run go test ./weights -run TestFuzzCorpusUpToDate -update-corpus", path)
		}
	}
}
