package nethttp_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/probetest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/tracer"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// service is an HTTP server behind the middleware and a client through it,
// both on e's tracer.
type service struct {
	srv    *httptest.Server
	client *http.Client
	tr     *http.Transport
}

func newService(t *testing.T, e *probetest.Env, h http.Handler) *service {
	t.Helper()
	tp := middleware.WithTracerProvider(e.Tracer.TracerProvider())
	mp := middleware.WithMeterProvider(e.Tracer.MeterProvider())
	s := &service{srv: httptest.NewUnstartedServer(middleware.NewHandler(h, tp, mp))}
	s.srv.Listener = smallBuffers{s.srv.Listener}
	s.srv.Start()
	s.tr = &http.Transport{}
	s.client = &http.Client{Transport: middleware.NewTransport(s.tr, tp, mp)}
	t.Cleanup(func() { s.tr.CloseIdleConnections(); s.srv.Close() })
	return s
}

// smallBuffers gives the server's connections a 64 KiB receive buffer
// (no autotuning): a server that reads slowly then makes its client wait
// after 64 KiB, as across a real network, instead of after the tens of
// megabytes loopback autotuning allows here.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(64 << 10)
	}
	return c, err
}

func (s *service) do(t *testing.T, method, path string, body io.Reader) {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// spanOf returns the one span of kind whose url.path (server) or url.full
// (client) ends with path.
func spanOf(t *testing.T, spans []sdktrace.ReadOnlySpan, path string) probetest.Attrs {
	t.Helper()
	for _, s := range spans {
		a := probetest.AttrsOf(t, s)
		for _, k := range []string{semconv.AttrURLPath, semconv.AttrURLFull} {
			if v, ok := a[k]; ok && strings.HasSuffix(v.AsString(), path) {
				a["_duration"] = attribute.Float64Value(probetest.Duration(s))
				return a
			}
		}
	}
	t.Fatalf("no span for %s", path)
	return nil
}

// slowBody sends n chunks of size bytes, one every gap, the first once
// start is closed.
func slowBody(start <-chan struct{}, n, size int, gap time.Duration) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		<-start
		for range n {
			time.Sleep(gap)
			if _, err := pw.Write(make([]byte, size)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	return pr
}

const bigBody = 4 << 20

// The three ways an HTTP exchange waits on the network, each in the span
// that waits: a client that sends slowly (the server span's reads wait), a
// server that reads slowly (the client span's writes wait), a server that
// answers late (the client span's reads wait, the server span's time is its
// handler's). Without the kernel side the same spans keep the middleware's
// fields and say what is missing and why.
func TestSocketWaitDominates(t *testing.T) {
	e := probetest.Start(t)
	mux := http.NewServeMux()
	// The client sends the body once the handler runs: inside the server
	// span, which then reads every byte of it. (Sent at once, a loaded
	// machine may deliver a chunk with the headers, read before the span.)
	uploading := make(chan struct{})
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		close(uploading)
		io.Copy(io.Discard, r.Body)
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("POST /slowread", func(w http.ResponseWriter, r *http.Request) {
		// 16 pauses of 50 ms: the client's own time (4 MiB to copy, more
		// under -race on a loaded machine) stays well below its waits.
		buf := make([]byte, 256<<10)
		for {
			time.Sleep(50 * time.Millisecond)
			if _, err := io.ReadFull(r.Body, buf); err != nil {
				break
			}
		}
		w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /late", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond) // the handler's own time
		w.Write([]byte("late"))
	})
	s := newService(t, e, mux)
	s.do(t, "POST", "/upload", slowBody(uploading, 8, 1024, 25*time.Millisecond))
	s.do(t, "POST", "/slowread", bytes.NewReader(make([]byte, bigBody)))
	s.do(t, "GET", "/late", nil)

	servers := e.WaitSpans(t, trace.SpanKindServer, 3)
	clients := e.WaitSpans(t, trace.SpanKindClient, 3)
	upS, upC := spanOf(t, servers, "/upload"), spanOf(t, clients, "/upload")
	srS, srC := spanOf(t, servers, "/slowread"), spanOf(t, clients, "/slowread")
	lateS, lateC := spanOf(t, servers, "/late"), spanOf(t, clients, "/late")

	if !probetest.Kernel() {
		for name, a := range map[string]probetest.Attrs{"upload server": upS, "upload client": upC,
			"slowread server": srS, "slowread client": srC, "late server": lateS, "late client": lateC} {
			checkUnmeasured(t, name, a, "missing CAP_BPF")
		}
		// The user-space fields are still there.
		if !lateC.Has(semconv.AttrHTTPClientPhasePrefix+semconv.PhaseServerWait+".duration") || lateC.Int(t, semconv.AttrHTTPResponseStatusCode) != 200 {
			t.Errorf("client span lost its middleware fields: %v", lateC)
		}
		checkStatus(t, e, probes.StateDegraded, "CAP_BPF")
		return
	}
	checkStatus(t, e, probes.StateOn, "")

	// A client that sends slowly: the server span waited on its reads.
	logSpan(t, "upload server", upS)
	if rw, d := upS.Float(t, semconv.AttrSocketReadWait), upS.Float(t, "_duration"); rw < d/2 || rw > d {
		t.Errorf("upload server span: read wait %.3fs of %.3fs, want most of it", rw, d)
	}
	if upS.Int(t, semconv.AttrSocketReadBytes) < 8*1024 {
		t.Errorf("upload server span read %d bytes, want >= %d", upS.Int(t, semconv.AttrSocketReadBytes), 8*1024)
	}
	if self, rw := upS.Float(t, semconv.AttrSelfDuration), upS.Float(t, semconv.AttrSocketReadWait); self > rw {
		t.Errorf("upload server span: handler time %.3fs > socket wait %.3fs", self, rw)
	}
	logSpan(t, "upload client", upC)
	if n := upC.Int(t, semconv.AttrSocketWriteBytes); n < 8*1024 {
		t.Errorf("upload client span wrote %d bytes, want >= %d", n, 8*1024)
	}
	if c := upC.Float(t, semconv.AttrTCPConnectDuration); c <= 0 || c > upC.Float(t, "_duration") {
		t.Errorf("first request on a new connection: kernel connect latency %v", c)
	}
	// The client itself was slow (its body came slowly): its time is its
	// own, not the socket's (its reads wait for the answer only once the
	// request is written).
	if w, self := wait(t, upC), upC.Float(t, semconv.AttrSelfDuration); w > self {
		t.Errorf("upload client span: socket wait %.3fs > own time %.3fs for a client that produced its body slowly", w, self)
	}

	// A server that reads slowly: the client span waited on its socket
	// (writes while the buffers were full, then reads for the answer).
	logSpan(t, "slowread client", srC)
	if w, d := wait(t, srC), srC.Float(t, "_duration"); w < d/2 || w > d*1.01 {
		t.Errorf("slowread client span: socket wait %.3fs of %.3fs, want most of it", w, d)
	}
	if n := srC.Int(t, semconv.AttrSocketWriteBytes); n < bigBody {
		t.Errorf("slowread client span wrote %d bytes, want >= %d", n, bigBody)
	}
	logSpan(t, "slowread server", srS)
	if n := srS.Int(t, semconv.AttrSocketReadBytes); n < bigBody/2 {
		t.Errorf("slowread server span read %d bytes, want most of %d (some arrived with the headers)", n, bigBody)
	}

	// A server that answers late: the client waited on its reads, the
	// server span's time was its handler's.
	logSpan(t, "late client", lateC)
	if rw, d := lateC.Float(t, semconv.AttrSocketReadWait), lateC.Float(t, "_duration"); rw < d/2 || rw > d {
		t.Errorf("late client span: read wait %.3fs of %.3fs, want most of it", rw, d)
	}
	if lateC.Has(semconv.AttrTCPConnectDuration) {
		t.Errorf("request on a reused connection has a connect latency: %v", lateC)
	}
	logSpan(t, "late server", lateS)
	if self, d := lateS.Float(t, semconv.AttrSelfDuration), lateS.Float(t, "_duration"); self < d/2 {
		t.Errorf("late server span: handler time %.3fs of %.3fs, want most of it", self, d)
	}
	for name, a := range map[string]probetest.Attrs{"upload server": upS, "late client": lateC} {
		if socketUnmeasured(a) || a.Int(t, semconv.AttrTCPRetransmits) != 0 || a.Int(t, semconv.AttrTCPResets) != 0 {
			t.Errorf("%s: %v", name, a)
		}
	}

	snap := e.Tracer.NetHTTP().Snapshot()
	t.Logf("snapshot: %+v", snap)
	if !snap.Kernel || snap.Server.Spans != 3 || snap.Client.Spans != 3 || snap.Server.ReadWait <= 0 || snap.Client.ReadWait <= 0 {
		t.Errorf("snapshot %+v: want 3 measured server and client spans with read waits", snap)
	}
	rm := e.Collect(t)
	if n := probetest.HistCount(rm, semconv.MetricHTTPServerSocketWait); n != 3 {
		t.Errorf("%s: %d spans recorded, want 3", semconv.MetricHTTPServerSocketWait, n)
	}
}

func TestSocketWaitDominatesUnprivileged(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("already unprivileged")
	}
	probetest.RunUnprivileged(t, "^TestSocketWaitDominates$")
}

// eBPF turned off on purpose: the spans say so.
func TestEBPFOffSaysWhy(t *testing.T) {
	e := probetest.StartMode(t, tracer.EBPFOff)
	s := newService(t, e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	s.do(t, "GET", "/x", nil)
	for _, kind := range []trace.SpanKind{trace.SpanKindServer, trace.SpanKindClient} {
		a := probetest.AttrsOf(t, e.WaitSpans(t, kind, 1)[0])
		checkUnmeasured(t, kind.String(), a, "disabled by WithEBPF(EBPFOff)")
	}
	checkStatus(t, e, probes.StateDegraded, "disabled by WithEBPF(EBPFOff)")
	if s := e.Tracer.NetHTTP().Snapshot(); s.Kernel || s.Server.Unmeasured != 1 || s.Client.Unmeasured != 1 {
		t.Errorf("snapshot %+v: want one unmeasured server and client span", s)
	}
}

// HTTP/2 streams share one connection: each span gets the connection's
// figures during its window and says how many other spans shared it.
func TestHTTP2SharedConnection(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("kernel figures only")
	}
	e := probetest.Start(t)
	tp := middleware.WithTracerProvider(e.Tracer.TracerProvider())
	srv := httptest.NewUnstartedServer(middleware.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		w.Write([]byte(r.Proto))
	}), tp))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	base := &http.Transport{Protocols: new(http.Protocols)}
	base.Protocols.SetUnencryptedHTTP2(true)
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: middleware.NewTransport(base, tp)}
	// One request first, so the others find the connection open.
	get := func() {
		resp, err := client.Get(srv.URL + "/h2")
		if err != nil {
			t.Error(err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "HTTP/2.0" {
			t.Errorf("protocol %q, want HTTP/2.0", b)
		}
	}
	get()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(get)
	}
	wg.Wait()
	servers := e.WaitSpans(t, trace.SpanKindServer, 5)
	shared := 0
	for _, s := range servers {
		a := probetest.AttrsOf(t, s)
		if socketUnmeasured(a) {
			t.Errorf("HTTP/2 server span: socket figures unmeasured: %v", a)
		}
		if a.Has(semconv.AttrSocketSharedSpans) {
			shared++
		}
	}
	if shared < 2 {
		t.Errorf("%d of 5 HTTP/2 server spans say their connection was shared, want the concurrent ones", shared)
	}
	if s := e.Tracer.NetHTTP().Snapshot(); s.Server.Shared < 2 {
		t.Errorf("snapshot: %d shared server spans", s.Server.Shared)
	}
}

// socketUnmeasured reports whether the span says its socket figures are
// missing. Other parts of its verdict.unmeasured are other probes' (a
// server span whose handler made no system call has no kernel time: "kernel:
// no kernel event on the span's goroutine").
func socketUnmeasured(a probetest.Attrs) bool {
	return a.Unmeasured(semconv.UnmeasuredSocketTCP+":") != ""
}

// wait is a span's socket wait, reads and writes.
func wait(t *testing.T, a probetest.Attrs) float64 {
	t.Helper()
	return a.Float(t, semconv.AttrSocketReadWait) + a.Float(t, semconv.AttrSocketWriteWait)
}

func checkUnmeasured(t *testing.T, name string, a probetest.Attrs, why string) {
	t.Helper()
	v := a.Unmeasured(semconv.UnmeasuredSocketTCP + ":")
	if !strings.HasPrefix(v, semconv.UnmeasuredSocketTCP+": eBPF off: ") || !strings.Contains(v, why) {
		t.Errorf("%s span: %s = %q, want a part %q naming %q", name, semconv.AttrUnmeasured, a[semconv.AttrUnmeasured].Emit(), semconv.UnmeasuredSocketTCP+": eBPF off: ...", why)
	}
	for _, k := range []string{semconv.AttrSocketReadWait, semconv.AttrSocketWriteWait, semconv.AttrSocketReadBytes,
		semconv.AttrSocketWriteBytes, semconv.AttrTCPRetransmits, semconv.AttrTCPResets, semconv.AttrSelfDuration} {
		if a.Has(k) {
			t.Errorf("%s span has %s without the kernel side", name, k)
		}
	}
}

func checkStatus(t *testing.T, e *probetest.Env, state probes.State, why string) {
	t.Helper()
	c, ok := e.Tracer.Status().Component("nethttp")
	if !ok || c.State != state || !strings.Contains(c.Reason, why) {
		t.Errorf("nethttp component %+v, want %v naming %q; status:\n%s", c, state, why, e.Tracer.Status())
	}
}

func logSpan(t *testing.T, name string, a probetest.Attrs) {
	t.Helper()
	t.Logf("%s: %.1f ms; read wait %.1f ms, write wait %.1f ms, self %.1f ms; read %d B, wrote %d B",
		name, 1e3*a.Float(t, "_duration"), 1e3*a.Float(t, semconv.AttrSocketReadWait), 1e3*a.Float(t, semconv.AttrSocketWriteWait),
		1e3*a.Float(t, semconv.AttrSelfDuration), a.Int(t, semconv.AttrSocketReadBytes), a.Int(t, semconv.AttrSocketWriteBytes))
}
