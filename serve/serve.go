// Package serve is the static file server for dist/, the site the builder
// assembles. It uses only the standard library.
//
// Every response carries a Content-Security-Policy that allows wasm and
// nothing from elsewhere, nosniff and no-referrer. Content-hashed names
// (HashedName) are cached for a year as immutable, everything else is
// revalidated. X.br or X.gz is served in place of X when present and accepted.
// Only GET and HEAD are served; paths outside a conservative alphabet
// (ValidName), directory listings and anything outside the directory
// (including through symbolic links, via os.Root) are refused.
//
// None of this is required by the site: dist/ works unchanged from any static
// host. The headers are a bonus.
package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Config is the server's directory and its limits.
type Config struct {
	Dir string // the directory to serve (dist/)

	// Timeouts bound how long a client may hold a connection: slow or idle
	// clients are disconnected instead of pinning goroutines.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration // the whole response, so it bounds the largest download
	IdleTimeout       time.Duration
	MaxHeaderBytes    int

	// AccessLog receives one line per request when not nil.
	AccessLog *log.Logger
	// ErrorLog receives the connection errors of net/http; nil discards them.
	ErrorLog *log.Logger
}

// DefaultConfig returns the limits used by `ctvae serve` for dir.
func DefaultConfig(dir string) Config {
	return Config{
		Dir:               dir,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
	}
}

func (c Config) validate() error {
	if c.Dir == "" {
		return errors.New("serve: Config.Dir is empty")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ReadHeaderTimeout", c.ReadHeaderTimeout},
		{"ReadTimeout", c.ReadTimeout},
		{"WriteTimeout", c.WriteTimeout},
		{"IdleTimeout", c.IdleTimeout},
	} {
		// net/http reads zero as "no limit": refuse it, that is the point.
		if d.v <= 0 {
			return fmt.Errorf("serve: Config.%s is %v, want a positive duration", d.name, d.v)
		}
	}
	if c.MaxHeaderBytes < 1024 {
		return fmt.Errorf("serve: Config.MaxHeaderBytes is %d, want at least 1024", c.MaxHeaderBytes)
	}
	return nil
}

// Server is an http.Server for one directory.
type Server struct {
	handler *Handler
	http    *http.Server
}

// New checks cfg and opens its directory.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	h, err := NewHandler(cfg.Dir)
	if err != nil {
		return nil, err
	}
	var handler http.Handler = h
	if cfg.AccessLog != nil {
		handler = accessLog(h, cfg.AccessLog)
	}
	errLog := cfg.ErrorLog
	if errLog == nil {
		errLog = log.New(io.Discard, "", 0)
	}
	return &Server{handler: h, http: &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          errLog,
		// "OPTIONS *" would otherwise get a 200 from net/http itself.
		DisableGeneralOptionsHandler: true,
	}}, nil
}

// Serve accepts connections on l until Shutdown or Close; it returns nil
// after a Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.http.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections, waits for requests in flight until
// ctx is done, then releases the directory.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if cerr := s.handler.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes every connection at once and releases the directory.
func (s *Server) Close() error {
	err := s.http.Close()
	if cerr := s.handler.Close(); err == nil {
		err = cerr
	}
	return err
}

// accessLog writes "METHOD path status bytes duration" per request.
func accessLog(next http.Handler, l *log.Logger) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: rw, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		// %q keeps control characters in a hostile path out of the log.
		l.Printf("%s %q %d %dB %v", r.Method, r.URL.Path, rec.status, rec.bytes, time.Since(start).Round(time.Microsecond))
	})
}

type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
