// Package e2e holds the end-to-end browser tests. They build the real site
// once (go run ./build, from a stand-in source tree whose shipped weights are
// two random-init test models), serve it with serve/ on 127.0.0.1, drive
// Debian's chromium with chromedp and compare what the page shows with the
// native engine: TestBrowser calls the engine API of example.html,
// TestBrowserUI clicks through the app (index.html), offline reload
// included; TestBrowserUIWorkerCrash crashes the app's engine worker and
// checks the restart, the reload of the model and the history after it. Run: go test ./internal/e2e (chromium must be installed:
// apt-get install -y chromium); -e2e.bench=N adds in-browser timings
// (make bench-browser).
package e2e
