package middleware

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// dnsServer is a real DNS server on loopback UDP that answers every query
// with rcode, or never answers when drop is set.
func dnsServer(t *testing.T, rcode dnsmessage.RCode, drop bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { pc.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if drop {
				continue
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RCode: rcode, RecursionAvailable: true})
			b.StartQuestions()
			b.Question(q)
			msg, err := b.Finish()
			if err == nil {
				pc.WriteTo(msg, addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// resolvingTransport dials through a Go resolver that asks only dnsAddr.
func resolvingTransport(t *testing.T, dnsAddr string, timeout time.Duration) *http.Transport {
	var mu sync.Mutex
	var conns []net.Conn
	// The resolver's lookups outlive the dial's deadline (they are shared
	// and bounded by resolv.conf's timeout); closing their sockets at the
	// end of the test ends them.
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "udp", dnsAddr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}}
	tr := &http.Transport{DialContext: (&net.Dialer{Resolver: r, Timeout: timeout}).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// fullBacklogAddr returns the address of a listener whose accept queue is
// full and never drained: the kernel drops further SYNs, so a connect there
// times out (verified on this kernel; also on gVisor).
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue (backlog 0 holds one connection).
	for range 3 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

// closedPort returns a loopback address where nothing listens.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// rawServer accepts connections and runs f on each.
func rawServer(t *testing.T, f func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f(c)
		}
	}()
	return l.Addr().String()
}

// TestErrorTaxonomy produces each kind of the taxonomy with a real fault
// and checks error.type on the span and on the duration metric.
func TestErrorTaxonomy(t *testing.T) {
	slowRelease := make(chan struct{})
	t.Cleanup(func() { close(slowRelease) })
	tests := []struct {
		name string
		want string
		run  func(t *testing.T, opts []Option) error
	}{
		{"closed port", "connection_refused", func(t *testing.T, opts []Option) error {
			return doGet(t, nil, opts, context.Background(), "http://"+closedPort(t)+"/")
		}},
		{".invalid host (NXDOMAIN from a loopback DNS server)", "dns_nxdomain", func(t *testing.T, opts []Option) error {
			tr := resolvingTransport(t, dnsServer(t, dnsmessage.RCodeNameError, false), 2*time.Second)
			return doGet(t, tr, opts, context.Background(), "http://verdict-test.invalid/")
		}},
		{"DNS server never answers", "dns_timeout", func(t *testing.T, opts []Option) error {
			tr := resolvingTransport(t, dnsServer(t, 0, true), 300*time.Millisecond)
			return doGet(t, tr, opts, context.Background(), "http://verdict-test.invalid/")
		}},
		{"DNS SERVFAIL", "dns_error", func(t *testing.T, opts []Option) error {
			tr := resolvingTransport(t, dnsServer(t, dnsmessage.RCodeServerFailure, false), 2*time.Second)
			return doGet(t, tr, opts, context.Background(), "http://verdict-test.invalid/")
		}},
		{"server resets (SO_LINGER 0)", "connection_reset", func(t *testing.T, opts []Option) error {
			addr := rawServer(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				c.Read(buf) // read the request, then reset
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			})
			return doGet(t, nil, opts, context.Background(), "http://"+addr+"/")
		}},
		{"full accept queue", "connect_timeout", func(t *testing.T, opts []Option) error {
			tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 300 * time.Millisecond}).DialContext}
			t.Cleanup(tr.CloseIdleConnections)
			return doGet(t, tr, opts, context.Background(), "http://"+fullBacklogAddr(t)+"/")
		}},
		{"TLS server that never answers the ClientHello", "tls_handshake_timeout", func(t *testing.T, opts []Option) error {
			addr := rawServer(t, func(c net.Conn) {
				go func() { <-slowRelease; c.Close() }()
			})
			tr := &http.Transport{TLSHandshakeTimeout: 300 * time.Millisecond}
			t.Cleanup(tr.CloseIdleConnections)
			return doGet(t, tr, opts, context.Background(), "https://"+addr+"/")
		}},
		{"TLS server with untrusted certificate", "tls_certificate", func(t *testing.T, opts []Option) error {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.Config.ErrorLog = quietLog()
			t.Cleanup(srv.Close)
			return doGet(t, nil, opts, context.Background(), srv.URL)
		}},
		{"deadline while the server thinks", "timeout", func(t *testing.T, opts []Option) error {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-slowRelease:
				}
			}))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			return doGet(t, nil, opts, ctx, srv.URL)
		}},
		{"caller cancels", "canceled", func(t *testing.T, opts []Option) error {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-slowRelease:
				}
			}))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			return doGet(t, nil, opts, ctx, srv.URL)
		}},
		{"truncated body", "unexpected_eof", func(t *testing.T, opts []Option) error {
			addr := rawServer(t, func(c net.Conn) {
				buf := make([]byte, 4096)
				c.Read(buf)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
				c.Close()
			})
			return doGet(t, nil, opts, context.Background(), "http://"+addr+"/")
		}},
		{"server answers 503", "503", func(t *testing.T, opts []Option) error {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
			t.Cleanup(srv.Close)
			return doGet(t, nil, opts, context.Background(), srv.URL)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel := newTelemetry(t)
			err := tt.run(t, tel.opts())
			if tt.want != "503" && err == nil {
				t.Fatal("no error")
			}
			spans := tel.waitSpans(t, 1)
			got, _ := spanAttr(spans[0], semconv.AttrErrorType)
			if got.AsString() != tt.want {
				t.Fatalf("error.type = %q, want %q (err: %v)", got.AsString(), tt.want, err)
			}
			m, ok := findMetric(tel.collect(t), semconv.MetricHTTPClientRequestDuration)
			if !ok {
				t.Fatal("no duration metric")
			}
			sets := dataPointAttrs(m)
			if len(sets) != 1 || !contains(sets[0], "error.type="+tt.want) {
				t.Fatalf("metric series %v", sets)
			}
		})
	}
}

func contains(s, sub string) bool { return len(sub) <= len(s) && (s == sub || indexOf(s, sub) >= 0) }

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// doGet sends one GET through NewTransport(base) and reads the body.
func doGet(t *testing.T, base http.RoundTripper, opts []Option, ctx context.Context, url string) error {
	t.Helper()
	if base == nil {
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		base = tr
	}
	c := &http.Client{Transport: NewTransport(base, opts...)}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode >= 500 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// TestClientPhasesNewTLSConnection: a first HTTPS request on a new
// connection records connect and tls phases and reused=false; a second one
// reuses the connection.
func TestClientPhasesNewTLSConnection(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	base := srv.Client().Transport.(*http.Transport)
	defer base.CloseIdleConnections()
	for range 2 {
		if err := doGet(t, base, tel.opts(), context.Background(), srv.URL); err != nil {
			t.Fatal(err)
		}
	}
	spans := tel.waitSpans(t, 2)
	first, second := attrMap(spans[0].Attributes()), attrMap(spans[1].Attributes())
	for _, p := range []string{"connect", "tls", "request_write", "server_wait", "response_read"} {
		if v, ok := first["http.client.phase."+p+".duration"]; !ok || v.AsFloat64() <= 0 {
			t.Errorf("first request: phase %s = %v", p, v)
		}
	}
	if first[semconv.AttrHTTPClientConnectionReused].AsBool() || !second[semconv.AttrHTTPClientConnectionReused].AsBool() {
		t.Errorf("reused: first %v second %v", first[semconv.AttrHTTPClientConnectionReused], second[semconv.AttrHTTPClientConnectionReused])
	}
	if _, ok := second["http.client.phase.tls.duration"]; ok {
		t.Error("reused connection has a tls phase")
	}
}

// TestClientSpanEndsOnClose: the span stays open until the body is closed,
// and closing early is not an error.
func TestClientSpanEndsOnClose(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1<<20))
	}))
	defer srv.Close()
	c := newClient(t, tel.opts()...)
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tel.rec.Ended()); n != 0 {
		t.Fatalf("%d spans ended before the body was read", n)
	}
	io.ReadFull(resp.Body, make([]byte, 100))
	resp.Body.Close()
	s := tel.waitSpans(t, 1)[0]
	if v, ok := spanAttr(s, semconv.AttrErrorType); ok {
		t.Fatalf("early close marked as error %v", v)
	}
	if v, _ := spanAttr(s, "http.client.phase.response_read.duration"); v.AsFloat64() <= 0 {
		t.Fatalf("response_read %v", v)
	}
}

func TestClassifyDirect(t *testing.T) {
	// Wrapped errors keep their class (errors.Is/As through wrapping).
	err := fmt.Errorf("outer: %w", &net.OpError{Op: "read", Err: syscall.ECONNRESET})
	if got := classifyForTest(err); got != "connection_reset" {
		t.Fatal(got)
	}
	if got := classifyForTest(errors.New("weird")); got != "_OTHER" {
		t.Fatal(got)
	}
}
