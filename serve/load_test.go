package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadPaths is the mix a page load makes: the entry page, the service
// worker and manifest, hashed scripts (one precompressed) and the wasm.
var loadPaths = []string{
	"/",
	"/sw.js",
	"/manifest.json",
	"/ctvae." + jsHash + ".js",
	"/worker." + jsHash + ".mjs",
	"/style." + jsHash + ".css",
	"/engine." + wasmHash + ".wasm",
	"/cat.png",
}

// load sends n GET requests from conc goroutines and returns the number of
// failures (transport errors or a status other than 200) and the duration.
func load(ctx context.Context, c *http.Client, base string, n, conc int) (int64, time.Duration, error) {
	var next, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", base+loadPaths[i%int64(len(loadPaths))], nil)
				if i%2 == 0 {
					req.Header.Set("Accept-Encoding", "gzip, br")
				}
				resp, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("%s: status %d", req.URL.Path, resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
				}
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return failed.Load(), time.Since(start), ctx.Err()
	}
	return failed.Load(), time.Since(start), firstErr
}

func mem() runtime.MemStats {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// TestLoad is a bounded loopback load test: 10,000 requests at concurrency
// 64 must all succeed. It takes about a second on an idle 2-core machine;
// the 60 s bound only guards against a hang on a machine shared with other
// work. It logs requests/s and the process's heap (server and client share
// it) before and after.
func TestLoad(t *testing.T) {
	const n, conc = 10000, 64
	site := newSite(t)
	base := "http://" + start(t, testConfig(site.dir))
	c := client()
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := mem()
	failed, d, err := load(ctx, c, base, n, conc)
	after := mem()
	if failed != 0 || err != nil {
		t.Fatalf("%d of %d requests failed; first error: %v", failed, n, err)
	}
	t.Logf("%d requests, concurrency %d, GOMAXPROCS %d: %v, %.0f requests/s", n, conc, runtime.GOMAXPROCS(0), d.Round(time.Millisecond), float64(n)/d.Seconds())
	t.Logf("memory: HeapAlloc %.1f -> %.1f MiB, Sys %.1f -> %.1f MiB, goroutines %d",
		mib(before.HeapAlloc), mib(after.HeapAlloc), mib(before.Sys), mib(after.Sys), runtime.NumGoroutine())
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// BenchmarkServe measures requests/s over loopback at concurrency 64 with
// the TestLoad mix.
func BenchmarkServe(b *testing.B) {
	site := newSite(b)
	base := "http://" + start(b, testConfig(site.dir))
	c := client()
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := mem()
	b.ResetTimer()
	failed, d, err := load(ctx, c, base, b.N, 64)
	b.StopTimer()
	if failed != 0 || err != nil {
		b.Fatalf("%d of %d requests failed; first error: %v", failed, b.N, err)
	}
	after := mem()
	b.ReportMetric(float64(b.N)/d.Seconds(), "req/s")
	b.ReportMetric(mib(after.HeapAlloc)-mib(before.HeapAlloc), "heapMiB-delta")
}
