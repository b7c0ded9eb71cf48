package kernel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// BenchmarkSpanHook is the per-span cost of publishing and withdrawing the
// span context (SpanStart + SpanEnd, including the histogram records).
func BenchmarkSpanHook(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	p := startProbe(b)
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{1, 2, 3},
		SpanID:     trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled,
	})
	dst := make([]attribute.KeyValue, 0, 16)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		p.SpanStart(sc, now)
		dst = p.SpanEnd(sc, now, now, dst[:0])
	}
	if len(dst) == 0 {
		b.Fatal("no kernel attributes")
	}
}

func TestSpanHookAllocs(t *testing.T) {
	p := startProbe(t)
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	dst := make([]attribute.KeyValue, 0, 16)
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		p.SpanStart(sc, now)
		dst = p.SpanEnd(sc, now, now, dst[:0])
	})
	if allocs != 0 || len(dst) == 0 {
		t.Errorf("SpanStart+SpanEnd: %v allocs, %d attributes", allocs, len(dst))
	}
}

// BenchmarkHTTPRequest: a request to a plain net/http server on loopback
// whose handler starts and ends a span, with the kernel probe off (no hook)
// and on, in the same run.
func BenchmarkHTTPRequest(b *testing.B) {
	for _, mode := range []string{"ebpf=off", "ebpf=on"} {
		b.Run(mode, func(b *testing.B) {
			var hook spanhook.Hook
			if mode == "ebpf=on" {
				hook = startProbe(b)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(
				hookProcessor{hook, sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())}))
			defer tp.Shutdown(context.Background())
			tr := tp.Tracer("bench")
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, span := tr.Start(r.Context(), "GET /")
				io.WriteString(w, "ok")
				span.End()
			}))
			defer srv.Close()
			c := srv.Client()
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// BenchmarkHTTPRequestRatio alternates requests to two identical servers, one
// with the kernel probe's hook and one without, in the same loop, so that
// load drift on a shared machine hits both alike. It reports the mean time
// per request of each and their ratio (on/off). The probe's programs are
// attached for the whole process, so the "off" server's system calls pay
// the kernel-side filter too; the ratio isolates the per-span work.
func BenchmarkHTTPRequestRatio(b *testing.B) {
	p := startProbe(b)
	newServer := func(hook spanhook.Hook) (*httptest.Server, func()) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(
			hookProcessor{hook, sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())}))
		tr := tp.Tracer("bench")
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, span := tr.Start(r.Context(), "GET /")
			io.WriteString(w, "ok")
			span.End()
		}))
		return srv, func() { srv.Close(); tp.Shutdown(context.Background()) }
	}
	off, closeOff := newServer(nil)
	defer closeOff()
	on, closeOn := newServer(p)
	defer closeOn()
	do := func(srv *httptest.Server) time.Duration {
		t0 := time.Now()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0)
	}
	var tOff, tOn time.Duration
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		tOff += do(off)
		tOn += do(on)
		n++
	}
	b.ReportMetric(float64(tOff.Nanoseconds())/float64(n), "ns-off/req")
	b.ReportMetric(float64(tOn.Nanoseconds())/float64(n), "ns-on/req")
	b.ReportMetric(float64(tOn)/float64(tOff), "on/off")
}

// swapHook forwards to the probe currently set (or nothing).
type swapHook struct{ p atomic.Pointer[kernel.Probe] }

func (h *swapHook) SpanStart(sc trace.SpanContext, t time.Time) {
	if p := h.p.Load(); p != nil {
		p.SpanStart(sc, t)
	}
}

func (h *swapHook) SpanEnd(sc trace.SpanContext, s, e time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	if p := h.p.Load(); p != nil {
		return p.SpanEnd(sc, s, e, dst)
	}
	return dst
}

// BenchmarkHTTPRequestOnOff is the end-to-end comparison: phases of 500
// requests with the probe started (programs attached, hook active) alternate
// with phases with the probe shut down (nothing in the kernel, hook idle),
// in the same run. It reports the mean time per request of each and the
// ratio on/off. In "busy" a background span stays open while the probe is
// on, so every kernel event takes the full path, as in a server that always
// has requests in flight; in "idle" the programs skip work between requests.
func BenchmarkHTTPRequestOnOff(b *testing.B) {
	b.Run("control", func(b *testing.B) { benchmarkOnOff(b, true, true) }) // "on" phases start nothing: the noise floor
	b.Run("idle", func(b *testing.B) { benchmarkOnOff(b, false, false) })
	b.Run("busy", func(b *testing.B) { benchmarkOnOff(b, false, true) })
	b.Run("busy-without-syscalls", func(b *testing.B) { benchmarkOnOff(b, false, true, kernel.WithoutSyscallTracing()) })
}

func benchmarkOnOff(b *testing.B, control, busy bool, opts ...kernel.Option) {
	testutil.RequirePrivilege(b, bpf.Check().Err)
	hook := &swapHook{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(
		hookProcessor{hook, sdktrace.NewSimpleSpanProcessor(tracetest.NewNoopExporter())}))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("bench")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := tr.Start(r.Context(), "GET /")
		io.WriteString(w, "ok")
		span.End()
	}))
	defer srv.Close()
	c := srv.Client()
	const phase = 500
	var t [2]time.Duration
	var n [2]int
	on := 0
	var background trace.Span
	stop := func() {
		if background != nil {
			background.End()
			background = nil
		}
		if p := hook.p.Swap(nil); p != nil {
			p.Shutdown(context.Background())
		}
	}
	defer stop()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%phase == 0 {
			b.StopTimer()
			if on == 1 {
				stop()
			} else if !control {
				p, err := kernel.New(opts...)
				if err == nil {
					err = p.Start(context.Background())
				}
				if err != nil {
					b.Fatal(err)
				}
				hook.p.Store(p)
				if busy {
					_, background = tr.Start(context.Background(), "background")
				}
			}
			on = 1 - on
			runtime.GC() // loading parses kernel BTF: collect that garbage outside the timed phase
			b.StartTimer()
		}
		t0 := time.Now()
		resp, err := c.Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t[on] += time.Since(t0)
		n[on]++
	}
	if n[0] > 0 && n[1] > 0 {
		off, onNs := float64(t[0])/float64(n[0]), float64(t[1])/float64(n[1])
		b.ReportMetric(off, "ns-off/req")
		b.ReportMetric(onNs, "ns-on/req")
		b.ReportMetric(onNs/off, "on/off")
	}
}

// entrySpan is a server span as a hook sees it: SpanEndOf records the
// kernel-time histograms for it.
type entrySpan struct{}

func (entrySpan) SpanKind() trace.SpanKind         { return trace.SpanKindServer }
func (entrySpan) Parent() trace.SpanContext        { return trace.SpanContext{} }
func (entrySpan) Name() string                     { return "GET /orders/{id}" }
func (entrySpan) Attributes() []attribute.KeyValue { return nil }

var _ spanhook.Span = entrySpan{}

// entrySetup starts the probe with an SDK meter (shut down at cleanup)
// and returns it with a sampled span context, a time and a buffer.
func entrySetup(tb testing.TB) (*kernel.Probe, trace.SpanContext, time.Time, []attribute.KeyValue) {
	tb.Helper()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	tb.Cleanup(func() { mp.Shutdown(context.Background()) })
	p := startProbe(tb, kernel.WithMeterProvider(mp))
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	return p, sc, time.Now(), make([]attribute.KeyValue, 0, 16)
}

// BenchmarkSpanHookEntry is BenchmarkSpanHook for an entry span, whose end
// also records the three kernel-time histograms into an SDK meter.
func BenchmarkSpanHookEntry(b *testing.B) {
	p, sc, now, dst := entrySetup(b)
	b.ReportAllocs()
	for b.Loop() {
		p.SpanStart(sc, now)
		dst = p.SpanEndOf(entrySpan{}, sc, now, now, dst[:0])
	}
}

// TestSpanHookEntryAllocs: ending an entry span, histograms included,
// allocates nothing once its span name has been seen.
func TestSpanHookEntryAllocs(t *testing.T) {
	p, sc, now, dst := entrySetup(t)
	p.SpanStart(sc, now)
	dst = p.SpanEndOf(entrySpan{}, sc, now, now, dst[:0]) // the name's series
	allocs := testing.AllocsPerRun(1000, func() {
		p.SpanStart(sc, now)
		dst = p.SpanEndOf(entrySpan{}, sc, now, now, dst[:0])
	})
	if allocs != 0 || len(dst) == 0 {
		t.Errorf("SpanStart+SpanEndOf of an entry span: %v allocs, %d attributes", allocs, len(dst))
	}
}
