//go:build linux

package faults

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/kernel"
	"github.com/verdict-obs/verdict/tracer"
)

// kernelLost reads verdict.kernel.events.lost.
func kernelLost(t *testing.T, reader *sdkmetric.ManualReader) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == semconv.MetricKernelEventsLost {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					n += dp.Value
				}
			}
		}
	}
	return n
}

// The eBPF tables too small to keep up: the kernel probe gets the fewest
// slots there can be (kernel.WithSlots through tracer.WithKernelOptions)
// and 64 goroutines hold spans open at once. Every span is still exported;
// those that found no slot carry no kernel attributes; each of them is
// counted in verdict.kernel.events.lost, and Status says how many and
// which limit to raise.
func TestKernelSlotsTooSmall(t *testing.T) {
	testutil.RequireRoot(t, "load eBPF programs")
	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	tr := startTracer(t, nil, tracer.WithEBPF(tracer.EBPFRequired), tracer.WithKernelOptions(kernel.WithSlots(1)),
		tracer.WithSpanExporter(exp), tracer.WithMetricReader(reader))
	defer shutdown(t, tr, 5*time.Second)

	const n = 64
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			_, span := tr.TracerProvider().Tracer("faults").Start(context.Background(), "held")
			syscall.Getpid()
			started.Done()
			release.Wait() // all n spans are open at once
			span.End()
		}()
	}
	started.Wait()
	release.Done()
	done.Wait()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	without := 0
	for _, s := range spans {
		has := false
		for _, kv := range s.Attributes {
			if kv.Key == semconv.AttrKernelOffCPUDuration {
				has = true
			}
		}
		if !has {
			without++
		}
	}
	lost := kernelLost(t, reader)
	c, _ := tr.Status().Component("ebpf")
	t.Logf("%d spans held open at once with 8 slots: %d exported, %d without kernel time, %d lost; status: %s", n, len(spans), without, lost, c)
	if len(spans) != n {
		t.Errorf("exported %d spans, want %d", len(spans), n)
	}
	if without < n-8 || lost < int64(without) {
		t.Errorf("%d spans without kernel time (want at least %d), %d counted lost", without, n-8, lost)
	}
	if c.State != probes.StateDegraded || !strings.Contains(c.Reason, "spans without kernel time") || !strings.Contains(c.Reason, "WithSlots") {
		t.Errorf("ebpf status %+v, want degraded naming the lost spans and WithSlots", c)
	}
}
