// Package e2e holds the end-to-end browser tests: they assemble a site (the
// engine wasm, wasm_exec.js, wasm/js and test models), serve it on
// 127.0.0.1, drive Debian's chromium with chromedp and compare what the
// worker computes with the native engine. Run: go test ./internal/e2e
// (chromium must be installed: apt-get install -y chromium).
package e2e
