package tracer

import (
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// Histograms selects how the duration histograms of HTTP, RPC and database
// calls are aggregated: http.server.request.duration,
// http.client.request.duration, rpc.server.call.duration,
// rpc.client.call.duration, db.client.operation.duration and
// db.client.connection.wait_time, whichever instrumentation records them.
type Histograms int

const (
	// HistogramsFine (the default) keeps the boundaries verdict's
	// instrumentation advises: 23 boundaries from 100 µs to 10 s, a
	// superset of the semantic conventions' HTTP advice, at most 2× apart
	// below 10 ms, so that percentiles of services answering in a few
	// hundred microseconds are not reported as 5 ms. No view is added, so
	// a reader's own aggregation (for example
	// OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION=base2_exponential_bucket_histogram)
	// still applies, and other instrumentation keeps its own advice.
	HistogramsFine Histograms = iota
	// HistogramsSemconv uses the boundaries the OpenTelemetry semantic
	// conventions advise: 5 ms to 10 s for HTTP and RPC, 1 ms to 10 s for
	// the database (also used for the pool wait, which has no advice).
	// Choose it when dashboards already expect those `le` values.
	HistogramsSemconv
	// HistogramsExponential uses base-2 exponential histograms (at most 160
	// buckets, scale chosen by the SDK from the data): about 4 % relative
	// error at any latency. OTLP carries them as exponential histograms.
	// The Prometheus endpoint exposes them as native histograms, which a
	// Prometheus server (2.40 to 2.x) reads only when started with
	// --enable-feature=native-histograms (it then scrapes the protobuf
	// format); without the flag it scrapes the text format, where a native
	// histogram has only its count, its sum and a single +Inf bucket, so
	// histogram_quantile cannot use it.
	HistogramsExponential
)

func (h Histograms) String() string {
	switch h {
	case HistogramsFine:
		return "fine"
	case HistogramsSemconv:
		return "semconv"
	case HistogramsExponential:
		return "exponential"
	}
	return "Histograms(" + itoa(int64(h)) + ")"
}

// WithHistograms selects the aggregation of the request and query duration
// histograms (default [HistogramsFine]). It applies to every reader of the
// Tracer's meter provider; readers given with [WithMetricReader] included.
// Start fails on an unknown value.
func WithHistograms(h Histograms) Option {
	return optionFunc(func(c config) config {
		c.histograms = h
		return c
	})
}

// durationInstruments are the histograms WithHistograms governs, with the
// boundaries the semantic conventions advise for each.
var durationInstruments = []struct {
	name    string
	semconv func() []float64
}{
	{semconv.MetricHTTPServerRequestDuration, semconv.SemconvHTTPDurationBuckets},
	{semconv.MetricHTTPClientRequestDuration, semconv.SemconvHTTPDurationBuckets},
	{semconv.MetricRPCServerCallDuration, semconv.SemconvHTTPDurationBuckets},
	{semconv.MetricRPCClientCallDuration, semconv.SemconvHTTPDurationBuckets},
	{semconv.MetricDBClientOperationDuration, semconv.SemconvDBDurationBuckets},
	{semconv.MetricDBClientConnectionWaitTime, semconv.SemconvDBDurationBuckets},
}

// histogramViews returns the views that implement h (none for the
// default).
func histogramViews(h Histograms) []sdkmetric.View {
	var views []sdkmetric.View
	for _, in := range durationInstruments {
		var agg sdkmetric.Aggregation
		switch h {
		case HistogramsSemconv:
			agg = sdkmetric.AggregationExplicitBucketHistogram{Boundaries: in.semconv()}
		case HistogramsExponential:
			agg = sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 160, MaxScale: 20}
		default:
			return nil
		}
		views = append(views, sdkmetric.NewView(sdkmetric.Instrument{Name: in.name}, sdkmetric.Stream{Aggregation: agg}))
	}
	return views
}

// meterViewOptions is the hook build uses to add the views of the
// configuration to the meter provider.
func (s *setup) meterViewOptions() []sdkmetric.Option {
	views := histogramViews(s.cfg.histograms)
	if len(views) == 0 {
		return nil
	}
	return []sdkmetric.Option{sdkmetric.WithView(views...)}
}
