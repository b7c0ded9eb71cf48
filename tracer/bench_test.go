package tracer

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/spanhook"
)

func benchTracer(b *testing.B, opts ...Option) *Tracer {
	b.Helper()
	b.Setenv("OTEL_METRICS_EXPORTER", "none")
	b.Setenv("OTEL_LOGS_EXPORTER", "none")
	b.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	base := []Option{quiet(), WithoutGlobals(), WithLogger(slog.New(slog.DiscardHandler)), WithSampler(sdktrace.AlwaysSample())}
	tr, err := Start(context.Background(), append(base, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx) // drops are expected with the exporter down
	})
	return tr
}

// BenchmarkExporterDown: one op is a loop creating 10,000 spans. Compare
// the closed-port cases with noop-exporter in the same run: the issue asks
// for at most 1.5x.
func BenchmarkExporterDown(b *testing.B) {
	cases := []struct {
		name string
		opts func(b *testing.B) []Option
	}{
		{"noop-exporter", func(*testing.B) []Option {
			return []Option{WithSpanExporter(tracetest.NewNoopExporter())}
		}},
		{"otlp-grpc-closed-port", func(b *testing.B) []Option {
			return []Option{WithOTLPEndpoint("http://" + closedPort(b)), WithOTLPProtocol(ProtocolGRPC)}
		}},
		{"otlp-http-closed-port", func(b *testing.B) []Option {
			return []Option{WithOTLPEndpoint("http://" + closedPort(b)), WithOTLPProtocol(ProtocolHTTPProtobuf)}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tr := benchTracer(b, c.opts(b)...)
			tracer := tr.TracerProvider().Tracer("bench")
			b.ReportAllocs()
			for b.Loop() {
				spanLoop(tracer, 10_000, "")
			}
		})
	}
}

// BenchmarkSpanPipeline: one op is one span start+end through verdict's
// pipeline with a no-op exporter, without hooks, with a hook that adds
// nothing, and with a hook that adds two attributes.
func BenchmarkSpanPipeline(b *testing.B) {
	cases := []struct {
		name  string
		hooks []spanhook.Hook
	}{
		{"no-hooks", nil},
		{"hook-adds-nothing", []spanhook.Hook{benchHook{}}},
		{"hook-adds-2-attrs", []spanhook.Hook{benchHook{add: true}}},
		// What the soak's server span gets with eBPF on: kernel, socket
		// and self-time attributes.
		{"hook-adds-14-attrs", []spanhook.Hook{benchHook{add: true, more: 12}}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tr := benchTracer(b, WithSpanExporter(tracetest.NewNoopExporter()), withSpanHooks(c.hooks...))
			tracer := tr.TracerProvider().Tracer("bench")
			ctx, root := tracer.Start(context.Background(), "root")
			defer root.End()
			b.ReportAllocs()
			for b.Loop() {
				_, s := tracer.Start(ctx, "op")
				s.End()
			}
		})
	}
}

// BenchmarkLogger: one correlated record through the fan-out (console to
// io.Discard as text, OTel logs pipeline with a no-op exporter).
func BenchmarkLogger(b *testing.B) {
	tr := benchTracer(b, WithConsoleFormat(ConsoleText), WithConsoleWriter(io.Discard),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&discardLogExporter{}))
	ctx, span := tr.TracerProvider().Tracer("bench").Start(context.Background(), "op")
	defer span.End()
	log := tr.Logger()
	b.ReportAllocs()
	for b.Loop() {
		log.InfoContext(ctx, "request handled", "status", 200)
	}
}

// benchHook does the least a hook can: nothing at start, two attributes (or
// none) at end, and more numbered ones.
type benchHook struct {
	add  bool
	more int
}

func (benchHook) SpanStart(trace.SpanContext, time.Time) {}
func (h benchHook) SpanEnd(_ trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	if !h.add {
		return dst
	}
	dst = append(dst, attribute.Bool("bench.hooked", true), attribute.Int64("bench.duration_ns", int64(end.Sub(start))))
	for i := range h.more {
		dst = append(dst, attribute.Int(benchKeys[i%len(benchKeys)], i))
	}
	return dst
}

var benchKeys = []string{"bench.a", "bench.b", "bench.c", "bench.d", "bench.e", "bench.f", "bench.g", "bench.h", "bench.i", "bench.j", "bench.k", "bench.l"}

// BenchmarkSpanVsSDKBatch: one span start+end through verdict's pipeline
// and through a plain SDK TracerProvider with the SDK's BatchSpanProcessor,
// both with a no-op exporter, in the same run.
func BenchmarkSpanVsSDKBatch(b *testing.B) {
	b.Run("verdict", func(b *testing.B) {
		tr := benchTracer(b, WithSpanExporter(tracetest.NewNoopExporter()))
		benchSpans(b, tr.TracerProvider().Tracer("bench"))
	})
	b.Run("sdk-batch-span-processor", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		defer tp.Shutdown(context.Background())
		benchSpans(b, tp.Tracer("bench"))
	})
}

func benchSpans(b *testing.B, tracer trace.Tracer) {
	ctx, root := tracer.Start(context.Background(), "root")
	defer root.End()
	b.ReportAllocs()
	for b.Loop() {
		_, s := tracer.Start(ctx, "op")
		s.End()
	}
}
