package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// ---------------------------------------------------------------------------
// Threads. Large kernels split their independent outputs across a persistent
// pool of worker goroutines; the calling goroutine does a share itself. Jobs
// travel by value over a channel and completion is a WaitGroup owned by the
// caller's team, so a parallel call allocates nothing. Under js/wasm there
// are no threads to gain and the default is 1.
// ---------------------------------------------------------------------------

// workspace is one thread's packing buffers.
type workspace struct {
	a []float32 // packed A for GEMM calls (grows to the largest seen)
	b []float32 // packed B block, kc×nc
	// edge holds the edge tiles of a block when a PanelKernel is
	// installed (it computes whole tiles only; grows to the largest seen).
	edge []float32
}

func newWorkspace() workspace { return workspace{b: make([]float32, kc*nc)} }

// rangeTask is work over [0, n) independent parts.
type rangeTask interface {
	runRange(lo, hi int, ws *workspace)
}

type job struct {
	t      rangeTask
	lo, hi int
	tm     *team
}

var pool struct {
	mu      sync.Mutex
	threads atomic.Int32 // total threads, caller included
	workers int          // worker goroutines started
	jobs    chan job
}

func init() {
	n := runtime.NumCPU()
	if runtime.GOARCH == "wasm" {
		n = 1
	}
	pool.threads.Store(int32(n))
}

// SetThreads sets how many threads (the caller included) large kernels use;
// n < 1 means 1. Results do not depend on it. Worker goroutines are started
// on first use and live for the rest of the process.
func SetThreads(n int) { pool.threads.Store(int32(max(n, 1))) }

// Threads returns the thread count set by SetThreads (default: the number of
// CPUs natively, 1 under wasm).
func Threads() int { return threads() }

func threads() int { return int(pool.threads.Load()) }

// ensureWorkers starts worker goroutines until there are n.
func ensureWorkers(n int) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.jobs == nil {
		pool.jobs = make(chan job, 64)
	}
	for ; pool.workers < n; pool.workers++ {
		go worker(pool.jobs)
	}
}

// spinTries is how many times an idle worker, and a caller waiting for its
// workers, polls before it blocks. A convolution hands work over three
// times and the VQ-VAE runs a few dozen of them back to back, so work
// usually arrives within microseconds; waking a parked thread costs tens
// of microseconds each time, which at 2 threads ate most of the gain.
const spinTries = 2000

func worker(jobs <-chan job) {
	ws := newWorkspace()
	for {
		j, ok := receive(jobs)
		if !ok {
			return
		}
		j.t.runRange(j.lo, j.hi, &ws)
		j.tm.pending.Add(-1)
		j.tm.wg.Done()
	}
}

// receive polls jobs for a while, yielding the processor between polls,
// then blocks.
func receive(jobs <-chan job) (job, bool) {
	for range spinTries {
		select {
		case j, ok := <-jobs:
			return j, ok
		default:
			runtime.Gosched()
		}
	}
	j, ok := <-jobs
	return j, ok
}

// team is a caller's workspace and completion counter. Free functions such
// as GEMM take one from a free list; a Conv owns one.
type team struct {
	ws      workspace
	wg      sync.WaitGroup
	pending atomic.Int32 // jobs handed out and not finished (for polling)
	g       gemmArgs
}

var teams struct {
	mu   sync.Mutex
	free []*team
}

func getTeam() *team {
	teams.mu.Lock()
	defer teams.mu.Unlock()
	if n := len(teams.free); n > 0 {
		t := teams.free[n-1]
		teams.free = teams.free[:n-1]
		return t
	}
	return &team{ws: newWorkspace()}
}

func putTeam(t *team) {
	teams.mu.Lock()
	teams.free = append(teams.free, t)
	teams.mu.Unlock()
}

// parallel runs t over [0, n) split into contiguous chunks, one per thread,
// the first on the calling goroutine with ws, and waits for all of them.
func (tm *team) parallel(t rangeTask, n int, ws *workspace) {
	th := min(threads(), n)
	if th <= 1 {
		t.runRange(0, n, ws)
		return
	}
	ensureWorkers(th - 1)
	tm.wg.Add(th - 1)
	tm.pending.Add(int32(th - 1))
	for i := 1; i < th; i++ {
		pool.jobs <- job{t: t, lo: i * n / th, hi: (i + 1) * n / th, tm: tm}
	}
	t.runRange(0, n/th, ws)
	for i := 0; i < spinTries && tm.pending.Load() > 0; i++ {
		runtime.Gosched()
	}
	tm.wg.Wait()
}
