package tracer

import (
	"context"
	"maps"
	"net"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// EvaluateVerdicts sees a span that ended just before the call, long
// before the judge's next tick, and hands the verdict to the handlers.
func TestEvaluateVerdictsNow(t *testing.T) {
	var handled atomic.Int32
	failing := judge.RuleFunc("test.failing", func(s *judge.Snapshot, _ judge.State) []judge.Finding {
		if s.Requests.Errors == 0 {
			return nil
		}
		return []judge.Finding{{Summary: "requests fail", Exemplars: s.Requests.Exemplars}}
	})
	tr, _, _, _ := judged(t, WithOnlyRules("test.failing"), WithRule(failing),
		WithJudgeOptions(judge.WithInterval(time.Hour), judge.WithDebounce(1, 1)),
		WithVerdictHandler(func(context.Context, Verdict) { handled.Add(1) }))
	if got := tr.EvaluateVerdicts(context.Background()); len(got) != 0 {
		t.Fatalf("verdicts before any span: %v", got)
	}
	_, sp := tr.TracerProvider().Tracer("test").Start(context.Background(), "GET /", trace.WithSpanKind(trace.SpanKindServer))
	sp.SetStatus(codes.Error, "boom")
	sp.End()
	got := tr.EvaluateVerdicts(context.Background())
	if len(got) != 1 || got[0].Rule != "test.failing" || !got[0].Active() {
		t.Fatalf("EvaluateVerdicts = %+v, want test.failing fired", got)
	}
	if len(got[0].Exemplars) != 1 || got[0].Exemplars[0].TraceID != sp.SpanContext().TraceID() {
		t.Errorf("exemplars %+v, want the failed span's trace", got[0].Exemplars)
	}
	if handled.Load() != 1 {
		t.Errorf("handler called %d times, want 1", handled.Load())
	}
	if vs := tr.Verdicts(); len(vs) != 1 {
		t.Errorf("Verdicts() = %v", vs)
	}
	shutdown(t, tr)
	if got := tr.EvaluateVerdicts(context.Background()); got != nil {
		t.Errorf("after Shutdown: %v", got)
	}
	var nilTracer *Tracer
	if nilTracer.EvaluateVerdicts(context.Background()) != nil {
		t.Error("nil tracer")
	}
}

// The judge's snapshot marks a peer at an address this process listens on
// as Self, and not a peer at a loopback port nobody here listens on.
func TestSnapshotMarksOwnListener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the listening sockets are read from /proc (Linux only)")
	}
	own, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gonePort := gone.Addr().(*net.TCPAddr).Port
	gone.Close()

	var peers atomic.Pointer[[]judge.Peer]
	keep := judge.RuleFunc("test.peers", func(s *judge.Snapshot, _ judge.State) []judge.Finding {
		ps := append([]judge.Peer(nil), s.Peers...)
		peers.Store(&ps)
		return nil
	})
	tr, _, _, _ := judged(t, WithOnlyRules("test.peers"), WithRule(keep),
		WithJudgeOptions(judge.WithInterval(time.Hour)))
	defer shutdown(t, tr)
	call := func(port int) {
		_, sp := tr.TracerProvider().Tracer("test").Start(context.Background(), "GET", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", "GET"),
				attribute.String("server.address", "127.0.0.1"), attribute.Int("server.port", port)))
		sp.End()
	}
	ownPort := own.Addr().(*net.TCPAddr).Port
	call(ownPort)
	call(gonePort)
	tr.EvaluateVerdicts(context.Background())
	got := map[string]bool{}
	if p := peers.Load(); p != nil {
		for _, peer := range *p {
			got[peer.Address] = peer.Self
		}
	}
	want := map[string]bool{net.JoinHostPort("127.0.0.1", strconv.Itoa(ownPort)): true, net.JoinHostPort("127.0.0.1", strconv.Itoa(gonePort)): false}
	if !maps.Equal(got, want) {
		t.Errorf("peers' Self = %v, want %v", got, want)
	}
}
