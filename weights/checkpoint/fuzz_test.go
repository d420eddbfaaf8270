package checkpoint

import (
	"archive/zip"
	"strings"
	"testing"
)

// FuzzReadCheckpoint: any input gives an error or a valid model, never a
// panic (gopickle panics are recovered, so they count as failures here),
// and the converted tensors hold at most as many elements as the input
// could store. Each input is read twice: as a whole file, and as the
// data.pkl of an archive with two storages, because mutations of a whole
// archive rarely get past the zip CRC to the pickle.
func FuzzReadCheckpoint(f *testing.F) {
	for _, name := range []string{"small.pt", "small_deflate.pt", "bad_os_system.pt", "bad_missing_storage.pt",
		"bad_short_storage.pt", "bad_view.pt", "bad_double.pt", "bad_unknown_storage.pt", "vqvae_tiny_k2_views.pt"} {
		b := fixture(f, name)
		f.Add(b)
		if p := dataPkl(f, b); p != nil {
			f.Add(p)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRead(t, b)
		checkRead(t, zipOf(t, zip.Store, "archive/data.pkl", string(b), "archive/data/0", string(make([]byte, 24)), "archive/data/1", "\x00\x3c\x00\xc0"))
	})
}

func checkRead(t *testing.T, b []byte) {
	m, err := ReadModel(b)
	if err != nil {
		if strings.Contains(err.Error(), panicked) {
			t.Fatalf("gopickle panicked: %v", err)
		}
		if !strings.HasPrefix(err.Error(), "checkpoint: ") && !strings.HasPrefix(err.Error(), "weights: ") {
			t.Fatalf("error without a package prefix: %v", err)
		}
		return
	}
	elems := 0
	for _, tt := range m.Tensors {
		n := 1
		for _, d := range tt.Shape {
			n *= d
		}
		if len(tt.Data) != n {
			t.Fatalf("tensor %q: %d elements for shape %v", tt.Name, len(tt.Data), tt.Shape)
		}
		elems += n
	}
	if elems > inflateRatio*len(b)/2+1<<15 {
		t.Fatalf("%d elements from %d input bytes", elems, len(b))
	}
}

// dataPkl returns the pickle of a torch.save archive, or nil.
func dataPkl(f *testing.F, b []byte) []byte {
	a := &Archive{files: map[string]*zip.File{}}
	zr, err := zip.NewReader(strings.NewReader(string(b)), int64(len(b)))
	if err != nil {
		return nil
	}
	pkl, err := a.index(zr, len(b))
	if err != nil {
		return nil
	}
	p, err := readEntry(pkl)
	if err != nil {
		f.Fatal(err)
	}
	return p
}
