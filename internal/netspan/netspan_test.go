package netspan

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// fakeSource keeps one record and counts the calls.
type fakeSource struct {
	rec              Record
	opens, conns, gs int
	readsFrom        int
	readsUntil       int
	local, remote    netip.AddrPort
}

func (f *fakeSource) Open(k Kind, sc trace.SpanContext, start time.Time) *Record {
	f.opens++
	f.rec.Reset(f, k, sc, start)
	return &f.rec
}
func (f *fakeSource) Conn(r *Record, l, rm netip.AddrPort, at time.Time) {
	f.conns++
	f.local, f.remote = l, rm
}
func (f *fakeSource) Goroutine(r *Record, at time.Time) { f.gs++ }
func (f *fakeSource) Reads(r *Record, until bool, at time.Time) {
	if until {
		f.readsUntil++
	} else {
		f.readsFrom++
	}
}

func sampledSpan(t *testing.T, tp *sdktrace.TracerProvider) trace.Span {
	t.Helper()
	_, s := tp.Tracer("t").Start(context.Background(), "s")
	t.Cleanup(func() { s.End() })
	return s
}

func TestInactiveWithoutSource(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	h := Begin(HTTPServer, sampledSpan(t, tp), time.Now())
	if h.Active() {
		t.Fatal("active without a registered source")
	}
	// Every method is a no-op.
	h.Conn(&net.TCPAddr{}, &net.TCPAddr{}, time.Now())
	h.Goroutine(time.Now())
	h.NoSocket("x")
	h.Exclude(time.Second)
	h.RequestWritten(time.Now())
	h.RequestRead()
}

func TestBeginRoutesToTheSource(t *testing.T) {
	src := &fakeSource{}
	defer Register(HTTPClient, src)()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	span := sampledSpan(t, tp)
	start := time.Now()
	h := Begin(HTTPClient, span, start)
	if !h.Active() || src.opens != 1 || src.rec.SpanID != span.SpanContext().SpanID() || src.rec.Kind != HTTPClient || !src.rec.Start.Equal(start) {
		t.Fatalf("Begin: active %v, record %+v", h.Active(), &src.rec)
	}
	if Begin(HTTPServer, span, start).Active() {
		t.Error("a kind nobody measures got a record")
	}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	h.Conn(local, remote, time.Now())
	h.RequestWritten(time.Now())
	h.RequestRead()
	if src.conns != 1 || src.local.Port() != 1 || src.remote.Port() != 2 || src.rec.Flags&FlagConn == 0 || src.readsFrom != 1 || src.readsUntil != 1 {
		t.Errorf("after Conn: %+v", src)
	}
	h.Conn(&net.UnixAddr{Name: "/x"}, remote, time.Now())
	if src.conns != 1 || src.rec.Flags&FlagNoTCP == 0 {
		t.Errorf("a unix address: %d Conn calls, flags %b", src.conns, src.rec.Flags)
	}
	h.Exclude(3 * time.Millisecond)
	if src.rec.Excluded != 3*time.Millisecond {
		t.Errorf("Excluded %v", src.rec.Excluded)
	}

	// A handle of a record handed out again is inactive.
	h2 := Begin(HTTPClient, span, start)
	if h.Active() || !h2.Active() {
		t.Errorf("stale handle active %v, new handle active %v", h.Active(), h2.Active())
	}
}

func TestNoSocketStopsTheWindows(t *testing.T) {
	src := &fakeSource{}
	defer Register(DB, src)()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	h := Begin(DB, sampledSpan(t, tp), time.Now())
	h.NoSocket("socket,tcp: none")
	h.Goroutine(time.Now())
	h.ConnAddrs(netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2"), time.Now())
	if src.gs != 0 || src.conns != 0 || src.rec.Reason != "socket,tcp: none" || src.rec.Flags&FlagNoSocket == 0 {
		t.Errorf("after NoSocket: %+v", src)
	}
}

func TestOnlySampledSpansOfThePipeline(t *testing.T) {
	src := &fakeSource{}
	defer Register(GRPCServer, src)()
	never := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
	defer never.Shutdown(context.Background())
	if Begin(GRPCServer, sampledSpan(t, never), time.Now()).Active() {
		t.Error("an unsampled span got a record")
	}
	ours, other := sdktrace.NewTracerProvider(), sdktrace.NewTracerProvider()
	defer ours.Shutdown(context.Background())
	defer other.Shutdown(context.Background())
	unset := SetTracerProvider(ours)
	if Begin(GRPCServer, sampledSpan(t, other), time.Now()).Active() {
		t.Error("a span of another tracer provider got a record (its end would never free it)")
	}
	if !Begin(GRPCServer, sampledSpan(t, ours), time.Now()).Active() {
		t.Error("a span of the pipeline's provider got no record")
	}
	unset()
	if !Begin(GRPCServer, sampledSpan(t, other), time.Now()).Active() {
		t.Error("after unset, spans of any provider get a record")
	}
}

func TestUnregisterOnlyOwnRegistration(t *testing.T) {
	a, b := &fakeSource{}, &fakeSource{}
	unA := Register(HTTPServer, a)
	unB := Register(HTTPServer, b)
	unA() // replaced by b: does nothing
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	Begin(HTTPServer, sampledSpan(t, tp), time.Now())
	if a.opens != 0 || b.opens != 1 {
		t.Errorf("opens a %d, b %d; want b's", a.opens, b.opens)
	}
	unB()
	if Begin(HTTPServer, sampledSpan(t, tp), time.Now()).Active() {
		t.Error("active after the source withdrew")
	}
}

type recorder struct{ calls []error }

func (o *recorder) ConnectDone(_, _ string, err error) { o.calls = append(o.calls, err) }

func TestConnectObserver(t *testing.T) {
	if ObservingConnects() {
		t.Fatal("observing before anyone asked")
	}
	ConnectDone("tcp", "127.0.0.1:1", errors.New("x")) // nobody: no-op
	o := &recorder{}
	un := ObserveConnects(o)
	if !ObservingConnects() {
		t.Fatal("not observing")
	}
	ConnectDone("tcp", "127.0.0.1:1", nil)
	un()
	ConnectDone("tcp", "127.0.0.1:1", nil)
	if len(o.calls) != 1 || ObservingConnects() {
		t.Errorf("%d calls, observing %v", len(o.calls), ObservingConnects())
	}
}

func TestBeginAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	src := &fakeSource{}
	defer Register(HTTPServer, src)()
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	defer SetTracerProvider(tp)()
	span := sampledSpan(t, tp)
	l, r := netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("127.0.0.1:2")
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		h := Begin(HTTPServer, span, now)
		h.ConnAddrs(l, r, now)
		h.RequestRead()
	})
	if allocs != 0 {
		t.Errorf("Begin + ConnAddrs + RequestRead allocate %v times", allocs)
	}
}
