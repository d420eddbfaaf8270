package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestServeBadFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"--dir", filepath.Join(dir, "dist")}, []string{"does not exist", "make serve", "go run ./build"}},
		{[]string{"--dir", file}, []string{"not a directory"}},
		{[]string{"--dir", dir, "--addr", "8080"}, []string{"--addr", "host:port"}},
		{[]string{"--dir", dir, "--addr", "127.0.0.1:http"}, []string{"--addr", "not a number"}},
		{[]string{"--dir", dir, "--addr", "127.0.0.1:70000"}, []string{"not a number from 0 to 65535"}},
		{[]string{"--dir", dir, "extra"}, []string{"unexpected arguments"}},
		{[]string{"--nope"}, []string{"flag provided but not defined"}},
	} {
		code, _, stderr := runCLI(t, append([]string{"serve"}, c.args...)...)
		if code == 0 {
			t.Errorf("serve %v: exit 0", c.args)
		}
		for _, w := range c.wants {
			if !strings.Contains(stderr, w) {
				t.Errorf("serve %v: stderr %q does not mention %q", c.args, stderr, w)
			}
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestServeSignal runs `ctvae serve` on a free port, fetches the page, and
// stops it with SIGTERM as a service manager would.
func TestServeSignal(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"index.html": "<p>hello</p>", "manifest.json": "{}"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr lockedBuffer
	done := make(chan int, 1)
	go func() { done <- run([]string{"serve", "--dir", dir, "--addr", "127.0.0.1:0"}, &stdout, &stderr) }()

	// The URL is printed once the signal handler is installed and the
	// listener is open.
	url := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`)
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		base = url.FindString(stdout.String())
	}
	if base == "" {
		t.Fatalf("serve printed no URL: %q", stdout.String())
	}
	resp, err := http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "<p>hello</p>" {
		t.Fatalf("GET %s: %d %q", base, resp.StatusCode, body)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited with %d after SIGTERM: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10 s of SIGTERM")
	}
	if !strings.Contains(stdout.String(), "shutting down") {
		t.Errorf("stdout %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), `GET "/" 200`) {
		t.Errorf("no access log line in %q", stderr.String())
	}
	if _, err := http.Get(base); err == nil {
		t.Errorf("the server still answers after shutdown")
	}
}
