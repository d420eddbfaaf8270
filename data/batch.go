package data

import (
	"fmt"
	"runtime"
	"sync"
)

// RenderBatch renders images indices[i] into dst[i*L:(i+1)*L], L =
// ImageLen(ds), spreading the images over GOMAXPROCS goroutines (one under
// wasm). Every index is checked before anything is drawn, and each image is
// drawn independently, so the result does not depend on the worker count.
func RenderBatch(ds Dataset, dst []float32, indices []int) error {
	l := ImageLen(ds)
	if len(dst) != len(indices)*l {
		return fmt.Errorf("data: %s batch: destination holds %d values, want %d images x %d", ds.Name(), len(dst), len(indices), l)
	}
	for _, idx := range indices {
		if idx < 0 || idx >= ds.Len() {
			return fmt.Errorf("data: %s: image index %d out of range [0, %d)", ds.Name(), idx, ds.Len())
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(indices))
	if workers <= 1 {
		for i, idx := range indices {
			if err := ds.Render(dst[i*l:(i+1)*l], idx); err != nil {
				return err
			}
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Interleaved so images of different cost spread evenly.
			for i := w; i < len(indices); i += workers {
				if err := ds.Render(dst[i*l:(i+1)*l], indices[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
