package middleware

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptrace"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/errclass"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// telemetry is an SDK tracer and meter provider for assertions.
type telemetry struct {
	rec    *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t testing.TB) *telemetry {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(rec))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return &telemetry{rec: rec, tp: tp, reader: reader, mp: mp}
}

func (tel *telemetry) opts(extra ...Option) []Option {
	return append([]Option{WithTracerProvider(tel.tp), WithMeterProvider(tel.mp)}, extra...)
}

// waitSpans waits until n spans have ended (client spans end when bodies
// are closed, possibly on another goroutine).
func (tel *telemetry) waitSpans(t testing.TB, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := tel.rec.Ended()
		if len(spans) >= n {
			return spans
		}
		if time.Now().After(deadline) {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name())
			}
			t.Fatalf("got %d ended spans %v, want %d", len(spans), names, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := make(map[string]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func spanAttr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	v, ok := attrMap(s.Attributes())[key]
	return v, ok
}

func (tel *telemetry) collect(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func findMetric(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// dataPointAttrs returns the attribute sets of a metric's data points, as
// sorted "k=v,k=v" strings.
func dataPointAttrs(m metricdata.Metrics) []string {
	var sets []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			sets = append(sets, dp.Attributes)
		}
	}
	var out []string
	for _, s := range sets {
		var kv []string
		for _, a := range s.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.Emit())
		}
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}

func histCount(m metricdata.Metrics) uint64 {
	var n uint64
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			n += dp.Count
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			n += dp.Count
		}
	}
	return n
}

func classifyForTest(err error) string { return errclass.Classify(err, errclass.PhaseNone) }

func quietLog() *log.Logger { return log.New(io.Discard, "", 0) }

func withCallerTrace(ctx context.Context, gotConn func()) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn() },
	})
}

func doGetCtx(t *testing.T, tel *telemetry, ctx context.Context, url string) error {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: NewTransport(tr, tel.opts()...)}
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return err
}

// waitHist collects until histogram name has at least n measurements: a
// gRPC server records its metrics after the client may already have its
// answer.
func (tel *telemetry) waitHist(t testing.TB, name string, n uint64) metricdata.ResourceMetrics {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rm := tel.collect(t)
		if m, ok := findMetric(rm, name); ok && histCount(m) >= n {
			return rm
		}
		if time.Now().After(deadline) {
			m, _ := findMetric(rm, name)
			t.Fatalf("%s: %d measurements, want %d", name, histCount(m), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
