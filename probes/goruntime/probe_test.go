package goruntime

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
)

func TestLifecycle(t *testing.T) {
	p, err := New(WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Name(); got != "runtime" {
		t.Errorf("Name = %q", got)
	}
	if st := p.Status(); st.State != probes.StateOff || st.Reason == "" {
		t.Errorf("before Start: %v", st)
	}
	if s := p.Snapshot(); !s.Time.IsZero() {
		t.Errorf("snapshot before Start has time %v", s.Time)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Status(); st.State != probes.StateOn {
		t.Errorf("after Start: %v", st)
	}
	if err := p.Start(context.Background()); !errors.Is(err, probes.ErrStarted) {
		t.Errorf("second Start = %v, want ErrStarted", err)
	}
	if s := p.Snapshot(); s.Time.IsZero() || s.Goroutines == 0 || s.HeapGoal == 0 || s.GOMAXPROCS == 0 {
		t.Errorf("snapshot after Start misses values: %+v", s)
	}
	for range 2 {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	}
	if st := p.Status(); st.State != probes.StateOff {
		t.Errorf("after Shutdown: %v", st)
	}
	if err := p.Start(context.Background()); !errors.Is(err, probes.ErrShutDown) {
		t.Errorf("Start after Shutdown = %v, want ErrShutdown", err)
	}
}

func TestStartHonoursContext(t *testing.T) {
	p, err := New(WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Start(cancelled) = %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestCollectDoesNotAllocate(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p := startedProbe(t, WithMeterProvider(mp))
	// Warm up: first GC refresh, histogram bucket state.
	runtime.GC()
	p.collect(time.Now())
	allocs := testing.AllocsPerRun(1000, func() {
		p.collect(time.Now())
	})
	if allocs != 0 {
		t.Errorf("collect allocates %v per cycle, want 0", allocs)
	}
}

// stwOtherPauses counts stop-the-world pauses that were not for the GC:
// runtime.ReadMemStats is one of them, and one per call.
func stwOtherPauses() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// TestNeverStopsTheWorldForMetrics proves behaviourally that the metric
// collection, the span hook, the snapshot and the hotspot analysis never
// stop the world (runtime.ReadMemStats would, once per call).
func TestNeverStopsTheWorldForMetrics(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p := startedProbe(t, WithMeterProvider(mp))

	// Sanity check of the instrument: ReadMemStats does show up in it.
	before := stwOtherPauses()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if stwOtherPauses() == before {
		t.Fatal("/sched/pauses/total/other does not see ReadMemStats; the test cannot prove anything")
	}

	hs := newHotspotter(5)
	before = stwOtherPauses()
	start := time.Now()
	for range 100 {
		p.collect(time.Now())
		_ = p.Snapshot()
		_ = p.SpanEnd(zeroSC, start, time.Now(), nil)
	}
	hs.round(time.Now())
	hs.round(time.Now())
	if got := stwOtherPauses() - before; got != 0 {
		t.Errorf("collection stopped the world %d times (ReadMemStats or similar)", got)
	}
}

// TestSourceNeverCallsReadMemStats scans the package source: no file but
// tests may refer to runtime.ReadMemStats.
func TestSourceNeverCallsReadMemStats(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("glob: %v %v", files, err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		af, err := parser.ParseFile(fset, f, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(af, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "ReadMemStats" {
				t.Errorf("%s: refers to ReadMemStats", fset.Position(sel.Pos()))
			}
			return true
		})
	}
	if checked < 5 {
		t.Errorf("checked only %d files", checked)
	}
}

var zeroSC = trace.SpanContext{}

var sink [][]byte

// allocPressure allocates about total bytes in 32 KiB objects while keeping
// at most 8 MiB of them live, which makes the GC run many cycles.
//
//go:noinline
func allocPressure(total int) {
	for range total / (32 << 10) {
		sink = append(sink, make([]byte, 32<<10))
		if len(sink) >= 256 {
			sink = sink[:0]
		}
	}
	sink = nil
}

func TestAllocationPressureVisible(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p := manualProbe(t, WithMeterProvider(mp))
	s0 := p.Snapshot()
	time.Sleep(2 * time.Millisecond) // a rate window closes: the base is sA
	p.collect(time.Now())
	sA := p.Snapshot()
	allocPressure(128 << 20)
	time.Sleep(2 * time.Millisecond) // a rate window closes
	p.collect(time.Now())
	s := p.Snapshot()
	if s.GCCycles <= s0.GCCycles {
		t.Errorf("GC cycles %d → %d under allocation pressure", s0.GCCycles, s.GCCycles)
	}
	if s.GCPausesTotal == 0 {
		t.Errorf("no GC pause recorded: %+v", s)
	}
	if s.Allocated-s0.Allocated < 128<<20 {
		t.Errorf("allocated only %d bytes", s.Allocated-s0.Allocated)
	}
	// The rate window is exactly the time between the two collections.
	if s.RateWindow != s.Time.Sub(sA.Time) {
		t.Errorf("rate window %v, want %v", s.RateWindow, s.Time.Sub(sA.Time))
	}
	want := float64(s.Allocated-sA.Allocated) / s.RateWindow.Seconds()
	if s.AllocRate <= 0 || s.AllocRate < 0.99*want || s.AllocRate > 1.01*want {
		t.Errorf("allocation rate %v B/s, want %v", s.AllocRate, want)
	}
	if s.GCCPUFraction < 0 || s.GCCPUFraction > 1 {
		t.Errorf("GC CPU fraction %v out of range", s.GCCPUFraction)
	}
}

// manualProbe is a started probe whose background loop stays out of the
// way (one sample per hour) and whose rate window closes after 1 ms, so
// that the test decides when rate windows close.
func manualProbe(t *testing.T, opts ...Option) *Probe {
	p := startedProbe(t, append(opts, WithSampleInterval(time.Hour))...)
	p.mu.Lock()
	p.sampler.minWindow = time.Millisecond
	p.mu.Unlock()
	return p
}

func TestHeapGrowthRate(t *testing.T) {
	p := manualProbe(t)
	runtime.GC()
	p.collect(time.Now())
	time.Sleep(2 * time.Millisecond)
	p.collect(time.Now()) // rate base after the first GC
	keep := make([][]byte, 0, 1024)
	for range 1024 {
		keep = append(keep, make([]byte, 64<<10)) // 64 MiB live
	}
	runtime.GC()
	time.Sleep(2 * time.Millisecond)
	p.collect(time.Now())
	s := p.Snapshot()
	runtime.KeepAlive(keep)
	if s.HeapGrowthRate <= 0 {
		t.Errorf("heap growth rate %v B/s after retaining 64 MiB (live %d): %+v", s.HeapGrowthRate, s.HeapLive, s)
	}
	if s.HeapLive < 64<<20 {
		t.Errorf("live heap %d < 64 MiB retained", s.HeapLive)
	}
}

func TestMetricsExported(t *testing.T) {
	rd := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	p := manualProbe(t, WithMeterProvider(mp), WithBlocking(time.Hour, 3))
	p.analyzeBlocking(time.Now())
	allocPressure(32 << 20)
	runtime.GC()
	time.Sleep(2 * time.Millisecond) // a rate window closes
	p.collect(time.Now())            // records the pauses
	var rm metricdata.ResourceMetrics
	if err := rd.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			got[m.Name] = m
		}
	}
	want := []string{
		semconv.MetricGoMemoryUsed, semconv.MetricGoMemoryAllocated, semconv.MetricGoMemoryAllocations,
		semconv.MetricGoMemoryGCGoal, semconv.MetricGoGoroutineCount, semconv.MetricGoProcessorLimit,
		semconv.MetricGoConfigGogc, semconv.MetricGCCycles, semconv.MetricHeapLive,
		semconv.MetricHeapGrowthRate, semconv.MetricAllocRate, semconv.MetricGCCPUFraction,
		semconv.MetricMutexWait,
		semconv.MetricBlockedCount, semconv.MetricLeakSuspects,
	}
	for _, name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("metric %s not exported", name)
		}
	}
	// The GC pause histogram is package probes/gc's (one name whatever
	// measured the pauses).
	if _, ok := got[semconv.MetricGCPauseDuration]; ok {
		t.Errorf("%s exported by the runtime probe", semconv.MetricGCPauseDuration)
	}
	if s, ok := got[semconv.MetricGoMemoryUsed].Data.(metricdata.Sum[int64]); !ok || len(s.DataPoints) != 2 {
		t.Errorf("go.memory.used: want stack and other points, got %+v", got[semconv.MetricGoMemoryUsed].Data)
	}
	if g, ok := got[semconv.MetricBlockedCount].Data.(metricdata.Gauge[int64]); !ok || len(g.DataPoints) != int(NumBlockClasses) {
		t.Errorf("%s: want one point per class, got %+v", semconv.MetricBlockedCount, got[semconv.MetricBlockedCount].Data)
	}
	if s, ok := got[semconv.MetricGoGoroutineCount].Data.(metricdata.Sum[int64]); !ok || s.DataPoints[0].Value < 2 {
		t.Errorf("go.goroutine.count: %+v", got[semconv.MetricGoGoroutineCount].Data)
	}
}

func TestMutexProfileFractionRestored(t *testing.T) {
	prev := runtime.SetMutexProfileFraction(-1)
	p, err := New(WithoutMetrics(), WithMutexProfileFraction(7), WithBlockProfileRate(1000))
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != prev {
		t.Fatalf("New changed the mutex fraction to %d", got)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 7 {
		t.Errorf("running: mutex fraction %d, want 7", got)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != prev {
		t.Errorf("after Shutdown: mutex fraction %d, want %d restored", got, prev)
	}
}

func TestDefaultsLeaveProfileRatesAlone(t *testing.T) {
	prev := runtime.SetMutexProfileFraction(-1)
	startedProbe(t)
	if got := runtime.SetMutexProfileFraction(-1); got != prev {
		t.Errorf("default probe changed the mutex fraction %d → %d", prev, got)
	}
}
