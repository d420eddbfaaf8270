# CT-VAE in the browser: build, test, benchmark.
# `make serve` and `make test` install what they need (Debian packages via apt).

GO        ?= go
GOROOT    := $(shell $(GO) env GOROOT)
WASMPATH  := PATH="$(PATH):$(GOROOT)/lib/wasm"
WASMENV   := $(WASMPATH) GOOS=js GOARCH=wasm
# Packages whose tests also run as wasm under node (the browser's code).
WASM_PKGS := ./runtime/... ./weights/... ./data/... ./internal/golden/...
BIN       := bin/ctvae
ADDR      ?= 127.0.0.1:8080

.PHONY: all build dist test test-native test-wasm test-e2e bench-browser bench-load deps-chromium lint fuzz-short bench bench-native bench-wasm bench-pairs serve goldens clean deps-node deps-torch

all: build

build:
	$(GO) build -o $(BIN) ./cmd/ctvae

# node runs the wasm tests; install it when absent (Debian's nodejs).
deps-node:
	@command -v node >/dev/null 2>&1 || { apt-get update && apt-get install -y nodejs; }

# Debian's chromium drives the browser tests (chromedp).
deps-chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && apt-get install -y chromium; }

test: lint test-native test-wasm test-e2e fuzz-short
	@echo "make test: all checks passed"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(WASMENV) $(GO) vet $(WASM_PKGS) ./wasm/...

# Everything but the browser suite, which test-e2e runs with chromium required.
test-native:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /internal/e2e)

# The browser suite: builds dist/ with go run ./build, serves it with serve/,
# drives Debian's chromium and compares the page's results with the native engine.
E2E_SHOTS ?= $(CURDIR)/bin/screenshots
test-e2e: deps-chromium
	@mkdir -p $(E2E_SHOTS)
	$(GO) test -count=1 ./internal/e2e -args -e2e.require -e2e.shots=$(E2E_SHOTS)

# In-browser latency of intervene and retrieve (default config) and wasm sizes.
bench-browser: deps-chromium
	$(GO) test -count=1 -v -run 'TestBrowser$$|TestBrowserUI$$' ./internal/e2e -args -e2e.require -e2e.bench=5 | grep -E 'BENCH|wasm:|default config: load'

# Page load alone: a cold visit, then WARM warm visits (median and fastest).
# AGAINST=DIR (a git worktree of another commit) alternates visits between
# its site and this tree's, WARM of each.
WARM ?= 15
bench-load: deps-chromium
	$(GO) test -count=1 -v -run 'TestBrowserLoad$$' ./internal/e2e -args -e2e.require -e2e.bench=1 -e2e.warm=$(WARM) $(if $(AGAINST),-e2e.against=$(AGAINST)) | grep -E 'BENCH'


# wasm/simd128 needs the Go instance's memory published to its code, as
# the engine worker does: its runner does that around Go's own.
SIMDEXEC  := -exec "node --stack-size=8192 $(CURDIR)/wasm/simd128/testdata/node-exec.js"
SIMDENV   := $(WASMENV) GOROOT="$(GOROOT)" CTVAE_REQUIRE_SIMD=1

test-wasm: deps-node
	$(WASMENV) $(GO) test -count=1 $(WASM_PKGS)
	$(SIMDENV) $(GO) test -count=1 $(SIMDEXEC) ./wasm/simd128

# A short fuzz run of every fuzz target (longer runs: FUZZTIME=10m make fuzz-short).
# Go 1.26's fuzz coordinator can report a bare "context deadline exceeded" as
# a failure when -fuzztime expires while a worker is mid-call (golang/go#75804,
# fixed in Go 1.27): such a run, with no failing input written, runs once more;
# any other failure fails.
FUZZTIME ?= 10s
fuzz-short:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    out=$$($(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg 2>&1); rc=$$?; echo "$$out"; \
	    if [ $$rc -ne 0 ]; then \
	      if echo "$$out" | grep -q 'context deadline exceeded' && ! echo "$$out" | grep -q 'Failing input written'; then \
	        echo "fuzz $$pkg $$f: the -fuzztime shutdown race (golang/go#75804), no failing input; running it again"; \
	        $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	      else exit 1; fi; \
	    fi; \
	  done; \
	done

bench: bench-native bench-wasm

BENCH ?= .
BENCH_PKGS ?= ./runtime/...
bench-native:
	@echo "== native ($(shell $(GO) env GOARCH), GOMAXPROCS=$$(nproc)) =="
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 2s $(BENCH_PKGS) | grep -E '^(Benchmark|ok|FAIL|pkg)'

bench-wasm: deps-node
	@echo "== wasm (node, one thread) =="
	$(WASMENV) $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 2s $(BENCH_PKGS) | grep -E '^(Benchmark|ok|FAIL|pkg)'
	@echo "== wasm (node, one thread): the engine with Go's tile kernel and with the SIMD one =="
	$(SIMDENV) $(GO) test -run '^$$' -bench '$(BENCH)' -benchtime 2s $(SIMDEXEC) ./wasm/simd128 | grep -E '^(Benchmark|ok|FAIL|pkg)'

# Assemble the static site (wasm, JS, weights, manifest, service worker, .br/.gz).
dist:
	$(GO) run ./build -out dist

# The main job: build everything and serve the demo on $(ADDR) (make serve ADDR=127.0.0.1:9000).
serve: build dist
	./$(BIN) serve --dir dist --addr $(ADDR)

# The Go trainer against PyTorch as interleaved pairs, the ratio per pair and
# its median (not part of make test): make bench-pairs PAIRS=15 MODE=default/vqvae
PAIRS ?= 15
MODE ?= default/vqvae
GOBENCHTIME ?= 3x
bench-pairs: deps-torch
	internal/golden/bench_pairs.sh -n $(PAIRS) -m $(MODE) -t $(GOBENCHTIME)

# Regenerate the golden files with Debian's PyTorch (not needed by make test).
deps-torch:
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || { apt-get update && apt-get install -y python3-torch python3-numpy; }

goldens: deps-torch
	/usr/bin/python3 internal/golden/gen.py
	/usr/bin/python3 internal/golden/gen_train.py

clean:
	rm -rf bin dist
	$(GO) clean -testcache
