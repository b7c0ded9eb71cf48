package tracer

import (
	"context"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
)

var (
	serverAttrs = []attribute.KeyValue{
		attribute.String(semconv.AttrHTTPRequestMethod, "GET"), attribute.String(semconv.AttrURLScheme, "http"),
		attribute.String(semconv.AttrURLPath, "/orders/1"), attribute.String(semconv.AttrHTTPRoute, "/orders/{id}"),
		attribute.Int(semconv.AttrHTTPResponseStatusCode, 200), attribute.String(semconv.AttrServerAddress, "localhost"),
		attribute.Int(semconv.AttrServerPort, 8080), attribute.String(semconv.AttrClientAddress, "127.0.0.1"),
	}
	dbAttrs = []attribute.KeyValue{
		attribute.String(semconv.AttrDBSystemName, "sqlite"), attribute.String(semconv.AttrDBOperationName, "SELECT"),
		attribute.String(semconv.AttrDBCollectionName, "orders"), attribute.String(semconv.AttrDBQuerySummary, "SELECT orders"),
		attribute.String(semconv.AttrDBQueryText, "SELECT item FROM orders WHERE id = ?"),
		attribute.Float64(semconv.AttrDBConnectionWaitTime, 0.00001), attribute.Int64(semconv.AttrDBResponseReturnedRows, 1),
	}
	clientAttrs = []attribute.KeyValue{
		attribute.String(semconv.AttrHTTPRequestMethod, "GET"), attribute.String(semconv.AttrServerAddress, "10.0.0.7"),
		attribute.Int(semconv.AttrServerPort, 8081), attribute.String(semconv.AttrURLFull, "http://10.0.0.7:8081/stock/1"),
		attribute.Int(semconv.AttrHTTPResponseStatusCode, 200), attribute.Bool(semconv.AttrHTTPClientConnectionReused, true),
		attribute.Float64(semconv.AttrHTTPClientPhasePrefix+"request_write.duration", 0.00001),
		attribute.Float64(semconv.AttrHTTPClientPhasePrefix+"server_wait.duration", 0.0002),
		attribute.Float64(semconv.AttrHTTPClientPhasePrefix+"response_read.duration", 0.00001),
	}
	serverStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	clientStart = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
)

// request makes the spans of one typical request: a server root with a
// database call and a downstream HTTP call, attributes as verdict's
// instrumentation sets them.
func request(tracer trace.Tracer) {
	ctx, root := tracer.Start(context.Background(), "GET /orders/{id}", serverStart...)
	_, db := tracer.Start(ctx, "SELECT orders", clientStart...)
	db.SetAttributes(dbAttrs...)
	db.End()
	_, cl := tracer.Start(ctx, "GET", clientStart...)
	cl.SetAttributes(clientAttrs...)
	cl.End()
	root.SetAttributes(serverAttrs...)
	root.End()
}

// BenchmarkJudgeStage: one op is one request of three spans through the
// tracer with a no-op exporter; "stage-off" and "stage-on" both run the
// span pipeline (a hook that adds nothing), only the judge's stage
// differs, so their difference divided by three is the stage's cost per
// span. "no-pipeline" is the SDK path without verdict's processor.
func BenchmarkJudgeStage(b *testing.B) {
	cases := []struct {
		name string
		opts []Option
	}{
		{"no-pipeline", nil},
		{"stage-off", []Option{withSpanHooks(benchHook{})}},
		{"stage-on", []Option{withSpanHooks(benchHook{}), withJudge()}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tr := benchTracer(b, append([]Option{WithSpanExporter(tracetest.NewNoopExporter())}, c.opts...)...)
			tracer := tr.TracerProvider().Tracer("bench")
			for range 100 {
				request(tracer)
			}
			b.ReportAllocs()
			for b.Loop() {
				request(tracer)
			}
		})
	}
}

// The judge's stage adds no allocation to a request's spans: the same
// request through the pipeline with and without it allocates the same.
func TestJudgeStageAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	count := func(opts ...Option) float64 {
		base := []Option{quiet(), WithoutGlobals(), WithSpanExporter(tracetest.NewNoopExporter()), withSpanHooks(benchHook{}),
			WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(discardLogExporter{})}
		tr, err := Start(context.Background(), append(base, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		defer shutdown(t, tr)
		tracer := tr.TracerProvider().Tracer("bench")
		for range 100 {
			request(tracer)
		}
		return testing.AllocsPerRun(500, func() { request(tracer) })
	}
	off, on := count(), count(withJudge())
	t.Logf("allocations per request of 3 spans: %v without the stage, %v with it", off, on)
	if on > off {
		t.Errorf("the judge's stage adds %v allocations per request (%v with, %v without)", on-off, on, off)
	}
}

var _ = spanhook.Hook(benchHook{})

// BenchmarkPipelineStage isolates verdict's span processor: one op is
// OnStart and OnEnd of the three recorded spans of a request (a server
// root, a database call, an HTTP call), through the pipeline with a hook
// that adds nothing and no next processor, without and with the judge's
// stage. The difference divided by three is the stage's cost per span:
// cause, anomaly test, windows, local-trace accumulation, open-root
// tracking and the sampling decision.
func BenchmarkPipelineStage(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	request(tp.Tracer("bench"))
	started, ended := rec.Started(), rec.Ended()
	if len(started) != 3 || len(ended) != 3 {
		b.Fatalf("recorded %d/%d spans", len(started), len(ended))
	}
	for _, c := range []struct {
		name  string
		judge bool
	}{{"stage-off", false}, {"stage-on", true}} {
		b.Run(c.name, func(b *testing.B) {
			var js *judgeState
			if c.judge {
				s := &setup{cfg: newConfig(nil), t: &Tracer{diag: slog.New(slog.DiscardHandler)}}
				var err error
				if js, err = s.newJudge(); err != nil {
					b.Fatal(err)
				}
			}
			p := newSpanPipeline([]spanhook.Hook{benchHook{}}, nil, slog.New(slog.DiscardHandler), js)
			ctx := context.Background()
			run := func() {
				for i := range started {
					p.OnStart(ctx, started[i])
				}
				for i := range ended {
					p.OnEnd(ended[i])
				}
			}
			for range 200 {
				run()
			}
			b.ReportAllocs()
			for b.Loop() {
				run()
			}
		})
	}
}
