package tracer

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
)

// unmeasuredHook appends one verdict.unmeasured attribute; kindHook
// records what the pipeline told it of the span (spanhook.SpanEnder).
type unmeasuredHook string

func (unmeasuredHook) SpanStart(trace.SpanContext, time.Time) {}
func (h unmeasuredHook) SpanEnd(_ trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	return append(dst, attribute.String(semconv.AttrUnmeasured, string(h)))
}

type kindHook struct{ kinds chan trace.SpanKind }

func (kindHook) SpanStart(trace.SpanContext, time.Time) {}
func (kindHook) SpanEnd(_ trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	return append(dst, attribute.Bool("test.wrong_method", true))
}
func (h kindHook) SpanEndOf(s spanhook.Span, _ trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	h.kinds <- s.SpanKind()
	return dst
}

// TestUnmeasuredJoined (issue 11 point 3): when several hooks say what they
// could not measure, the span carries one verdict.unmeasured, the values
// joined with "; "; a hook that needs the span's kind gets it. Both span
// paths: without the judge and with it (the default, where the hooks run
// beside the judge's stage: that path once skipped both the join and
// SpanEndOf).
func TestUnmeasuredJoined(t *testing.T) {
	t.Run("without judge", func(t *testing.T) { testUnmeasuredJoined(t) })
	t.Run("with judge", func(t *testing.T) { testUnmeasuredJoined(t, withJudge()) })
}

func testUnmeasuredJoined(t *testing.T, opts ...Option) {
	exp := tracetest.NewInMemoryExporter()
	kh := kindHook{kinds: make(chan trace.SpanKind, 1)}
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithSpanExporter(exp),
		WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}),
		withSpanHooks(unmeasuredHook("kernel: a"), kh, unmeasuredHook("gc.assist: b")), joinOptions(opts...))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	_, span := tr.TracerProvider().Tracer("t").Start(context.Background(), "s", trace.WithSpanKind(trace.SpanKindServer))
	span.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	select { // the hooks ran inside span.End
	case k := <-kh.kinds:
		if k != trace.SpanKindServer {
			t.Errorf("SpanEndOf saw kind %v", k)
		}
	default:
		t.Error("SpanEndOf not called")
	}
	var got []string
	for _, kv := range exp.GetSpans().Snapshots()[0].Attributes() {
		if kv.Key == semconv.AttrUnmeasured {
			got = append(got, kv.Value.AsString())
		}
		if kv.Key == "test.wrong_method" {
			t.Error("SpanEnd called on a SpanEnder")
		}
	}
	if len(got) != 1 || got[0] != "kernel: a; gc.assist: b" {
		t.Errorf("%s attributes %q, want one: %q", semconv.AttrUnmeasured, got, "kernel: a; gc.assist: b")
	}
}
