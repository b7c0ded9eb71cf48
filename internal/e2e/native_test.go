package e2e

import (
	"math"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/promtest"
	"github.com/verdict-obs/verdict/tracer"
)

// TestExponentialHistograms (point 1, the other resolution): with
// tracer.HistogramsExponential the endpoint exposes native histograms. A
// Prometheus 2.42 started with --enable-feature=native-histograms scrapes
// them (protobuf) and its histogram_quantile is within 1.5× of the spans'
// P99; one started without the flag scrapes the text format and sees a
// single +Inf bucket, as the tracer's documentation says.
func TestExponentialHistograms(t *testing.T) {
	r := startPromRun(t, promtest.Config{NativeHistograms: true}, tracer.WithHistograms(tracer.HistogramsExponential))
	classic := promtest.Start(t, promtest.Config{Targets: r.prom.Targets()})
	classicAt, err := classic.WaitScraped(r.ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}

	ds := r.spanDurations(func(s sdktrace.ReadOnlySpan) bool {
		return s.SpanKind() == trace.SpanKindServer && attr(s, "http.route") == "/fast/{id}"
	})
	spanP99 := quantile(ds, 0.99).Seconds()
	promP99 := r.scalar(t, `histogram_quantile(0.99, sum(http_server_request_duration_seconds{http_route="/fast/{id}"}))`)
	ratio := math.Max(promP99/spanP99, spanP99/promP99)
	t.Logf("native histogram: P99 from %d spans %.3f ms, from Prometheus %.3f ms (ratio %.2f)", len(ds), spanP99*1e3, promP99*1e3, ratio)
	if !(ratio <= 1.5) {
		t.Errorf("native histogram_quantile(0.99) = %.3f ms, spans' P99 = %.3f ms: off by %.2f×", promP99*1e3, spanP99*1e3, ratio)
	}

	v, err := classic.Query(r.ctx, `http_server_request_duration_seconds_bucket{http_route="/fast/{id}"}`, classicAt)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0].Metric["le"] != "+Inf" {
		t.Errorf("without the feature flag: %v, want the +Inf bucket only", v)
	}
}
