package tracer

import (
	"context"
	"math"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// startWithReader starts a Tracer whose metrics go to a manual reader (with
// the runtime producer, as a user of WithMetricReader would add it).
func startWithReader(t *testing.T, opts ...Option) (*Tracer, *sdkmetric.ManualReader) {
	t.Helper()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(NewRuntimeProducer()))
	base := []Option{WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFOff),
		WithSpanExporter(tracetest.NewNoopExporter()), WithLogExporter(&memLogExporter{}), WithMetricReader(reader)}
	tr, err := Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { shutdown(t, tr) })
	return tr, reader
}

func collectMetrics(t *testing.T, r sdkmetric.Reader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// TestWithHistograms: the default keeps the instruments' fine boundaries
// (from 100 µs), HistogramsSemconv restores the semantic conventions'
// advice, HistogramsExponential aggregates exponentially; an unknown value
// fails Start.
func TestWithHistograms(t *testing.T) {
	record := func(tr *Tracer) {
		m := tr.MeterProvider().Meter("test")
		for _, name := range []string{semconv.MetricHTTPServerRequestDuration, semconv.MetricDBClientOperationDuration} {
			h, err := m.Float64Histogram(name, metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
			if err != nil {
				t.Fatal(err)
			}
			h.Record(context.Background(), 0.0003)
		}
	}
	bounds := func(ms map[string]metricdata.Metrics, name string) []float64 {
		h, ok := ms[name].Data.(metricdata.Histogram[float64])
		if !ok || len(h.DataPoints) != 1 {
			t.Fatalf("%s: %T %+v", name, ms[name].Data, ms[name].Data)
		}
		return h.DataPoints[0].Bounds
	}

	tr, r := startWithReader(t)
	record(tr)
	ms := collectMetrics(t, r)
	if b := bounds(ms, semconv.MetricHTTPServerRequestDuration); !slices.Equal(b, semconv.DurationBuckets()) {
		t.Errorf("default: %v", b)
	}

	tr, r = startWithReader(t, WithHistograms(HistogramsSemconv))
	record(tr)
	ms = collectMetrics(t, r)
	if b := bounds(ms, semconv.MetricHTTPServerRequestDuration); !slices.Equal(b, semconv.SemconvHTTPDurationBuckets()) {
		t.Errorf("semconv, HTTP: %v", b)
	}
	if b := bounds(ms, semconv.MetricDBClientOperationDuration); !slices.Equal(b, semconv.SemconvDBDurationBuckets()) {
		t.Errorf("semconv, DB: %v", b)
	}

	tr, r = startWithReader(t, WithHistograms(HistogramsExponential))
	record(tr)
	ms = collectMetrics(t, r)
	e, ok := ms[semconv.MetricHTTPServerRequestDuration].Data.(metricdata.ExponentialHistogram[float64])
	if !ok || len(e.DataPoints) != 1 || e.DataPoints[0].Count != 1 {
		t.Errorf("exponential: %T %+v", ms[semconv.MetricHTTPServerRequestDuration].Data, ms[semconv.MetricHTTPServerRequestDuration].Data)
	}

	if _, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFOff),
		WithHistograms(Histograms(7))); err == nil || !strings.Contains(err.Error(), "WithHistograms") {
		t.Errorf("unknown Histograms value: %v", err)
	}
	if got := HistogramsExponential.String() + "," + Histograms(9).String(); got != "exponential,Histograms(9)" {
		t.Errorf("String: %s", got)
	}
}

// TestRuntimeProducerBounded: go.schedule.duration has the 16 bounded
// boundaries, and its counts add up to the runtime's own histogram.
func TestRuntimeProducerBounded(t *testing.T) {
	// Make the scheduler work a little so that the histogram is not empty.
	done := make(chan struct{})
	for range 4 * runtime.GOMAXPROCS(0) {
		go func() {
			for {
				select {
				case <-done:
					return
				default:
					runtime.Gosched()
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	close(done)

	p := newScheduleProducer()
	sms, err := p.Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(sms) != 1 || len(sms[0].Metrics) != 1 || sms[0].Metrics[0].Name != semconv.MetricGoScheduleDuration {
		t.Fatalf("produced %+v", sms)
	}
	h := sms[0].Metrics[0].Data.(metricdata.Histogram[float64])
	dp := h.DataPoints[0]
	if !slices.Equal(dp.Bounds, semconv.ScheduleBuckets()) || len(dp.BucketCounts) != len(dp.Bounds)+1 {
		t.Fatalf("bounds %v, %d counts", dp.Bounds, len(dp.BucketCounts))
	}
	var sum uint64
	for _, c := range dp.BucketCounts {
		sum += c
	}
	if sum != dp.Count || dp.Count == 0 || dp.Sum <= 0 {
		t.Errorf("count %d, bucket total %d, sum %g", dp.Count, sum, dp.Sum)
	}
	// The runtime's total at least matches what was folded (it only grows).
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	var rt uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		rt += c
	}
	if rt < dp.Count {
		t.Errorf("runtime total %d < folded %d", rt, dp.Count)
	}
}

// TestFoldMap: each runtime bucket goes to the first target bucket that
// holds its upper edge; one straddling a boundary goes above it.
func TestFoldMap(t *testing.T) {
	inf := math.Inf(1)
	edges := []float64{0, 0.5, 1, 1.5, 2, 3, inf}
	bounds := []float64{1, 2}
	// [0,.5)→≤1, [.5,1)→≤1, [1,1.5)→(1,2], [1.5,2)→(1,2], [2,3)→>2, [3,inf)→>2
	if got, want := foldMap(edges, bounds), []int{0, 0, 1, 1, 2, 2}; !slices.Equal(got, want) {
		t.Errorf("foldMap = %v, want %v", got, want)
	}
	if got, want := foldMap([]float64{0, 0.7, 1.3, inf}, bounds), []int{0, 1, 2}; !slices.Equal(got, want) {
		t.Errorf("straddling: foldMap = %v, want %v", got, want)
	}
}

// TestProcessMetrics: the Prometheus endpoint carries the process
// collector's metrics; push readers get the semantic-convention ones.
func TestProcessMetrics(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the process collector reads /proc")
	}
	tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFOff),
		WithSpanExporter(tracetest.NewNoopExporter()), WithLogExporter(&memLogExporter{}), WithPrometheus("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	mc, _ := tr.Status().Component("metrics")
	body := scrape(t, strings.TrimPrefix(mc.Detail, "prometheus "))
	for _, want := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"} {
		if !strings.Contains(body, "\n"+want+" ") {
			t.Errorf("scrape lacks %s", want)
		}
	}

	sms, err := newProcessProducer().Produce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Aggregation{}
	for _, sm := range sms {
		for _, m := range sm.Metrics {
			got[m.Name] = m.Data
		}
	}
	if s, ok := got[semconv.MetricProcessCPUTime].(metricdata.Sum[float64]); !ok || !s.IsMonotonic || s.DataPoints[0].Value <= 0 {
		t.Errorf("process.cpu.time %+v", got[semconv.MetricProcessCPUTime])
	}
	for _, name := range []string{semconv.MetricProcessMemoryUsage, semconv.MetricProcessMemoryVirtual, semconv.MetricProcessFileDescriptorCount} {
		if s, ok := got[name].(metricdata.Sum[int64]); !ok || s.IsMonotonic || s.DataPoints[0].Value <= 0 {
			t.Errorf("%s %+v", name, got[name])
		}
	}
	if g, ok := got[semconv.MetricProcessUptime].(metricdata.Gauge[float64]); !ok || g.DataPoints[0].Value <= 0 {
		t.Errorf("process.uptime %+v", got[semconv.MetricProcessUptime])
	}
}
