//go:build linux

// Package probetest runs the acceptance scenarios of the socket probes
// (probes/nethttp, grpc, sql, tcp) through the real front door: a verdict
// tracer with its built-in probes, real servers on 127.0.0.1, spans read
// back from an in-memory exporter and metrics from a manual reader.
//
// Every scenario runs twice: as root with eBPF required (the kernel
// figures must be there), and in the test binary re-executed as uid 65534
// (RunUnprivileged), where eBPF cannot load and the same scenario must pass
// with the user-space fields only and a verdict.unmeasured attribute that
// says why. A scenario asks Kernel() which of the two it is.
package probetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/tracer"
)

// unprivEnv is set in the re-executed, unprivileged test binary.
const unprivEnv = "VERDICT_PROBETEST_UNPRIVILEGED"

// Kernel reports whether this run expects the kernel side: false in the
// unprivileged child of RunUnprivileged.
func Kernel() bool { return os.Getenv(unprivEnv) == "" }

// Env is a running tracer with its exporters.
type Env struct {
	Tracer *tracer.Tracer
	Spans  *tracetest.InMemoryExporter
	Reader *sdkmetric.ManualReader
}

// Start starts a tracer with the built-in probes: eBPF required as root,
// automatic (and failing) in the unprivileged child. Outside the child a
// test without root skips, or fails under CI=true. The tracer shuts down
// when the test ends.
func Start(tb testing.TB, opts ...tracer.Option) *Env {
	tb.Helper()
	mode := tracer.EBPFAuto
	if Kernel() {
		testutil.RequireRoot(tb, "load eBPF")
		mode = tracer.EBPFRequired
	}
	return StartMode(tb, mode, opts...)
}

// StartMode is Start with the eBPF mode given (EBPFOff: the degraded path
// as root).
func StartMode(tb testing.TB, mode tracer.EBPFMode, opts ...tracer.Option) *Env {
	tb.Helper()
	e := &Env{Spans: tracetest.NewInMemoryExporter(), Reader: sdkmetric.NewManualReader()}
	base := []tracer.Option{tracer.WithConsoleFormat(tracer.ConsoleNone), tracer.WithoutGlobals(),
		tracer.WithServiceName("probetest"), tracer.WithSpanExporter(e.Spans),
		tracer.WithMetricReader(e.Reader), tracer.WithoutRuntimeProbe(), tracer.WithEBPF(mode)}
	tr, err := tracer.Start(context.Background(), append(base, opts...)...)
	if err != nil {
		tb.Fatalf("tracer.Start(%v): %v", mode, err)
	}
	e.Tracer = tr
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

// Ended returns the spans that ended so far.
func (e *Env) Ended(tb testing.TB) []sdktrace.ReadOnlySpan {
	tb.Helper()
	if err := e.Tracer.ForceFlush(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return e.Spans.GetSpans().Snapshots()
}

// SpansOf returns the ended spans of the given kind.
func (e *Env) SpansOf(tb testing.TB, kind trace.SpanKind) []sdktrace.ReadOnlySpan {
	tb.Helper()
	var out []sdktrace.ReadOnlySpan
	for _, s := range e.Ended(tb) {
		if s.SpanKind() == kind {
			out = append(out, s)
		}
	}
	return out
}

// WaitSpans waits up to 5 s for n spans of kind to end (a client span ends
// when its body is closed, a server span after the handler).
func (e *Env) WaitSpans(tb testing.TB, kind trace.SpanKind, n int) []sdktrace.ReadOnlySpan {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s := e.SpansOf(tb, kind)
		if len(s) >= n || time.Now().After(deadline) {
			if len(s) < n {
				tb.Fatalf("%d %v spans ended, want %d", len(s), kind, n)
			}
			return s
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Attrs are a span's attributes by key.
type Attrs map[string]attribute.Value

// AttrsOf returns s's attributes by key. A key present twice fails the
// test: verdict.unmeasured in particular must be one attribute.
func AttrsOf(tb testing.TB, s sdktrace.ReadOnlySpan) Attrs {
	tb.Helper()
	a := Attrs{}
	for _, kv := range s.Attributes() {
		if _, dup := a[string(kv.Key)]; dup {
			tb.Errorf("span %q has %s twice", s.Name(), kv.Key)
		}
		a[string(kv.Key)] = kv.Value
	}
	return a
}

// Float returns the float attribute key, failing the test when absent.
func (a Attrs) Float(tb testing.TB, key string) float64 {
	tb.Helper()
	v, ok := a[key]
	if !ok {
		tb.Fatalf("no %s in %v", key, a)
	}
	return v.AsFloat64()
}

// Int returns the integer attribute key, failing the test when absent.
func (a Attrs) Int(tb testing.TB, key string) int64 {
	tb.Helper()
	v, ok := a[key]
	if !ok {
		tb.Fatalf("no %s in %v", key, a)
	}
	return v.AsInt64()
}

// Has reports whether key is present.
func (a Attrs) Has(key string) bool {
	_, ok := a[key]
	return ok
}

// Unmeasured returns the part of the span's one verdict.unmeasured
// attribute that begins with group (for instance semconv.UnmeasuredSocketTCP
// + ":"), or "" when no part does. Other probes' parts (the kernel's, the
// gc probe's) are joined into the same attribute, separated by
// semconv.UnmeasuredSeparator, in the order the tracer registered them.
func (a Attrs) Unmeasured(group string) string {
	v, ok := a[semconv.AttrUnmeasured]
	if !ok {
		return ""
	}
	for part := range strings.SplitSeq(v.AsString(), semconv.UnmeasuredSeparator) {
		if strings.HasPrefix(part, group) {
			return part
		}
	}
	return ""
}

// Duration is a span's duration in seconds.
func Duration(s sdktrace.ReadOnlySpan) float64 { return s.EndTime().Sub(s.StartTime()).Seconds() }

// Collect reads the metrics.
func (e *Env) Collect(tb testing.TB) metricdata.ResourceMetrics {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.Reader.Collect(context.Background(), &rm); err != nil {
		tb.Fatal(err)
	}
	return rm
}

// Sum returns the data points of the sum metric name, as attribute set →
// value, across scopes.
func Sum(rm metricdata.ResourceMetrics, name string) map[attribute.Distinct]metricdata.DataPoint[int64] {
	out := map[attribute.Distinct]metricdata.DataPoint[int64]{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if s, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, dp := range s.DataPoints {
					out[dp.Attributes.Equivalent()] = dp
				}
			}
		}
	}
	return out
}

// RunUnprivileged re-executes the test binary as uid 65534 running the
// tests matching pattern in their unprivileged form (Kernel reports
// false), and fails when any of them fails or skips, or none ran.
func RunUnprivileged(t *testing.T, pattern string) {
	t.Helper()
	testutil.RequireRoot(t, "run the test binary as uid 65534")
	bin := testutil.ExecutableCopy(t)
	cmd := exec.Command(bin, "-test.run="+pattern, "-test.v", "-test.count=1")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), unprivEnv+"=1", "VERDICT_EBPF=", "HOME=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	text := string(out)
	if err != nil || strings.Contains(text, "--- SKIP") || !strings.Contains(text, "--- PASS") {
		t.Fatalf("unprivileged run of %s: %v\n%s", pattern, err, text)
	}
	var passed []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--- PASS") {
			passed = append(passed, strings.TrimSpace(l))
		}
	}
	t.Logf("as uid 65534: %s", strings.Join(passed, "; "))
}

// HistCount is the number of measurements of the histogram name, across
// scopes and attribute sets.
func HistCount(rm metricdata.ResourceMetrics, name string) uint64 {
	var n uint64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			if h, ok := m.Data.(metricdata.Histogram[float64]); ok {
				for _, dp := range h.DataPoints {
					n += dp.Count
				}
			}
		}
	}
	return n
}

// OnOff is the end-to-end benchmark of the socket probes' cost: phases of
// phase requests alternate between a tracer with eBPF required (every
// probe on) and one with eBPF off, in the same run; each phase starts its
// own tracer (outside the timer) and runs the workload that setup builds
// on it. It reports the mean time and allocations per request of each, and
// the ratios on/off, and the process's CPU time (user + system, where the
// kernel programs' time is charged) per request of each, the steadiest
// figure when other processes compete for the CPUs: wall time then mostly
// measures the wait for a CPU. Run it as root; without eBPF it skips
// (fails under CI=true).
func OnOff(b *testing.B, phase int, setup func(tb testing.TB, e *Env) (do func(), stop func())) {
	testutil.RequireRoot(b, "load eBPF")
	var (
		t      [2]time.Duration
		cpu    [2]time.Duration
		allocs [2]uint64
		n      [2]int
		ms     runtime.MemStats
	)
	cur := -1
	var env *Env
	var do, stop func()
	end := func() {
		if cur < 0 {
			return
		}
		cpu[cur] += processCPU()
		runtime.ReadMemStats(&ms)
		allocs[cur] += ms.Mallocs
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := env.Tracer.Shutdown(ctx); err != nil {
			b.Errorf("Shutdown: %v", err)
		}
	}
	begin := func(on int) {
		mode := tracer.EBPFOff
		if on == 1 {
			mode = tracer.EBPFRequired
		}
		env = startRaw(b, mode)
		do, stop = setup(b, env)
		do() // warm: connections open
		runtime.GC()
		runtime.ReadMemStats(&ms)
		allocs[on] -= ms.Mallocs
		cpu[on] -= processCPU()
		cur = on
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%phase == 0 {
			b.StopTimer()
			end()
			begin((i / phase) % 2)
			b.StartTimer()
		}
		t0 := time.Now()
		do()
		t[cur] += time.Since(t0)
		n[cur]++
	}
	b.StopTimer()
	end()
	if n[0] == 0 || n[1] == 0 {
		return // too few iterations for both phases
	}
	off, on := float64(t[0].Nanoseconds())/float64(n[0]), float64(t[1].Nanoseconds())/float64(n[1])
	aoff, aon := float64(allocs[0])/float64(n[0]), float64(allocs[1])/float64(n[1])
	b.ReportMetric(off, "ns-off/req")
	b.ReportMetric(on, "ns-on/req")
	b.ReportMetric(on/off, "on/off")
	b.ReportMetric(aoff, "allocs-off/req")
	b.ReportMetric(aon, "allocs-on/req")
	coff, con := float64(cpu[0].Nanoseconds())/float64(n[0]), float64(cpu[1].Nanoseconds())/float64(n[1])
	b.ReportMetric(coff, "cpu-ns-off/req")
	b.ReportMetric(con, "cpu-ns-on/req")
	b.ReportMetric(con/coff, "cpu-on/off")
}

// AllocsOnOff runs the OnOff workload in a test, 1000 requests with eBPF
// off and 1000 with every probe on, and fails it when a request with the
// probes on allocates more than one with eBPF off: the kernel-side
// attributes and metrics must cost no allocation. Counts are the whole
// process's, so half an allocation per request of slack covers background
// work. It skips under the race detector (allocation counts differ
// there); CI runs it without.
func AllocsOnOff(t *testing.T, setup func(tb testing.TB, e *Env) (do func(), stop func())) {
	t.Helper()
	if testutil.Race {
		t.Skip("allocation counts differ under the race detector")
	}
	testutil.RequireRoot(t, "load eBPF")
	const n = 1000
	var per [2]float64
	for on, mode := range []tracer.EBPFMode{tracer.EBPFOff, tracer.EBPFRequired} {
		env := startRaw(t, mode)
		do, stop := setup(t, env)
		for range 100 {
			do() // warm: connections, caches, span names
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.Mallocs
		for range n {
			do()
		}
		runtime.ReadMemStats(&ms)
		per[on] = float64(ms.Mallocs-before) / n
		stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := env.Tracer.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
	}
	t.Logf("%d requests each: %.2f allocations per request with eBPF off, %.2f with every probe on", n, per[0], per[1])
	if per[1] > per[0]+0.5 {
		t.Errorf("every probe on allocates %.2f per request, eBPF off %.2f", per[1], per[0])
	}
}

// processCPU is the CPU time the process used so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startRaw starts a tracer like StartMode, shut down by the caller.
func startRaw(tb testing.TB, mode tracer.EBPFMode) *Env {
	tb.Helper()
	e := &Env{Spans: tracetest.NewInMemoryExporter(), Reader: sdkmetric.NewManualReader()}
	tr, err := tracer.Start(context.Background(), tracer.WithConsoleFormat(tracer.ConsoleNone), tracer.WithoutGlobals(),
		tracer.WithServiceName("probetest"), tracer.WithSpanExporter(tracetest.NewNoopExporter()),
		tracer.WithMetricReader(e.Reader), tracer.WithoutRuntimeProbe(), tracer.WithEBPF(mode))
	if err != nil {
		tb.Fatalf("tracer.Start(%v): %v", mode, err)
	}
	e.Tracer = tr
	return e
}
