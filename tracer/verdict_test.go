package tracer

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// judged starts a tracer with the judge on and the built-in probes off,
// an in-memory exporter, a manual metric reader and a log capture.
func judged(t testing.TB, opts ...Option) (*Tracer, *tracetest.InMemoryExporter, *sdkmetric.ManualReader, *captureHandler) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	logs := newCapture()
	base := []Option{WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFOff), WithoutRuntimeProbe(),
		WithSpanExporter(exp), WithMetricReader(reader), WithLogExporter(&memLogExporter{}), WithLogHandler(logs)}
	tr, err := Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tr, exp, reader, logs
}

func exported(t testing.TB, tr *Tracer, exp *tracetest.InMemoryExporter) tracetest.SpanStubs {
	t.Helper()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return exp.GetSpans()
}

// With a sampler that samples nothing, ordinary traces are dropped and a
// trace with a failed span is exported whole, sampled flag set; the
// propagated decision stays "not sampled".
func TestTailKeepsFailedTracesWhole(t *testing.T) {
	tr, exp, _, _ := judged(t, WithSampler(sdktrace.NeverSample()))
	defer shutdown(t, tr)
	tp := tr.TracerProvider().Tracer("test")

	ctx, root := tp.Start(context.Background(), "ok-root", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tp.Start(ctx, "ok-child")
	child.End()
	root.End()

	ctx, root = tp.Start(context.Background(), "bad-root", trace.WithSpanKind(trace.SpanKindServer))
	if root.SpanContext().IsSampled() {
		t.Fatal("the head decision changed: the root is sampled")
	}
	_, c1 := tp.Start(ctx, "bad-child-ok")
	c1.End()
	_, c2 := tp.Start(ctx, "bad-child-fails", trace.WithSpanKind(trace.SpanKindClient))
	c2.SetAttributes(attribute.String(semconv.AttrHTTPRequestMethod, "GET"), attribute.String(semconv.AttrServerAddress, "10.0.0.7"),
		attribute.Int(semconv.AttrServerPort, 80), attribute.String(semconv.AttrErrorType, "connection_refused"))
	c2.SetStatus(codes.Error, "dial tcp 10.0.0.7:80: connect: connection refused")
	c2.End()
	root.End()

	spans := exported(t, tr, exp)
	names := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		names[s.Name] = s
	}
	for _, n := range []string{"ok-root", "ok-child"} {
		if _, ok := names[n]; ok {
			t.Errorf("%s exported: an ordinary unsampled trace must be dropped", n)
		}
	}
	for _, n := range []string{"bad-root", "bad-child-ok", "bad-child-fails"} {
		s, ok := names[n]
		if !ok {
			t.Errorf("%s not exported: a trace with a failed span is kept whole", n)
			continue
		}
		if !s.SpanContext.IsSampled() {
			t.Errorf("%s exported without the sampled flag", n)
		}
	}
	a := attribute.NewSet(names["bad-child-fails"].Attributes...)
	if v, _ := a.Value(semconv.AttrCause); v.AsString() != semconv.CauseConnect {
		t.Errorf("failed child: verdict.cause = %v, want connect", v.Emit())
	}
	ra := attribute.NewSet(names["bad-root"].Attributes...)
	if _, ok := ra.Value(semconv.AttrCause); ok {
		t.Errorf("the root itself did not fail; it got %v", names["bad-root"].Attributes)
	}
	if n := tr.judge.tail.keptError.Load(); n != 1 {
		t.Errorf("kept for an error: %d traces, want 1", n)
	}
}

// A late child of a kept trace (ends after its root) follows the decision.
func TestTailLateChildFollowsDecision(t *testing.T) {
	tr, exp, _, _ := judged(t, WithSampler(sdktrace.NeverSample()))
	defer shutdown(t, tr)
	tp := tr.TracerProvider().Tracer("test")
	ctx, root := tp.Start(context.Background(), "root")
	_, late := tp.Start(ctx, "late")
	root.SetStatus(codes.Error, "boom")
	root.End()
	late.End()
	spans := exported(t, tr, exp)
	if len(spans) != 2 {
		t.Fatalf("exported %d spans, want the failed root and its late child", len(spans))
	}
}

// The buffer is bounded: what it cannot hold is dropped and counted, in
// Status and in verdict.telemetry.dropped.
func TestTailBufferBounded(t *testing.T) {
	tr, _, reader, _ := judged(t, WithSampler(sdktrace.NeverSample()), withTailBuffer(64))
	defer shutdown(t, tr)
	tp := tr.TracerProvider().Tracer("test")
	ctx, root := tp.Start(context.Background(), "root")
	for range 200 {
		_, c := tp.Start(ctx, "child")
		c.End()
	}
	root.End()
	dropped := tr.judge.tail.dropped.Load()
	if dropped < 200-64 || dropped > 200-4 {
		t.Errorf("dropped %d of 200 children with a 64-span buffer", dropped)
	}
	c, _ := tr.Status().Component("traces")
	if c.Dropped != dropped || !strings.Contains(c.Reason, "tail-keep buffer") {
		t.Errorf("Status traces = %+v, want %d dropped by the tail-keep buffer", c, dropped)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := counterValue(rm, semconv.MetricDropped, semconv.AttrDropReason, semconv.DropTailBuffer); got != int64(dropped) {
		t.Errorf("%s{reason=%s} = %d, want %d", semconv.MetricDropped, semconv.DropTailBuffer, got, dropped)
	}
}

func counterValue(rm metricdata.ResourceMetrics, name, key, value string) int64 {
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if v, ok := p.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value || key == "" {
						total += p.Value
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if v, ok := p.Attributes.Value(attribute.Key(key)); ok && v.AsString() == value || key == "" {
						total += p.Value
					}
				}
			}
		}
	}
	return total
}

// The root of a request that waited for the pool says so, through the
// tracer's real pipeline.
func TestRootCauseThroughPipeline(t *testing.T) {
	tr, exp, _, _ := judged(t)
	defer shutdown(t, tr)
	tp := tr.TracerProvider().Tracer("test")
	start := time.Now()
	ctx, root := tp.Start(context.Background(), "GET /orders", trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start))
	_, db := tp.Start(ctx, "SELECT orders", trace.WithSpanKind(trace.SpanKindClient), trace.WithTimestamp(start.Add(time.Millisecond)))
	db.SetAttributes(attribute.String(semconv.AttrDBSystemName, "sqlite"), attribute.String(semconv.AttrDBQueryText, "SELECT * FROM orders"),
		attribute.Float64(semconv.AttrDBConnectionWaitTime, 0.08))
	db.End(trace.WithTimestamp(start.Add(90 * time.Millisecond)))
	root.SetStatus(codes.Error, "deadline")
	root.SetAttributes(attribute.String(semconv.AttrErrorType, "timeout"))
	root.End(trace.WithTimestamp(start.Add(100 * time.Millisecond)))
	for _, s := range exported(t, tr, exp) {
		if s.Name != "GET /orders" {
			continue
		}
		a := attribute.NewSet(s.Attributes...)
		cause, _ := a.Value(semconv.AttrCause)
		share, _ := a.Value(semconv.AttrCauseShare)
		if cause.AsString() != semconv.CausePoolWait || share.AsFloat64() != 0.8 {
			t.Errorf("root cause %v share %v, want db.pool_wait 0.8", cause.Emit(), share.Emit())
		}
		return
	}
	t.Fatal("root not exported")
}

// A user rule's verdict goes through every channel: the handler (fire and
// clear), the log with an exemplar trace_id, the metric, an event on the
// open spans it affects, and Verdicts().
func TestVerdictChannels(t *testing.T) {
	var mu sync.Mutex
	fire := true
	var exemplar judge.Exemplar
	rule := judge.RuleFunc("test.rule", func(s *judge.Snapshot, st judge.State) []judge.Finding {
		mu.Lock()
		defer mu.Unlock()
		if !fire {
			return nil
		}
		return []judge.Finding{{Summary: "Something is wrong.", Action: "Fix it.", Severity: judge.SeverityWarning,
			Evidence:  []judge.Evidence{{Signal: "x", Value: 2, Threshold: 1, Unit: "1", Source: judge.SourceSpans}},
			Exemplars: []judge.Exemplar{exemplar}}}
	})
	var hmu sync.Mutex
	var got []Verdict
	handled := make(chan struct{}, 4)
	tr, _, reader, logs := judged(t, WithOnlyRules("test.rule"), WithRule(rule),
		WithJudgeOptions(judge.WithInterval(20*time.Millisecond), judge.WithDebounce(2, 2)),
		WithVerdictHandler(func(_ context.Context, v Verdict) {
			hmu.Lock()
			got = append(got, v)
			hmu.Unlock()
			handled <- struct{}{}
		}))
	defer shutdown(t, tr)

	tp := tr.TracerProvider().Tracer("test")
	_, open := tp.Start(context.Background(), "in-flight", trace.WithSpanKind(trace.SpanKindServer))
	mu.Lock()
	exemplar = judge.Exemplar{TraceID: open.SpanContext().TraceID(), SpanID: open.SpanContext().SpanID()}
	mu.Unlock()

	wait := func(what string) {
		select {
		case <-handled:
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s within 10 s", what)
		}
	}
	wait("firing")
	vs := tr.Verdicts()
	if len(vs) != 1 || !vs[0].Active() || vs[0].Rule != "test.rule" {
		t.Fatalf("Verdicts = %v", vs)
	}
	if c, _ := tr.Status().Component("judge"); !strings.Contains(c.Detail, "1 active verdict (test.rule)") {
		t.Errorf("Status judge = %+v", c)
	}
	mu.Lock()
	fire = false
	mu.Unlock()
	wait("clearing")

	hmu.Lock()
	if len(got) != 2 || !got[0].Active() || got[1].Active() {
		t.Errorf("handler saw %v, want fire then clear", got)
	}
	hmu.Unlock()

	var fired map[string]any
	for _, r := range logs.all() {
		if r[semconv.AttrVerdictRule] == "test.rule" && r[semconv.AttrVerdictState] == semconv.VerdictFiring {
			fired = r
		}
	}
	if fired == nil {
		t.Fatalf("no firing log record in %v", logs.all())
	}
	if fired[semconv.LogKeyTraceID] != exemplar.TraceID.String() || !strings.Contains(fired["msg"].(string), "Something is wrong.") {
		t.Errorf("log record %v, want the exemplar's trace_id and the summary", fired)
	}

	ro, ok := open.(sdktrace.ReadOnlySpan)
	if !ok {
		t.Fatal("span is not a ReadOnlySpan")
	}
	states := map[string]bool{}
	for _, e := range ro.Events() {
		if e.Name == semconv.EventVerdict {
			a := attribute.NewSet(e.Attributes...)
			v, _ := a.Value(semconv.AttrVerdictState)
			states[v.AsString()] = true
		}
	}
	if !states[semconv.VerdictFiring] || !states[semconv.VerdictCleared] {
		t.Errorf("open span events %v, want the verdict firing and clearing", ro.Events())
	}
	open.End()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := counterValue(rm, semconv.MetricVerdicts, semconv.AttrVerdictState, semconv.VerdictFiring); n != 1 {
		t.Errorf("%s{state=firing} = %d, want 1", semconv.MetricVerdicts, n)
	}
	if n := counterValue(rm, semconv.MetricVerdicts, semconv.AttrVerdictState, semconv.VerdictCleared); n != 1 {
		t.Errorf("%s{state=cleared} = %d, want 1", semconv.MetricVerdicts, n)
	}
}

// With the flight recorder running, a firing verdict saves it and names
// the file; older files beyond the bound are removed.
func TestVerdictSavesFlightRecord(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	subject := 0
	rule := judge.RuleFunc("test.flight", func(*judge.Snapshot, judge.State) []judge.Finding {
		mu.Lock()
		defer mu.Unlock()
		return []judge.Finding{{Subject: string(rune('a' + subject)), Summary: "x"}}
	})
	paths := make(chan string, 8)
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFOff),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}),
		WithRuntimeOptions(goruntime.WithFlightRecorder(time.Second, 1<<20)),
		WithOnlyRules("test.flight"), WithRule(rule), WithVerdictFlightRecords(dir, 2),
		WithJudgeOptions(judge.WithInterval(20*time.Millisecond), judge.WithDebounce(1, 1)),
		WithVerdictHandler(func(_ context.Context, v Verdict) {
			if !v.Active() {
				return
			}
			for _, e := range v.Evidence {
				if e.Signal == "flight_record" {
					paths <- e.Detail
					return
				}
			}
			paths <- ""
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	var saved []string
	for i := range 3 {
		select {
		case p := <-paths:
			if p == "" {
				t.Fatal("verdict fired without a flight record")
			}
			saved = append(saved, p)
		case <-time.After(10 * time.Second):
			t.Fatalf("verdict %d did not fire", i)
		}
		mu.Lock()
		subject++
		mu.Unlock()
	}
	if fi, err := os.Stat(saved[2]); err != nil || fi.Size() == 0 || filepath.Dir(saved[2]) != dir {
		t.Errorf("flight record %s: %v", saved[2], err)
	}
	if _, err := os.Stat(saved[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("oldest flight record kept beyond the bound of 2: %v", err)
	}
}

// A sampler that samples the root but not its local children (per-span,
// not parent-based): the children wait and follow the root's outcome.
func TestTailChildrenOfSampledRoot(t *testing.T) {
	s := sdktrace.ParentBased(sdktrace.AlwaysSample(), sdktrace.WithLocalParentSampled(sdktrace.NeverSample()))
	tr, exp, _, _ := judged(t, WithSampler(s))
	defer shutdown(t, tr)
	tp := tr.TracerProvider().Tracer("test")
	ctx, root := tp.Start(context.Background(), "root-ok")
	_, c := tp.Start(ctx, "child-ok")
	c.End()
	root.End()
	ctx, root = tp.Start(context.Background(), "root-bad")
	_, c = tp.Start(ctx, "child-bad")
	c.SetStatus(codes.Error, "boom")
	c.End()
	root.End()
	got := map[string]bool{}
	for _, s := range exported(t, tr, exp) {
		got[s.Name] = true
	}
	if !got["root-ok"] || got["child-ok"] || !got["root-bad"] || !got["child-bad"] {
		t.Errorf("exported %v, want both roots, the failed child, not the ordinary one", got)
	}
	if n := tr.judge.tail.pending.Load(); n != 0 {
		t.Errorf("%d local traces still wait in the buffer", n)
	}
}

// A user's rule that panics does not take the host down: the panic is
// recovered on every evaluation, logged once, named in Status (the judge
// degraded), and the other rules go on firing.
func TestUserRulePanicRecovered(t *testing.T) {
	var evals sync.WaitGroup
	evals.Add(5)
	var n int
	var nmu sync.Mutex
	bad := judge.RuleFunc("user.bad", func(*judge.Snapshot, judge.State) []judge.Finding {
		nmu.Lock()
		if n++; n <= 5 {
			evals.Done()
		}
		nmu.Unlock()
		var m map[string]int
		m["boom"]++ // a nil-map write: a runtime panic
		return nil
	})
	good := judge.RuleFunc("user.good", func(*judge.Snapshot, judge.State) []judge.Finding {
		return []judge.Finding{{Summary: "Something is wrong.", Action: "Fix it.", Severity: judge.SeverityWarning,
			Evidence: []judge.Evidence{{Signal: "x", Value: 2, Threshold: 1, Unit: "1", Source: judge.SourceSpans}}}}
	})
	fired := make(chan Verdict, 4)
	tr, exp, _, logs := judged(t, WithOnlyRules("user.bad", "user.good"), WithRule(bad), WithRule(good),
		WithJudgeOptions(judge.WithInterval(20*time.Millisecond), judge.WithDebounce(2, 2)),
		WithVerdictHandler(func(_ context.Context, v Verdict) { fired <- v }))
	defer shutdown(t, tr)

	select {
	case v := <-fired:
		if v.Rule != "user.good" || !v.Active() {
			t.Errorf("verdict %v, want user.good firing", v)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other rule did not fire within 10 s")
	}
	evals.Wait() // the bad rule panicked at least five times

	c, _ := tr.Status().Component("judge")
	if c.State != probes.StateDegraded || !strings.Contains(c.Reason, "rule user.bad panicked") ||
		!strings.Contains(c.Reason, "assignment to entry in nil map") {
		t.Errorf("Status judge = %+v, want degraded naming the rule and its panic", c)
	}
	if !strings.Contains(c.Detail, "1 active verdict (user.good)") {
		t.Errorf("Status judge detail %q, want the other rule's verdict", c.Detail)
	}
	reported := 0
	for _, r := range logs.all() {
		if msg, _ := r["msg"].(string); strings.Contains(msg, "rule user.bad panicked") {
			reported++
		}
	}
	if reported != 1 {
		t.Errorf("the panic was logged %d times, want once", reported)
	}

	// The host carries on: spans still flow.
	_, sp := tr.TracerProvider().Tracer("test").Start(context.Background(), "after")
	sp.End()
	if got := exported(t, tr, exp); len(got) == 0 || got[len(got)-1].Name != "after" {
		t.Errorf("exported %d spans after the panics, want the new one", len(got))
	}
}
