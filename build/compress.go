package main

import (
	"bytes"
	"compress/gzip"
	"path"
	"runtime"
	"sync"

	"github.com/andybalholm/brotli"
)

// compressible are the extensions worth precompressing; images are already
// compressed. Weights are tried too: a variant is kept only when it pays.
var compressible = map[string]bool{
	".wasm": true, ".js": true, ".mjs": true, ".html": true, ".css": true, ".json": true,
	".webmanifest": true, ".svg": true, ".md": true, ".txt": true, ".map": true, ".safetensors": true,
}

// A variant is a precompressed copy of a file, written beside it as
// path+suffix (the suffixes the server looks for).
type variant struct {
	path string
	data []byte
}

// minSaving: a variant must be at least 5% smaller than its file, or the
// client's decoding time buys nothing.
func worthIt(compressed, original int) bool {
	return compressed < original-original/20
}

// variants returns the .br and .gz copies of the compressible files, worth
// keeping, in file order. Files are compressed in parallel; the output does
// not depend on the order.
func variants(files []file) []variant {
	type job struct {
		i    int
		f    file
		kind string
	}
	results := make([][2]*variant, len(files))
	jobs := make(chan job)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				var c []byte
				slot := 0
				if j.kind == ".br" {
					c = compressBrotli(j.f.data)
				} else {
					c, slot = compressGzip(j.f.data), 1
				}
				if worthIt(len(c), len(j.f.data)) {
					results[j.i][slot] = &variant{path: j.f.path + j.kind, data: c}
				}
			}
		}()
	}
	for i, f := range files {
		if !compressible[path.Ext(f.name)] {
			continue
		}
		jobs <- job{i, f, ".br"}
		jobs <- job{i, f, ".gz"}
	}
	close(jobs)
	wg.Wait()
	var out []variant
	for _, r := range results {
		for _, v := range r {
			if v != nil {
				out = append(out, *v)
			}
		}
	}
	return out
}

// compressGzip writes no name and a zero time in the header, so the output
// depends only on the input.
func compressGzip(b []byte) []byte {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		panic("build: gzip level: " + err.Error())
	}
	if _, err := w.Write(b); err != nil {
		panic("build: gzip to memory: " + err.Error())
	}
	if err := w.Close(); err != nil {
		panic("build: gzip to memory: " + err.Error())
	}
	return buf.Bytes()
}

// brotliQuality is the highest for files browsers fetch on every visit;
// above brotliBigFile the encoder's time grows past what a rebuild should
// take, for a fraction of a percent.
const (
	brotliQuality    = brotli.BestCompression
	brotliBigQuality = 9
	brotliBigFile    = 4 << 20
)

func compressBrotli(b []byte) []byte {
	q := brotliQuality
	if len(b) > brotliBigFile {
		q = brotliBigQuality
	}
	var buf bytes.Buffer
	w := brotli.NewWriterLevel(&buf, q)
	if _, err := w.Write(b); err != nil {
		panic("build: brotli to memory: " + err.Error())
	}
	if err := w.Close(); err != nil {
		panic("build: brotli to memory: " + err.Error())
	}
	return buf.Bytes()
}
