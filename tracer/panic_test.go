package tracer

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

// panicProbe is a user's probe that panics in the methods named in where.
type panicProbe struct {
	name   string
	where  string // any of "name", "start", "status", "shutdown"
	policy probes.FailurePolicy
	calls  atomic.Int32
}

func (p *panicProbe) boom(method string) {
	p.calls.Add(1)
	if strings.Contains(p.where, method) {
		panic("user probe " + p.name + " broke in " + method)
	}
}

func (p *panicProbe) Name() string {
	p.boom("name")
	return p.name
}
func (p *panicProbe) Start(context.Context) error    { p.boom("start"); return nil }
func (p *panicProbe) Shutdown(context.Context) error { p.boom("shutdown"); return nil }
func (p *panicProbe) Status() probes.Status {
	p.boom("status")
	return probes.Status{Name: p.name, State: probes.StateOn}
}
func (p *panicProbe) FailurePolicy() probes.FailurePolicy { return p.policy }

// errorRecords returns the diagnostics at level ERROR.
func errorRecords(h *captureHandler) []map[string]any {
	var out []map[string]any
	for _, r := range h.all() {
		if r["level"] == "ERROR" {
			out = append(out, r)
		}
	}
	return out
}

// A user's probe that panics in Start, Status, Shutdown or Name: Start,
// Status and Shutdown return, the host keeps making spans, each probe's
// panic is logged once (however often Status is called) and its cause is in
// Status; the probes after it still start and stop.
func TestUserProbePanicIsContained(t *testing.T) {
	for _, withHooks := range []bool{false, true} {
		name := "direct"
		if withHooks {
			name = "pipeline"
		}
		t.Run(name, func(t *testing.T) {
			inStart := &panicProbe{name: "in-start", where: "start"}
			inStatus := &panicProbe{name: "in-status", where: "status"}
			inShutdown := &panicProbe{name: "in-shutdown", where: "shutdown"}
			inName := &panicProbe{name: "in-name", where: "name"}
			healthy := &panicProbe{name: "healthy"}
			exp := tracetest.NewInMemoryExporter()
			diag := newCapture()
			opts := []Option{quiet(), WithoutGlobals(), WithLogger(slog.New(diag)),
				WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}),
				WithProbes(inStart, inStatus, inShutdown, inName, healthy)}
			if withHooks {
				opts = append(opts, withSpanHooks(newDurationHook()))
			}
			tr, err := Start(context.Background(), opts...)
			if err != nil {
				t.Fatalf("Start with panicking FailOpen probes: %v", err)
			}
			for range 10 {
				_, s := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
				s.End()
			}
			var st Status
			for range 5 { // Status is called often; the panic is reported once
				st = tr.Status()
			}
			if c, _ := st.Component("in-start"); c.State != probes.StateOff || !strings.Contains(c.Reason, "Start panicked: user probe in-start broke in start") {
				t.Errorf("in-start = %+v", c)
			}
			if c, _ := st.Component("in-status"); c.State != probes.StateOff || !strings.Contains(c.Reason, "Status panicked") {
				t.Errorf("in-status = %+v", c)
			}
			if c, _ := st.Component("healthy"); c.State != probes.StateOn {
				t.Errorf("healthy = %+v", c)
			}
			if _, ok := st.Component("*tracer.panicProbe"); !ok {
				t.Errorf("the probe whose Name panics is not listed by its type: %s", st)
			}
			t.Logf("status with panicking probes:\n%s", st)
			if err := tr.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(exp.GetSpans()); n != 10 {
				t.Errorf("exported %d spans, want 10", n)
			}

			err = tr.Shutdown(context.Background())
			if err == nil || !errors.Is(err, errPanicked) || !strings.Contains(err.Error(), "probe in-shutdown: shutdown: Shutdown panicked") {
				t.Errorf("Shutdown = %v, want the in-shutdown probe's panic", err)
			}
			if healthy.calls.Load() < 3 { // Start, Status, Shutdown (Name once)
				t.Errorf("healthy probe saw %d calls: the probes after a panicking one were skipped", healthy.calls.Load())
			}
			// One report per probe that panicked: in-start, in-status,
			// in-shutdown. (in-name's panic is handled by naming it by type.)
			errs := errorRecords(diag)
			if len(errs) != 3 {
				t.Errorf("%d error reports, want 3 (one per panicking probe): %v", len(errs), errs)
			}
		})
	}
}

// A FailClosed probe that panics in Start makes Start fail with the panic;
// the probes started before it are shut down.
func TestFailClosedProbePanicFailsStart(t *testing.T) {
	healthy := &panicProbe{name: "healthy"}
	bad := &panicProbe{name: "bad", where: "start", policy: probes.FailClosed}
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(slog.DiscardHandler)),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}), WithProbes(healthy, bad))
	if tr != nil || err == nil || !errors.Is(err, errPanicked) || !strings.Contains(err.Error(), "probe bad: Start panicked") {
		t.Fatalf("Start = %v, %v; want an error naming the panic", tr, err)
	}
	if n := healthy.calls.Load(); n != 3 { // Name, Start, Shutdown
		t.Errorf("healthy probe: %d calls, want Name, Start and Shutdown", n)
	}
}

// panicProcessor is a user's span processor that panics in the methods
// named in where.
type panicProcessor struct {
	where string
	ends  atomic.Int32
}

func (p *panicProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {
	if strings.Contains(p.where, "start") {
		panic("processor broke in OnStart")
	}
}

func (p *panicProcessor) OnEnd(sdktrace.ReadOnlySpan) {
	p.ends.Add(1)
	if strings.Contains(p.where, "end") {
		panic("processor broke in OnEnd")
	}
}

func (p *panicProcessor) Shutdown(context.Context) error {
	if strings.Contains(p.where, "shutdown") {
		panic("processor broke in Shutdown")
	}
	return nil
}

func (p *panicProcessor) ForceFlush(context.Context) error {
	if strings.Contains(p.where, "flush") {
		panic("processor broke in ForceFlush")
	}
	return nil
}

// A user's span processor that panics in every method: the goroutines that
// start and end spans carry on, the exporter still gets every span, the
// panic is logged once and Status shows the traces pipeline degraded with
// the cause; ForceFlush and Shutdown return the panic as an error.
func TestSpanProcessorPanicIsContained(t *testing.T) {
	for _, withHooks := range []bool{false, true} {
		name := "direct"
		if withHooks {
			name = "pipeline"
		}
		t.Run(name, func(t *testing.T) {
			proc := &panicProcessor{where: "start end flush shutdown"}
			exp := tracetest.NewInMemoryExporter()
			diag := newCapture()
			opts := []Option{quiet(), WithoutGlobals(), WithLogger(slog.New(diag)),
				WithSpanExporter(exp), WithSpanProcessor(proc),
				WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{})}
			if withHooks {
				opts = append(opts, withSpanHooks(newDurationHook()))
			}
			tr, err := Start(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			done := make(chan struct{})
			for g := range 4 { // several goroutines, as a server's handlers
				go func() {
					defer func() { done <- struct{}{} }()
					for range n / 4 {
						_, s := tr.TracerProvider().Tracer("test").Start(context.Background(), "op"+string(rune('a'+g)))
						s.End()
					}
				}()
			}
			for range 4 {
				<-done
			}
			if err := tr.ForceFlush(context.Background()); err == nil || !errors.Is(err, errPanicked) {
				t.Errorf("ForceFlush = %v, want the processor's panic", err)
			}
			if got := len(exp.GetSpans()); got != n {
				t.Errorf("exported %d spans, want %d: the panic cost spans", got, n)
			}
			if got := proc.ends.Load(); got != n {
				t.Errorf("the processor saw %d ends, want %d", got, n)
			}
			c, _ := tr.Status().Component("traces")
			if c.State != probes.StateDegraded || !strings.Contains(c.Reason, "panicked in OnStart: processor broke in OnStart") {
				t.Errorf("traces = %+v, want degraded naming the first panic", c)
			}
			err = tr.Shutdown(context.Background())
			if !errors.Is(err, errPanicked) || !strings.Contains(err.Error(), "Shutdown panicked") {
				t.Errorf("Shutdown = %v", err)
			}
			if errs := errorRecords(diag); len(errs) != 1 {
				t.Errorf("%d error reports, want 1: %v", len(errs), errs)
			}
		})
	}
}

// panicExporter is a user's span exporter that panics on every export.
type panicExporter struct{ calls atomic.Int32 }

func (e *panicExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	e.calls.Add(1)
	panic("exporter broke")
}
func (e *panicExporter) Shutdown(context.Context) error { panic("exporter broke in Shutdown") }

// A user's exporter that panics: it runs on verdict's export goroutine, so
// an unrecovered panic would end the host. The spans are counted as failed
// exports, Status names the panic, Shutdown reports the drops.
func TestExporterPanicIsCounted(t *testing.T) {
	exp := &panicExporter{}
	diag := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	spanLoop(tr.TracerProvider().Tracer("test"), n, "")
	if err := tr.ForceFlush(context.Background()); err == nil {
		t.Error("ForceFlush succeeded with a panicking exporter")
	}
	c, _ := tr.Status().Component("traces")
	if c.State != probes.StateDegraded || !strings.Contains(c.Reason, "exporter panicked: exporter broke") || c.Dropped != n {
		t.Errorf("traces = %+v, want degraded with the panic and %d dropped", c, n)
	}
	err = tr.Shutdown(context.Background())
	var de *DropError
	// (The exporter's Shutdown panics too; the drop report covers the
	// signal, as for any exporter error.)
	if !errors.As(err, &de) || de.ExportFailed != n || !errors.Is(err, errPanicked) {
		t.Errorf("Shutdown = %v", err)
	}
	warns := 0
	for _, r := range diag.all() {
		if strings.Contains(r["msg"].(string), "dropping telemetry") {
			warns++
		}
	}
	if warns != 1 || exp.calls.Load() == 0 {
		t.Errorf("%d drop reports after %d exports, want 1", warns, exp.calls.Load())
	}
}

var _ spanhook.Hook = newDurationHook()
