package weights

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes allocated by fn.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadMemoryBoundedByInput: Read allocates a small multiple of the input
// size, for large data and for headers crowded with tiny entries.
func TestReadMemoryBoundedByInput(t *testing.T) {
	var many strings.Builder
	many.WriteString("{")
	for i := range 20000 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"%d":{"dtype":"F16","shape":[0,1,2,3,4,5,6,7],"data_offsets":[0,0]}`, i)
	}
	many.WriteString("}")
	big := &File{Tensors: []*Tensor{{Name: "w", Shape: []int{1 << 20}, Data: make([]float32, 1<<20)}}}
	bigF16, err := Marshal(big, F16)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		file  []byte
		limit float64 // allocated bytes per input byte
	}{
		{"F16 data", bigF16, 2.1},
		{"many tensors", raw(many.String(), nil), 12},
		{"rejected", raw(strings.Replace(many.String(), `"0":{"dtype":"F16"`, `"0":{"dtype":"F64"`, 1), nil), 12},
	} {
		n := allocated(func() { Read(c.file) })
		t.Logf("%s: %d bytes allocated for %d input bytes (%.2f per byte)", c.name, n, len(c.file), float64(n)/float64(len(c.file)))
		if float64(n) > c.limit*float64(len(c.file)) {
			t.Errorf("%s: Read allocated %d bytes for a %d-byte input, more than %.1f per byte", c.name, n, len(c.file), c.limit)
		}
	}
}
