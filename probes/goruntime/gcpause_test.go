package goruntime

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
)

// hookProcessor is a minimal SpanProcessor that drives a spanhook.Hook the
// way the tracer's pipeline does and keeps the attributes per span name.
type hookProcessor struct {
	hook spanhook.Hook
	mu   sync.Mutex
	got  map[string][]attribute.KeyValue
}

func (h *hookProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	h.hook.SpanStart(s.SpanContext(), s.StartTime())
}

func (h *hookProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	kv := h.hook.SpanEnd(s.SpanContext(), s.StartTime(), s.EndTime(), nil)
	h.mu.Lock()
	h.got[s.Name()] = kv
	h.mu.Unlock()
}

func (h *hookProcessor) Shutdown(context.Context) error   { return nil }
func (h *hookProcessor) ForceFlush(context.Context) error { return nil }

func (h *hookProcessor) attrs(name string) map[string]attribute.Value {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]attribute.Value{}
	for _, kv := range h.got[name] {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func startedProbe(t testing.TB, opts ...Option) *Probe {
	t.Helper()
	opts = append([]Option{WithHotspots(0, 0), WithBlocking(0, 0)}, opts...)
	p, err := New(opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return p
}

func TestSpanAroundGCCarriesPause(t *testing.T) {
	p := startedProbe(t)
	hp := &hookProcessor{hook: p, got: map[string][]attribute.KeyValue{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(hp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tr := tp.Tracer("test")

	_, gcSpan := tr.Start(context.Background(), "with-gc")
	runtime.GC()
	gcSpan.End()

	// A span with no GC in it: quiet, short, after the GC.
	time.Sleep(time.Millisecond)
	_, quiet := tr.Start(context.Background(), "no-gc")
	quiet.End()

	got := hp.attrs("with-gc")
	d, ok := got[semconv.AttrGCPauseDuration]
	if !ok {
		t.Fatalf("span around runtime.GC() has no %s: %v", semconv.AttrGCPauseDuration, got)
	}
	if d.Type() != attribute.FLOAT64 || d.AsFloat64() <= 0 {
		t.Errorf("%s = %v, want a positive float64", semconv.AttrGCPauseDuration, d.Emit())
	}
	if c := got[semconv.AttrGCPauseCount]; c.Type() != attribute.INT64 || c.AsInt64() < 1 {
		t.Errorf("%s = %v, want >= 1", semconv.AttrGCPauseCount, c.Emit())
	}
	if q := hp.attrs("no-gc"); len(q) != 0 {
		t.Errorf("span without GC carries %v", q)
	}
}

func TestSpanEndAttributesClippedToSpan(t *testing.T) {
	p := startedProbe(t)
	var before debug.GCStats
	debug.ReadGCStats(&before)
	start := time.Now()
	runtime.GC()
	runtime.GC()
	end := time.Now()
	kv := p.SpanEnd(trace.SpanContext{}, start, end, nil)
	var n int64
	var d float64
	for _, a := range kv {
		switch a.Key {
		case semconv.AttrGCPauseCount:
			n = a.Value.AsInt64()
		case semconv.AttrGCPauseDuration:
			d = a.Value.AsFloat64()
		}
	}
	if n < 2 {
		t.Errorf("pause count = %d for two forced GCs, want >= 2", n)
	}
	if d <= 0 || d > end.Sub(start).Seconds() {
		t.Errorf("pause duration = %v s, want in (0, %v]", d, end.Sub(start).Seconds())
	}
	// A span between the previous GC and the forced ones sees none.
	if quietFrom := before.LastGC.Add(time.Microsecond); quietFrom.Before(start) {
		if kv := p.SpanEnd(trace.SpanContext{}, quietFrom, start, nil); len(kv) != 0 {
			t.Errorf("span between GCs carries %v", kv)
		}
	}
}

func TestSpanEndNoopWhenNotRunning(t *testing.T) {
	p, err := New(WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runtime.GC()
	if kv := p.SpanEnd(trace.SpanContext{}, start, time.Now(), nil); len(kv) != 0 {
		t.Errorf("not started: got %v", kv)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestSpanEndDoesNotAllocate(t *testing.T) {
	p := startedProbe(t)
	runtime.GC()
	dst := make([]attribute.KeyValue, 0, 4)
	start := time.Now().Add(-time.Hour) // overlaps the GC above: the append path
	allocs := testing.AllocsPerRun(1000, func() {
		p.SpanStart(trace.SpanContext{}, start)
		dst = p.SpanEnd(trace.SpanContext{}, start, time.Now(), dst[:0])
	})
	if allocs != 0 {
		t.Errorf("SpanStart+SpanEnd allocate %v per span, want 0", allocs)
	}
	if len(dst) != 2 {
		t.Errorf("expected the pause attributes, got %v", dst)
	}
}

func BenchmarkSpanHook(b *testing.B) {
	p := startedProbe(b)
	runtime.GC()
	dst := make([]attribute.KeyValue, 0, 4)
	b.Run("no-pause", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			now := time.Now()
			p.SpanStart(trace.SpanContext{}, now)
			dst = p.SpanEnd(trace.SpanContext{}, now, now, dst[:0])
		}
	})
	b.Run("no-pause-fixed-times", func(b *testing.B) {
		// The hook alone: span times come with the span, so no clock read.
		start := time.Now()
		end := start.Add(time.Millisecond)
		b.ReportAllocs()
		for b.Loop() {
			p.SpanStart(trace.SpanContext{}, start)
			dst = p.SpanEnd(trace.SpanContext{}, start, end, dst[:0])
		}
	})
	b.Run("with-pause", func(b *testing.B) {
		start := time.Now().Add(-time.Hour)
		b.ReportAllocs()
		for b.Loop() {
			dst = p.SpanEnd(trace.SpanContext{}, start, time.Now(), dst[:0])
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			dst := make([]attribute.KeyValue, 0, 4)
			for pb.Next() {
				now := time.Now()
				dst = p.SpanEnd(trace.SpanContext{}, now, now, dst[:0])
			}
		})
	})
}

// attrProcessor calls the hook like the tracer's pipeline would, without
// keeping anything (noop when hook is nil). Not for concurrent use: it
// reuses one attribute buffer, as a pipeline would reuse pooled ones.
type attrProcessor struct {
	hook spanhook.Hook
	buf  []attribute.KeyValue
}

func (a *attrProcessor) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if a.hook != nil {
		a.hook.SpanStart(s.SpanContext(), s.StartTime())
	}
}

func (a *attrProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if a.hook != nil {
		a.buf = a.hook.SpanEnd(s.SpanContext(), s.StartTime(), s.EndTime(), a.buf[:0])
	}
}

func (*attrProcessor) Shutdown(context.Context) error   { return nil }
func (*attrProcessor) ForceFlush(context.Context) error { return nil }

// BenchmarkSDKSpan is an OTel SDK span start+end with a processor that
// does nothing and with one that calls the GC-pause hook, interleaved in
// blocks of 256 so that both see the same machine load; "ratio" is
// with/without. Each iteration is one block of each.
func BenchmarkSDKSpan(b *testing.B) {
	const block = 256
	p := startedProbe(b)
	tracer := func(h spanhook.Hook) (trace.Tracer, func()) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(&attrProcessor{hook: h, buf: make([]attribute.KeyValue, 0, 4)}))
		return tp.Tracer("bench"), func() { _ = tp.Shutdown(context.Background()) }
	}
	plain, stop1 := tracer(nil)
	defer stop1()
	hooked, stop2 := tracer(p)
	defer stop2()
	ctx := context.Background()
	var tPlain, tHooked time.Duration
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		for range block {
			_, s := plain.Start(ctx, "op")
			s.End()
		}
		t1 := time.Now()
		for range block {
			_, s := hooked.Start(ctx, "op")
			s.End()
		}
		t2 := time.Now()
		tPlain += t1.Sub(t0)
		tHooked += t2.Sub(t1)
	}
	n := float64(b.N * block)
	b.ReportMetric(float64(tPlain.Nanoseconds())/n, "plain-ns/span")
	b.ReportMetric(float64(tHooked.Nanoseconds())/n, "hooked-ns/span")
	b.ReportMetric(float64(tHooked)/float64(tPlain), "ratio")
}

// TestSpanEndConcurrentWithGC ends spans on several goroutines while GCs
// run and the collector refreshes the cache (for the race detector), and
// checks that spans covering the whole test saw the forced GCs.
func TestSpanEndConcurrentWithGC(t *testing.T) {
	p := startedProbe(t, WithSampleInterval(10*time.Millisecond))
	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dst := make([]attribute.KeyValue, 0, 2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := time.Now()
				dst = p.SpanEnd(trace.SpanContext{}, s, time.Now(), dst[:0])
			}
		}()
	}
	for range 5 {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	var n int64
	for _, kv := range p.SpanEnd(trace.SpanContext{}, start, time.Now(), nil) {
		if kv.Key == semconv.AttrGCPauseCount {
			n = kv.Value.AsInt64()
		}
	}
	if n < 5 {
		t.Errorf("span over 5 forced GCs counted %d pauses", n)
	}
}

func TestWithoutGCPauseAttribution(t *testing.T) {
	p := startedProbe(t, WithoutGCPauseAttribution())
	start := time.Now()
	runtime.GC()
	if kv := p.SpanEnd(trace.SpanContext{}, start, time.Now(), nil); len(kv) != 0 {
		t.Errorf("attribution off: got %v", kv)
	}
}

// TestPauseRingWraps forces more GC cycles than the runtime keeps and
// checks that a span over the last few counts exactly those.
func TestPauseRingWraps(t *testing.T) {
	p := startedProbe(t)
	for range pauseRingSize + 20 {
		runtime.GC()
	}
	start := time.Now()
	for range 3 {
		runtime.GC()
	}
	var n int64
	for _, kv := range p.SpanEnd(trace.SpanContext{}, start, time.Now(), nil) {
		if kv.Key == semconv.AttrGCPauseCount {
			n = kv.Value.AsInt64()
		}
	}
	if n < 3 || n > 5 { // an automatic cycle may sneak in, not dozens
		t.Errorf("span over 3 forced GCs after the ring wrapped counted %d", n)
	}
	if c, _ := p.pauses.overlap(0, time.Now().UnixNano()); c != pauseRingSize {
		t.Errorf("all-time span counted %d pauses, want the ring size %d", c, pauseRingSize)
	}
}

func TestSpanEndInvalidInterval(t *testing.T) {
	p := startedProbe(t)
	runtime.GC()
	now := time.Now()
	for _, tc := range []struct{ start, end time.Time }{
		{time.Time{}, now},         // zero start
		{now, now.Add(-time.Hour)}, // end before start
		{time.Time{}, time.Time{}}, // both zero
	} {
		if kv := p.SpanEnd(trace.SpanContext{}, tc.start, tc.end, nil); len(kv) != 0 {
			t.Errorf("SpanEnd(%v, %v) = %v, want nothing", tc.start, tc.end, kv)
		}
	}
}
