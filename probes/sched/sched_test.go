package sched

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(cgroupChildEnv); dir != "" {
		os.Exit(cgroupChild(dir))
	}
	goleak.VerifyTestMain(m)
}

// Without eBPF the probe runs degraded, says why on every span, and still
// gives the process view as metrics and a Snapshot.
func TestWithoutEBPF(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	p, err := New(WithMeterProvider(mp), WithoutEBPF("disabled by VERDICT_EBPF=off"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.SpanEnd(trace.SpanContext{}, time.Now(), time.Now(), nil); len(got) != 0 {
		t.Errorf("before Start: %v", got)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := p.Status()
	if st.State != probes.StateDegraded || !strings.Contains(st.Reason, "eBPF off: disabled by VERDICT_EBPF=off") {
		t.Errorf("status %v", st)
	}
	got := p.SpanEnd(trace.SpanContext{}, time.Now(), time.Now(), nil)
	want := attribute.String(semconv.AttrUnmeasured, "kernel: eBPF off: disabled by VERDICT_EBPF=off")
	if len(got) != 1 || got[0] != want {
		t.Errorf("span: %v, want [%v]", got, want)
	}
	if n := testing.AllocsPerRun(1000, func() { p.SpanEnd(trace.SpanContext{}, time.Time{}, time.Time{}, got[:0]) }); n != 0 {
		t.Errorf("SpanEnd: %v allocs", n)
	}
	s := p.Snapshot()
	if s.Time.IsZero() || s.GOMAXPROCS < 1 || s.EBPF || s.Unmeasured == "" {
		t.Errorf("snapshot %+v", s)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names[m.Name] = true
		}
	}
	if s.RunQueueTime > 0 && !names[semconv.MetricSchedRunqueueTime] {
		t.Errorf("%s not exported: %v", semconv.MetricSchedRunqueueTime, names)
	}
	if s.CgroupVersion != 0 && !names[semconv.MetricSchedCPUPeriods] {
		t.Errorf("cgroup v%d found but %s not exported: %v", s.CgroupVersion, semconv.MetricSchedCPUPeriods, names)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Snapshot().Time.IsZero() {
		t.Error("after Shutdown: the last snapshot is gone")
	}
}
