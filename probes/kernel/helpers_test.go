package kernel_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// hookProcessor is the smallest span pipeline that calls a spanhook.Hook the
// way the tracer does: SpanStart in OnStart (on the starting goroutine),
// SpanEnd in OnEnd, whose attributes decorate the span on its way to the
// exporter. hook may be nil (eBPF off).
type hookProcessor struct {
	hook spanhook.Hook
	next sdktrace.SpanProcessor
}

func (h hookProcessor) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	if h.hook != nil {
		h.hook.SpanStart(s.SpanContext(), s.StartTime())
	}
	h.next.OnStart(ctx, s)
}

func (h hookProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if h.hook == nil {
		h.next.OnEnd(s)
		return
	}
	extra := spanhook.End(h.hook, s, s.SpanContext(), s.StartTime(), s.EndTime(), nil)
	h.next.OnEnd(decorated{s, extra})
}

func (h hookProcessor) Shutdown(ctx context.Context) error   { return h.next.Shutdown(ctx) }
func (h hookProcessor) ForceFlush(ctx context.Context) error { return h.next.ForceFlush(ctx) }

type decorated struct {
	sdktrace.ReadOnlySpan
	extra []attribute.KeyValue
}

func (d decorated) Attributes() []attribute.KeyValue {
	return append(d.ReadOnlySpan.Attributes(), d.extra...)
}

func newPipeline(tb testing.TB, hook spanhook.Hook) (trace.Tracer, *tracetest.InMemoryExporter) {
	tb.Helper()
	tp, exp := buildPipeline(hook)
	tb.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp.Tracer("kernel-test"), exp
}

func buildPipeline(hook spanhook.Hook) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(hookProcessor{hook, sdktrace.NewSimpleSpanProcessor(exp)}))
	return tp, exp
}

// handler starts a span named after the path, runs work in it, and ends it
// before responding.
func handler(tr trace.Tracer, work func(ctx context.Context, r *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, span := tr.Start(r.Context(), r.URL.Path)
		work(ctx, r)
		span.End()
		io.WriteString(w, "ok")
	})
}

func startProbe(tb testing.TB, opts ...kernel.Option) *kernel.Probe {
	tb.Helper()
	testutil.RequirePrivilege(tb, bpf.Check().Err) // what this machine lacks, if anything
	p, err := kernel.New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil && !errors.Is(err, os.ErrPermission) {
		tb.Fatalf("Start after a passing preflight: %v", err)
	} else {
		testutil.RequirePrivilege(tb, err)
	}
	tb.Cleanup(func() {
		if err := p.Shutdown(context.Background()); err != nil {
			tb.Errorf("Shutdown: %v", err)
		}
	})
	return p
}

// serve runs a real net/http server on loopback whose handler starts a span
// named after the path, runs work in it, and ends it before responding.
func serve(tb testing.TB, tr trace.Tracer, work func(ctx context.Context, r *http.Request)) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(handler(tr, work))
	tb.Cleanup(srv.Close)
	return srv
}

func get(tb testing.TB, c *http.Client, url string) {
	tb.Helper()
	resp, err := c.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %s", url, resp.Status)
	}
}

// spanAttrs returns the attributes of the exported span called name.
func spanAttrs(tb testing.TB, exp *tracetest.InMemoryExporter, name string) map[attribute.Key]attribute.Value {
	tb.Helper()
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			m := map[attribute.Key]attribute.Value{}
			for _, kv := range s.Attributes {
				m[kv.Key] = kv.Value
			}
			return m
		}
	}
	tb.Fatalf("no span %q exported", name)
	return nil
}
