package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"ctvae/serve"
)

func init() {
	register(command{name: "serve", summary: "serve the built site (dist/) on a local address", run: runServe})
}

// shutdownGrace is how long requests in flight may finish after SIGINT or
// SIGTERM before their connections are closed.
const shutdownGrace = 5 * time.Second

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	dir := fs.String("dir", "dist", "the site to serve, as written by `go run ./build`")
	addr := fs.String("addr", "127.0.0.1:8080", "host:port to listen on (port 0 picks a free one)")
	quiet := fs.Bool("quiet", false, "do not log each request to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := checkAddr(*addr); err != nil {
		return err
	}
	if err := checkSite(*dir, stderr); err != nil {
		return err
	}
	cfg := serve.DefaultConfig(*dir)
	cfg.ErrorLog = log.New(stderr, "serve: ", 0)
	if !*quiet {
		cfg.AccessLog = log.New(stderr, "", log.Ltime)
	}
	s, err := serve.New(cfg)
	if err != nil {
		return err
	}
	// Listen before waiting for signals to matter, so that a bad address is
	// reported at once and the printed URL is the real one (port 0).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		s.Close()
		return err
	}
	fmt.Fprintf(stdout, "serving %s at http://%s/ (Ctrl-C to stop)\n", *dir, l.Addr())
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	select {
	case err := <-done:
		s.Close()
		return err
	case <-ctx.Done():
	}
	stop() // a second Ctrl-C kills the process the usual way
	fmt.Fprintln(stdout, "shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		s.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return <-done
}

// checkAddr wants host:port with a numeric port, so that a typo is not
// mistaken for a service name or a Unix path.
func checkAddr(addr string) error {
	// An empty host means every interface, which net.Listen accepts.
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--addr %q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}

// checkSite tells the user how to make the site when it is not there.
func checkSite(dir string, stderr io.Writer) error {
	st, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--dir %s does not exist: build the site first with `make serve` (or `go run ./build -out %s`)", dir, dir)
	}
	if err != nil {
		return fmt.Errorf("--dir %s: %w", dir, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("--dir %s is not a directory", dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		fmt.Fprintf(stderr, "ctvae serve: warning: %s has no manifest.json, so it is not a site made by `go run ./build`; serving it anyway\n", dir)
	}
	return nil
}
