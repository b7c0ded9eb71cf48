package kernel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/spanhook"
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
