package tracer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

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
