package serve

import (
	"bytes"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(w io.Writer) *log.Logger { return log.New(w, "", 0) }

// rawExchange writes req on a fresh TCP connection and returns everything
// the server sends until it closes the connection or a second passes
// without data.
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// The server may refuse and close before reading all of a huge request,
	// so a failed write is an acceptable outcome, not an error.
	go conn.Write([]byte(req))
	var out bytes.Buffer
	buf := make([]byte, 32<<10)
	for {
		conn.SetReadDeadline(time.Now().Add(time.Second))
		n, err := conn.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

var statusLine = regexp.MustCompile(`HTTP/1\.[01] (\d{3})`)

// TestPathEscapes sends hostile request targets and framings over raw TCP:
// every one must be refused (4xx, net/http's own 501/505, or the connection
// closed without an answer), none may return the secret, and the server must keep serving.
func TestPathEscapes(t *testing.T) {
	site := newSite(t)
	addr := start(t, testConfig(site.dir))
	long := "/" + strings.Repeat("a", 64<<10)
	get := func(target string) string {
		return "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
	}
	cases := []struct{ name, req string }{
		{"dotdot", get("/../secret.txt")},
		{"dotdot twice", get("/../../outside/secret.txt")},
		{"dotdot inside sub", get("/sub/../../secret.txt")},
		{"encoded slash", get("/..%2fsecret.txt")},
		{"encoded slash upper", get("/..%2Foutside%2Fsecret.txt")},
		{"encoded dots", get("/%2e%2e/secret.txt")},
		{"encoded dots and slash", get("/%2e%2e%2fsecret.txt")},
		{"mixed encoded dot", get("/.%2e/outside/secret.txt")},
		{"encoded dots inside sub", get("/sub/%2e%2e/%2e%2e/secret.txt")},
		{"double encoded", get("/%252e%252e%252fsecret.txt")},
		{"overlong utf-8 dots", get("/%c0%ae%c0%ae/secret.txt")},
		{"backslash", get("/..\\secret.txt")},
		{"backslash leading", get("/\\..\\outside\\secret.txt")},
		{"encoded backslash", get("/..%5csecret.txt")},
		{"relative target", get("../secret.txt")},
		{"absolute path of secret", get(site.secretPath)},
		{"double slash etc", get("//etc/passwd")},
		{"double slash secret", get("/" + site.secretPath)},
		{"etc passwd", get("/etc/passwd")},
		{"windows drive", get("/C:\\secret.txt")},
		{"symlink out", get("/link-out.txt")},
		{"symlink out relative", get("/link-rel.txt")},
		{"symlink dir out", get("/linkdir/secret.txt")},
		{"symlink dir listing", get("/linkdir/")},
		{"symlink up", get("/sub/up/outside/secret.txt")},
		{"hidden file", get("/.env")},
		{"encoded hidden file", get("/%2eenv")},
		{"NUL", get("/index.html%00")},
		{"NUL then dotdot", get("/%00../secret.txt")},
		{"raw NUL", "GET /index.html\x00 HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"tomcat semicolon", get("/..;/secret.txt")},
		{"64 KB path", get(long)},
		{"POST", "POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"},
		{"PUT", "PUT /secret.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecret"},
		{"DELETE", "DELETE /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"CONNECT", "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n"},
		{"OPTIONS star", "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"huge header", "GET /index.html HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 100<<10) + "\r\n\r\n"},
		{"many headers", "GET /index.html HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-A: 1234567890\r\n", 4000) + "\r\n"},
		{"CL and TE", "GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /link-out.txt HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE smuggled GET", "GET /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /../secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"two Content-Lengths", "GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n"},
		{"TE identity", "GET /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n"},
		{"TE obfuscated", "GET /index.html HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"},
		{"GET with body", "GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"},
		{"HTTP/0.9", "GET /index.html\r\n\r\n"},
		{"HTTP/0.9 dotdot", "GET /../secret.txt\r\n"},
		{"HTTP/2 preface on HTTP/1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"bad version", "GET /index.html HTTP/9.9\r\nHost: x\r\n\r\n"},
		{"absolute-form other host", "GET http://evil.example/secret.txt HTTP/1.1\r\nHost: evil.example\r\n\r\n"},
		{"absolute-form file URL", "GET file:///etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"absolute-form same host", "GET http://x/index.html HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"no Host", "GET /index.html HTTP/1.1\r\n\r\n"},
		{"two Hosts", "GET /index.html HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{"space in header name", "GET /index.html HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"},
		{"control char in target", "GET /ind\x01ex.html HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		out := rawExchange(t, addr, c.req)
		if strings.Contains(out, secret) {
			t.Errorf("%s: the secret is in the response", c.name)
		}
		codes := statusLine.FindAllStringSubmatch(out, -1)
		for _, m := range codes {
			// net/http itself answers an unknown transfer coding with 501
			// and an unknown HTTP version with 505 (RFC 9112), before any
			// handler runs: refusals too.
			if m[1][0] != '4' && m[1] != "501" && m[1] != "505" {
				t.Errorf("%s: status %s, want 4xx or a closed connection\n%.300s", c.name, m[1], out)
			}
		}
		if len(codes) == 0 && out != "" {
			t.Errorf("%s: answer without a status line: %.200q", c.name, out)
		}
		t.Logf("%-26s -> %v", c.name, statusCodes(codes))
	}
	// The server is still up and serving.
	out := rawExchange(t, addr, get("/index.html"))
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Errorf("after the attacks: %.100q", out)
	}
}

func statusCodes(m [][]string) []string {
	if len(m) == 0 {
		return []string{"closed"}
	}
	var s []string
	for _, x := range m {
		s = append(s, x[1])
	}
	return s
}

// ----------------------------------------------------------------------------
// Slow clients

// TestSlowHeaders: a client that dribbles its request line and headers is
// cut off when ReadHeaderTimeout expires.
func TestSlowHeaders(t *testing.T) {
	site := newSite(t)
	cfg := testConfig(site.dir)
	cfg.ReadHeaderTimeout = 500 * time.Millisecond
	addr := start(t, cfg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	closed := make(chan time.Time, 1)
	go func() {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, conn)
		closed <- time.Now()
	}()
	req := "GET /index.html HTTP/1.1\r\nHost: x\r\nUser-Agent: slow\r\n\r\n"
	start := time.Now()
	sent := 0
	var at time.Time
loop:
	for sent < len(req) {
		select {
		case at = <-closed:
			break loop
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := conn.Write([]byte{req[sent]}); err != nil {
			break
		}
		sent++
	}
	if at.IsZero() {
		at = <-closed
	}
	elapsed := at.Sub(start)
	if sent == len(req) {
		t.Fatalf("the whole request was sent (%d bytes over %v) before the server closed", sent, elapsed)
	}
	if elapsed > cfg.ReadHeaderTimeout+time.Second {
		t.Errorf("disconnected after %v, want within ReadHeaderTimeout %v (+1 s slack)", elapsed, cfg.ReadHeaderTimeout)
	}
	t.Logf("slow client cut off after %v, %d of %d bytes sent", elapsed.Round(time.Millisecond), sent, len(req))
}

// TestIdleConnection: a keep-alive connection with no next request is
// closed after IdleTimeout.
func TestIdleConnection(t *testing.T) {
	site := newSite(t)
	cfg := testConfig(site.dir)
	cfg.IdleTimeout = 500 * time.Millisecond
	addr := start(t, cfg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(conn)
	elapsed := time.Since(start)
	if !bytes.HasPrefix(b, []byte("HTTP/1.1 200")) {
		t.Fatalf("response %.100q", b)
	}
	if elapsed > cfg.IdleTimeout+time.Second {
		t.Errorf("idle connection closed after %v, want within IdleTimeout %v (+1 s slack)", elapsed, cfg.IdleTimeout)
	}
}

// TestSlowReader: a client that stops reading a large response is
// disconnected when WriteTimeout expires instead of holding the server.
func TestSlowReader(t *testing.T) {
	site := newSite(t)
	const size = 48 << 20 // larger than loopback socket buffers
	big := make([]byte, size)
	if err := os.WriteFile(filepath.Join(site.dir, "big.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(site.dir)
	cfg.WriteTimeout = 500 * time.Millisecond
	addr := start(t, cfg)
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10)
	}
	if _, err := conn.Write([]byte("GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(cfg.WriteTimeout + 500*time.Millisecond)
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server neither finished nor closed the connection (read %d bytes)", n)
	}
	if n >= size {
		t.Errorf("received all %d bytes: WriteTimeout did not stop the stalled response", n)
	}
	t.Logf("stalled reader got %d of %d bytes before the server closed", n, size)
}
