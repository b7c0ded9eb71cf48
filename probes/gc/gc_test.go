package gc

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/goruntime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Without eBPF: the runtime's GC pauses reach the span, verdict.unmeasured
// says that the mark phase and the assists are missing and why, and the
// pause histogram and the assist counter come from runtime/metrics.
func TestWithoutEBPF(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)
	rt, err := goruntime.New(goruntime.WithoutMetrics(), goruntime.WithoutGCPauseAttribution(), goruntime.WithSampleInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx)
	p, err := New(WithMeterProvider(mp), WithRuntime(rt), WithoutEBPF("disabled by VERDICT_EBPF=off"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx)
	const want = "gc.mark,gc.assist: eBPF off: disabled by VERDICT_EBPF=off"
	if st := p.Status(); st.State != probes.StateDegraded || st.Reason != want {
		t.Errorf("status %v, want degraded: %s", st, want)
	}
	start := time.Now()
	runtime.GC()
	end := time.Now()
	got := map[string]any{}
	for _, kv := range p.SpanEnd(trace.SpanContext{}, start, end, nil) {
		got[string(kv.Key)] = kv.Value.AsInterface()
	}
	if n, _ := got[semconv.AttrGCPauseCount].(int64); n < 1 {
		t.Errorf("span around runtime.GC(): %v", got)
	}
	if got[semconv.AttrUnmeasured] != want {
		t.Errorf("%s = %v, want %q", semconv.AttrUnmeasured, got[semconv.AttrUnmeasured], want)
	}
	s := p.Snapshot()
	if s.Exact || s.Pauses < 1 || s.Cycles < 1 || s.Unmeasured != want {
		t.Errorf("snapshot %+v", s)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			found[m.Name] = true
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == semconv.MetricGCPauseDuration {
				if len(h.DataPoints) != 1 || h.DataPoints[0].Count < 1 {
					t.Errorf("%s: %+v", m.Name, h.DataPoints)
				}
				if r, _ := h.DataPoints[0].Attributes.Value(semconv.AttrGCPauseReason); r.AsString() != semconv.GCPauseReasonGC {
					t.Errorf("reason %q", r.AsString())
				}
			}
		}
	}
	for _, name := range []string{semconv.MetricGCPauseDuration, semconv.MetricGCAssistTime} {
		if !found[name] {
			t.Errorf("%s not exported: %v", name, found)
		}
	}
	dst := make([]attribute.KeyValue, 0, 8)
	if n := testing.AllocsPerRun(1000, func() { p.SpanEnd(trace.SpanContext{}, start, end, dst[:0]) }); n != 0 {
		t.Errorf("SpanEnd: %v allocs, want 0", n)
	}
}
