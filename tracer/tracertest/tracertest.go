package tracertest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

// T is verdict running for one test. Its methods are safe for concurrent
// use; after the test's cleanup they return what the test saw.
type T struct {
	tb     testing.TB
	cfg    config
	id     string
	tr     *tracer.Tracer
	sdk    trace.TracerProvider
	exp    *memExporter
	router *router
	diag   *diagHandler
	probe  *goruntime.Probe // the tracer's runtime probe (leak checks)

	traceMu  sync.Mutex // guards traceIDs (router.mu first)
	traceIDs []trace.TraceID

	mu     sync.Mutex // guards the fields below
	fired  map[verdictKey]*firing
	order  []verdictKey
	flight *goruntime.Probe // the shared flight recorder; nil when off
	flDir  string
	flErr  error
	flSeq  int
	ended  bool

	leakScoped atomic.Bool // the leak verdict came from this test's leak check
	overlapped atomic.Bool // another test used tracertest while this one ran
	unrouted0  uint64
}

type verdictKey struct{ rule, subject string }

// firing is one rule and subject whose verdict fired, with what the
// flight recorder saved when it first did.
type firing struct {
	v         tracer.Verdict // as it first fired (what made it fire)
	n         int            // times it fired
	flight    string
	flightErr error
}

var seq atomic.Uint64

// Start starts verdict for the test tb and registers the cleanup that
// judges it (see the package documentation). Call it at the start of the
// test, from the test's goroutine, before the code under test starts
// goroutines: it labels that goroutine for the leak check. A second call
// for the same test reports an error and returns the first T.
func Start(tb testing.TB, opts ...Option) *T {
	tb.Helper()
	if x := lookup(tb); x != nil {
		tb.Errorf("tracertest.Start called twice for %s", tb.Name())
		return x
	}
	cfg := newConfig(opts)
	x := &T{
		tb:     tb,
		cfg:    cfg,
		id:     fmt.Sprintf("%s#%d", tb.Name(), seq.Add(1)),
		exp:    newMemExporter(cfg.maxSpans),
		router: globalRouter(),
		diag:   &diagHandler{},
		fired:  map[verdictKey]*firing{},
	}
	if cfg.flight {
		x.flight, x.flErr = acquireFlight()
		x.flDir = *flagOut
		if x.flDir == "" && x.flight != nil {
			x.flDir = tb.ArtifactDir()
		}
	}

	leak := rules.NewGoroutineLeak()
	// Process-wide goroutine growth is other tests' as much as this one's:
	// in a test the rule speaks from the test's own leak check only.
	leak.MinGrowth, leak.MinRate = math.Inf(1), math.Inf(1)
	topts := []tracer.Option{
		tracer.WithoutGlobals(),
		tracer.WithServiceName("go-test"),
		tracer.WithResourceAttributes(attribute.String(semconv.AttrTestCaseName, tb.Name())),
		tracer.WithConsoleFormat(tracer.ConsoleNone),
		tracer.WithLogger(slog.New(x.diag)),
		tracer.WithSpanExporter(x.exp),
		tracer.WithSpanProcessor(traceIndex{r: x.router, x: x}),
		tracer.WithMetricReader(sdkmetric.NewManualReader()),
		tracer.WithLogExporter(discardLogs{}),
		tracer.WithSampler(sdktrace.AlwaysSample()),
		tracer.WithEBPF(tracer.EBPFOff),
		tracer.WithRuntimeOptions(goruntime.WithHotspots(0, 0), goruntime.WithBlocking(0, 0),
			goruntime.WithSampleInterval(DefaultInterval), goruntime.WithGoroutineLabel(semconv.LabelTest, x.id)),
		tracer.WithJudgeOptions(judge.WithInterval(DefaultInterval), judge.WithDebounce(1, 1),
			judge.WithBaselinePeriod(2*judge.DefaultWindow)),
		tracer.WithRule(x.wrapLeak(leak)),
		tracer.WithVerdictHandler(x.onVerdict),
	}
	for _, r := range cfg.rules {
		if r.ID() == rules.IDGoroutineLeak {
			r = x.wrapLeak(r)
		}
		topts = append(topts, tracer.WithRule(r))
	}
	topts = append(topts, cfg.tracerOpts...)

	// What the tracer starts carries the owned label (checked at the end),
	// what the test starts from here on the test's label (the leak check).
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(semconv.LabelOwned, x.id)))
	tr, err := tracer.Start(context.Background(), topts...)
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels(semconv.LabelTest, x.id)))
	if err != nil {
		if x.flight != nil {
			releaseFlight()
		}
		tb.Fatalf("tracertest: start verdict: %v", err)
		return nil
	}
	x.tr, x.sdk, x.probe = tr, tr.TracerProvider(), tr.Runtime()
	if cfg.leakCheck && x.probe != nil {
		if err := x.probe.SetLeakBaseline(); err != nil {
			tb.Logf("tracertest: no leak check: %v", err)
			x.probe = nil
		}
	}
	x.unrouted0 = x.router.unrouted.Load()
	x.router.add(x)
	register(tb, x)
	tb.Cleanup(x.finish)
	return x
}

// Tracer returns the test's verdict tracer (its Status, Verdicts,
// MeterProvider, Logger, ...).
func (x *T) Tracer() *tracer.Tracer { return x.tr }

// TracerProvider returns the test's own tracer provider, for
// instrumentation that takes one (middleware.WithTracerProvider,
// sqlxprobe.WithTracerProvider); spans started through the globals reach
// the same provider when the router can place them.
func (x *T) TracerProvider() trace.TracerProvider { return x.sdk }

// Context returns the test's context (testing.TB.Context) marked so that
// spans started with it, or with a context derived from it, through the
// global TracerProvider belong to this test even when other tests run in
// parallel.
func (x *T) Context() context.Context {
	return context.WithValue(x.tb.Context(), ctxKey{}, x)
}

// Spans returns the spans the test ended so far (up to WithMaxSpans, the
// most recent), oldest first, with the attributes verdict added
// (verdict.cause, pool wait, GC and kernel time, ...).
func (x *T) Spans() tracetest.SpanStubs {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = x.tr.ForceFlush(ctx)
	return tracetest.SpanStubsFromReadOnlySpans(x.exp.all())
}

// Verdicts evaluates the rules now and returns every verdict that fired
// during the test so far, one per rule and subject (as it first fired), in
// the order they first fired.
func (x *T) Verdicts() []tracer.Verdict {
	x.tr.EvaluateVerdicts(context.Background())
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]tracer.Verdict, 0, len(x.order))
	for _, k := range x.order {
		out = append(out, x.fired[k].v)
	}
	return out
}

// onVerdict is the tracer's verdict handler: it keeps every verdict that
// fires and saves the flight record of its first firing.
func (x *T) onVerdict(_ context.Context, v tracer.Verdict) {
	if !v.Active() {
		return
	}
	k := verdictKey{v.Rule, v.Subject}
	x.mu.Lock()
	f := x.fired[k]
	first := f == nil
	if first {
		f = &firing{}
		x.fired[k] = f
		x.order = append(x.order, k)
	}
	if first {
		f.v = v
	}
	f.n++
	save := first && x.flight != nil && !x.ended
	x.mu.Unlock()
	if save {
		path, err := x.saveFlight(v)
		x.mu.Lock()
		f.flight, f.flightErr = path, err
		x.mu.Unlock()
	}
}

// saveFlight writes the shared flight recorder's window for verdict v.
func (x *T) saveFlight(v tracer.Verdict) (string, error) {
	x.mu.Lock()
	x.flSeq++
	n := x.flSeq
	dir := x.flDir
	x.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%s-%d.trace", safeName(x.tb.Name()), safeName(v.Rule), n)
	path := filepath.Join(dir, name)
	if err := x.flight.SaveFlightRecord(path); err != nil {
		return "", err
	}
	return path, nil
}

// finish is the test's cleanup: leak check, last evaluation, report,
// shutdown, and the check that nothing verdict started still runs.
func (x *T) finish() {
	defer unregister(x.tb)
	var leaks goruntime.Blocking
	if x.probe != nil {
		leaks = x.checkLeaks()
	}
	x.tr.EvaluateVerdicts(context.Background())
	x.router.remove(x)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = x.tr.ForceFlush(ctx)
	x.mu.Lock()
	x.ended = true
	x.mu.Unlock()

	failures, logs := x.report(x.exp.all(), leaks)

	if err := x.tr.Shutdown(ctx); err != nil {
		logs = append(logs, "tracertest: tracer shutdown: "+err.Error())
	}
	left := x.leftRunning()
	if x.flight != nil {
		releaseFlight()
	}
	pprof.SetGoroutineLabels(context.Background())

	for _, l := range x.diag.lines() {
		x.tb.Log("verdict: " + l)
	}
	for _, l := range logs {
		x.tb.Log(l)
	}
	if n := x.router.unrouted.Load() - x.unrouted0; n > 0 {
		x.tb.Logf("tracertest: %d spans started while this test ran could not be attributed to a test (tests in parallel): start them with tracertest's T.Context or its TracerProvider", n)
	}
	for _, f := range failures {
		x.tb.Error(f)
	}
	for _, g := range left {
		x.tb.Errorf("tracertest: verdict left %d goroutine(s) running after its Shutdown [%s]:\n%s",
			g.Count, g.WaitReason, indent(g.Stack, "    "))
	}
}

// checkLeaks waits, for up to the grace period, until none of the test's
// goroutines (but those ignored) runs any more; if some still do, it runs
// the runtime probe's leak check once: that check is what the judge's
// goroutine.leak rule reads. The waiting uses checks that the judge does not see, so
// that a goroutine still exiting (database/sql's opener after Close, a
// connection's loops after CloseIdleConnections) cannot fire the verdict
// from an evaluation that falls in between.
func (x *T) checkLeaks() goruntime.Blocking {
	deadline := time.Now().Add(x.cfg.leakGrace)
	wait := time.Millisecond
	for {
		if !x.running() {
			// Nothing the test started runs: no leak to judge (the
			// baseline, taken as the test started, can only be larger).
			return goruntime.Blocking{}
		}
		if !time.Now().Before(deadline) {
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
	res, err := x.probe.CheckLeaks()
	if err != nil {
		x.tb.Logf("tracertest: leak check: %v", err)
		return goruntime.Blocking{}
	}
	return res
}

// running reports whether goroutines the test started (but those
// ignored) still run.
func (x *T) running() bool {
	for _, g := range goruntime.Goroutines(semconv.LabelTest, x.id) {
		if !x.ignored(g.Stack) {
			return true
		}
	}
	return false
}

// leftRunning returns the goroutines started for the test's tracer that
// still run after its Shutdown (after a short grace for those exiting).
func (x *T) leftRunning() []goruntime.BlockedStack {
	deadline := time.Now().Add(time.Second)
	wait := time.Millisecond
	for {
		gs := goruntime.Goroutines(semconv.LabelOwned, x.id)
		if len(gs) == 0 || time.Now().After(deadline) {
			return gs
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// unignored drops the stacks IgnoreGoroutines names.
func (x *T) unignored(bs []judge.BlockedStack) []judge.BlockedStack {
	return slices.DeleteFunc(slices.Clone(bs), func(b judge.BlockedStack) bool { return x.ignored(b.Stack) })
}

func (x *T) ignored(stack string) bool {
	for _, line := range strings.Split(stack, "\n") {
		line = strings.TrimPrefix(line, "created by ")
		if slices.Contains(x.cfg.ignore, line) {
			return true
		}
	}
	return false
}

// leakRule wraps the goroutine.leak rule for a test: the stacks the test
// ignores are left out of its snapshot, and it notes when it spoke from
// the test's own leak check.
type leakRule struct {
	inner judge.Rule
	x     *T
}

func (x *T) wrapLeak(r judge.Rule) judge.Rule { return leakRule{inner: r, x: x} }

func (r leakRule) ID() string { return r.inner.ID() }

func (r leakRule) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	if sus := s.Runtime.LeakSuspects; len(sus) > 0 {
		if kept := r.x.unignored(sus); len(kept) < len(sus) {
			cp := *s
			cp.Runtime.LeakSuspects = kept
			s = &cp
		}
	}
	fs := r.inner.Evaluate(s, st)
	if len(fs) > 0 && !s.Runtime.LeakSince.IsZero() && len(s.Runtime.LeakSuspects) > 0 {
		r.x.leakScoped.Store(true)
	}
	return fs
}

// The tests that called Start, so that a second call is caught.
var started sync.Map // testing.TB → *T

func lookup(tb testing.TB) *T {
	if v, ok := started.Load(tb); ok {
		return v.(*T)
	}
	return nil
}

func register(tb testing.TB, x *T) { started.Store(tb, x) }
func unregister(tb testing.TB)     { started.Delete(tb) }

// diagHandler keeps verdict's own warnings (the tracer's diagnostics) for
// the test's log, bounded.
type diagHandler struct {
	mu    sync.Mutex
	recs  []string
	extra int
}

const maxDiag = 20

func (h *diagHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *diagHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	if len(h.recs) < maxDiag {
		h.recs = append(h.recs, b.String())
	} else {
		h.extra++
	}
	h.mu.Unlock()
	return nil
}

func (h *diagHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *diagHandler) WithGroup(string) slog.Handler      { return h }

func (h *diagHandler) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := slices.Clone(h.recs)
	if h.extra > 0 {
		out = append(out, fmt.Sprintf("(%d more diagnostics)", h.extra))
	}
	return out
}

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
