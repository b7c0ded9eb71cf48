package jaegertest

import (
	"context"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/testproc"
)

// TestRoundTrip: spans exported over OTLP gRPC and OTLP HTTP come back
// through the query API with their IDs, parent link, kind, status,
// attributes and resource; and Jaeger listens on 127.0.0.1 only.
func TestRoundTrip(t *testing.T) {
	j := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	if runtime.GOOS == "linux" {
		ls, err := testproc.Listening(j.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) < 5 {
			t.Errorf("jaeger listens on %v: want at least the 5 configured listeners", ls)
		}
		for _, ap := range ls {
			if ap.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("jaeger listens on %v, want 127.0.0.1 only", ap)
			}
		}
	}

	for _, proto := range []string{"grpc", "http"} {
		t.Run(proto, func(t *testing.T) {
			var exp sdktrace.SpanExporter
			var err error
			if proto == "grpc" {
				exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(j.OTLPGRPC), otlptracegrpc.WithInsecure())
			} else {
				exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(j.OTLPHTTP+"/v1/traces"))
			}
			if err != nil {
				t.Fatal(err)
			}
			service := "jaegertest-" + proto
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
				sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", service))))
			defer tp.Shutdown(context.Background())
			from := time.Now().Add(-time.Second)
			tr := tp.Tracer("jaegertest", trace.WithInstrumentationVersion("1.2.3"))
			pctx, parent := tr.Start(ctx, "parent", trace.WithSpanKind(trace.SpanKindServer))
			_, child := tr.Start(pctx, "child", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(attribute.Int64("n", 42), attribute.Bool("b", true), attribute.Float64("f", 0.5), attribute.String("s", "x")))
			child.End()
			parent.End()

			ts, err := j.WaitTraces(ctx, service, from, func(ts []Trace) bool { return len(ts) == 1 && len(ts[0].Spans) == 2 })
			if err != nil {
				t.Fatal(err)
			}
			tr0 := ts[0]
			if tr0.ID != parent.SpanContext().TraceID().String() {
				t.Errorf("trace ID %s, want %s", tr0.ID, parent.SpanContext().TraceID())
			}
			roots := tr0.Roots()
			if len(roots) != 1 || roots[0].Name != "parent" || roots[0].Kind != "SERVER" {
				t.Fatalf("roots %+v", roots)
			}
			kids := tr0.Children(roots[0].SpanID)
			if len(kids) != 1 || kids[0].Name != "child" || kids[0].Kind != "CLIENT" || kids[0].SpanID != child.SpanContext().SpanID().String() {
				t.Fatalf("children of the root: %+v", kids)
			}
			c := kids[0]
			if c.Attr("n") != int64(42) || c.Attr("b") != true || c.Attr("f") != 0.5 || c.Attr("s") != "x" {
				t.Errorf("attributes %v", c.Attributes)
			}
			if c.Resource["service.name"] != service || c.ScopeName != "jaegertest" || c.ScopeVersion != "1.2.3" || c.StatusCode != "UNSET" {
				t.Errorf("resource %v, scope %s@%s, status %s", c.Resource, c.ScopeName, c.ScopeVersion, c.StatusCode)
			}
			got, err := j.GetTrace(ctx, tr0.ID)
			if err != nil || len(got.Spans) != 2 {
				t.Errorf("GetTrace: %d spans, %v", len(got.Spans), err)
			}
		})
	}
	if _, err := j.FindTraces(ctx, "nobody", time.Now().Add(-time.Minute), time.Now()); err != ErrNoTraces {
		t.Errorf("unknown service: %v, want ErrNoTraces", err)
	}
}

func TestConfigPinsLoopback(t *testing.T) {
	c := config("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4", "127.0.0.1:5")
	for _, want := range []string{"endpoint: 127.0.0.1:1", "endpoint: 127.0.0.1:2", "endpoint: 127.0.0.1:3", "endpoint: 127.0.0.1:4", "endpoint: 127.0.0.1:5", "level: none", "enable_tracing: false"} {
		if !contains(c, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
