// Package httpbench compares verdict's HTTP middleware with otelhttp, side
// by side in one run, against the bare (uninstrumented) baseline.
//
// Both instrumentations get the same SDK TracerProvider (AlwaysSample, a
// no-op exporter behind a synchronous processor), the same SDK
// MeterProvider (manual reader) and the same W3C propagator. Added cost is
// X minus Bare of the same run.
package httpbench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/middleware"
)

type providers struct {
	tp    *sdktrace.TracerProvider
	mp    *sdkmetric.MeterProvider
	props propagation.TextMapPropagator
}

func newProviders(b *testing.B) providers {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		spanProcessor())
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return providers{tp: tp, mp: mp,
		props: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})}
}

// discardWriter is a minimal ResponseWriter reused across iterations.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Flush()                      {}

func app() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	return mux
}

func benchServer(b *testing.B, h http.Handler) {
	req := httptest.NewRequest("GET", "http://example.com/items/42", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("User-Agent", "bench/1.0")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// BenchmarkServer: one request through the handler chain, in process.
func BenchmarkServer(b *testing.B) {
	p := newProviders(b)
	b.Run("Bare", func(b *testing.B) { benchServer(b, app()) })
	b.Run("Verdict", func(b *testing.B) {
		benchServer(b, middleware.NewHandler(app(), middleware.WithTracerProvider(p.tp),
			middleware.WithMeterProvider(p.mp), middleware.WithPropagators(p.props)))
	})
	b.Run("Otelhttp", func(b *testing.B) {
		benchServer(b, otelhttp.NewHandler(app(), "server", otelhttp.WithTracerProvider(p.tp),
			otelhttp.WithMeterProvider(p.mp), otelhttp.WithPropagators(p.props)))
	})
}

func benchClient(b *testing.B, rt http.RoundTripper, url string, ctx context.Context) {
	c := &http.Client{Transport: rt}
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// BenchmarkClient: one request over a kept-alive loopback connection to a
// bare server; the client side is what differs.
func BenchmarkClient(b *testing.B) {
	p := newProviders(b)
	srv := httptest.NewServer(app())
	defer srv.Close()
	url := srv.URL + "/items/42"
	ctx, span := p.tp.Tracer("bench").Start(context.Background(), "parent")
	defer span.End()
	newBase := func(b *testing.B) *http.Transport {
		tr := &http.Transport{}
		b.Cleanup(tr.CloseIdleConnections)
		return tr
	}
	b.Run("Bare", func(b *testing.B) { benchClient(b, newBase(b), url, ctx) })
	b.Run("Verdict", func(b *testing.B) {
		benchClient(b, middleware.NewTransport(newBase(b), middleware.WithTracerProvider(p.tp),
			middleware.WithMeterProvider(p.mp), middleware.WithPropagators(p.props)), url, ctx)
	})
	b.Run("Otelhttp", func(b *testing.B) {
		benchClient(b, otelhttp.NewTransport(newBase(b), otelhttp.WithTracerProvider(p.tp),
			otelhttp.WithMeterProvider(p.mp), otelhttp.WithPropagators(p.props)), url, ctx)
	})
}

// BenchmarkPropagation: traceparent extraction and injection.
func BenchmarkPropagation(b *testing.B) {
	h := http.Header{}
	h.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: 1})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	b.Run("ExtractTraceParent/Verdict", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !middleware.ExtractSpanContext(h).IsValid() {
				b.Fatal("invalid")
			}
		}
	})
	b.Run("ExtractContext/Verdict", func(b *testing.B) {
		p := middleware.NewPropagator()
		b.ReportAllocs()
		for b.Loop() {
			p.Extract(context.Background(), propagation.HeaderCarrier(h))
		}
	})
	b.Run("ExtractContext/OTelTraceContext", func(b *testing.B) {
		p := propagation.TraceContext{}
		b.ReportAllocs()
		for b.Loop() {
			p.Extract(context.Background(), propagation.HeaderCarrier(h))
		}
	})
	b.Run("Inject/Verdict", func(b *testing.B) {
		p := middleware.NewPropagator()
		out := http.Header{}
		b.ReportAllocs()
		for b.Loop() {
			p.Inject(ctx, propagation.HeaderCarrier(out))
		}
	})
	b.Run("Inject/OTelTraceContext", func(b *testing.B) {
		p := propagation.TraceContext{}
		out := http.Header{}
		b.ReportAllocs()
		for b.Loop() {
			p.Inject(ctx, propagation.HeaderCarrier(out))
		}
	})
}

// spanProcessor is a synchronous processor with a no-op exporter, or with
// VERDICT_BENCH_BATCHER=1 the SDK's default batch processor (the usual
// production set-up) with the same exporter. Both sides always get the same.
func spanProcessor() sdktrace.TracerProviderOption {
	if os.Getenv("VERDICT_BENCH_BATCHER") == "1" {
		return sdktrace.WithBatcher(tracetest.NewNoopExporter())
	}
	return sdktrace.WithSyncer(tracetest.NewNoopExporter())
}
