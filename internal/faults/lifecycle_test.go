package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/internal/otlptest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// ebpfIfRoot is EBPFRequired as root (the kernel hooks then run on every
// span) and off otherwise.
func ebpfIfRoot() tracer.Option {
	if os.Geteuid() == 0 {
		return tracer.WithEBPF(tracer.EBPFRequired)
	}
	return tracer.WithEBPF(tracer.EBPFOff)
}

// Shutdown while requests keep coming and exports are in flight to a slow
// collector: it returns within its deadline, the host keeps serving (its
// spans are no-ops afterwards), and once the host's own servers are
// closed no goroutine of verdict's is left.
func TestShutdownUnderLoad(t *testing.T) {
	otlpEnv(t)
	t.Setenv("OTEL_METRICS_EXPORTER", "otlp") // all three pipelines in flight
	t.Setenv("OTEL_LOGS_EXPORTER", "otlp")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "200")
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", exportBound)
	leaks := goleak.IgnoreCurrent()
	rcv, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	rcv.SetDelay(300 * time.Millisecond)
	tr := startTracer(t, nil, tracer.WithOTLPEndpoint(rcv.GRPCEndpoint()), tracer.WithOTLPProtocol(tracer.ProtocolGRPC),
		ebpfIfRoot())
	svc := newService(t, tr)

	stop := make(chan struct{})
	var served, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := svc.client.Get(fmt.Sprintf("%s/work/%d-%d", svc.srv.URL, w, i))
				if err != nil || resp.StatusCode != 200 {
					failed.Add(1)
					continue
				}
				resp.Body.Close()
				served.Add(1)
				tr.Logger().InfoContext(context.Background(), "served") // the logs pipeline too
			}
		}()
	}
	time.Sleep(time.Second)
	before := served.Load()
	dropped, err := shutdown(t, tr, time.Second)
	atShutdown := served.Load()
	time.Sleep(300 * time.Millisecond) // the host keeps serving after Shutdown
	close(stop)
	wg.Wait()
	after := served.Load() - atShutdown
	t.Logf("%d requests before Shutdown, %d during, %d after; %d spans dropped at shutdown; Shutdown: %v",
		before, atShutdown-before, after, dropped, err)
	if failed.Load() != 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
	if after == 0 {
		t.Error("no request served after Shutdown")
	}
	// Spans that reached the pipeline before Shutdown returned: the requests
	// served by then, plus at most one in flight per worker (its span
	// ended, its response not yet read). Those produced before Shutdown
	// began were all received or counted.
	got := received(rcv)
	if got > int(atShutdown)+8 {
		t.Errorf("received %d spans, at most %d produced", got, atShutdown+8)
	}
	if uint64(got)+dropped < uint64(before) {
		t.Errorf("received %d + dropped %d < %d spans produced before Shutdown began: spans lost uncounted", got, dropped, before)
	}
	svc.close()
	rcv.Close()
	goleak.VerifyNone(t, leaks)
}

// Thousands of short-lived goroutines making spans (with the kernel hooks
// on as root): every span is exported or counted as dropped, the
// goroutines are gone afterwards, the heap returns to where it was, and
// with eBPF each span got its kernel time or was counted lost.
func TestShortLivedGoroutines(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	tr := startTracer(t, nil, tracer.WithSpanExporter(exp), tracer.WithMetricReader(reader), ebpfIfRoot())
	goroutines := runtime.NumGoroutine()
	before := liveHeap()
	const waves, perWave = 20, 500
	for range waves {
		var wg sync.WaitGroup
		for range perWave {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, span := tr.TracerProvider().Tracer("faults").Start(context.Background(), "short")
				runtime.Gosched()
				span.End()
			}()
		}
		wg.Wait()
		if err := tr.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := tr.Status().Component("traces")
	exported := len(exp.GetSpans())
	exp.Reset()
	growth := liveHeap() - before
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	eb, _ := tr.Status().Component("ebpf")
	t.Logf("%d goroutines made one span each: %d exported, %d dropped; live heap grew %s; goroutines %d -> %d; ebpf: %s",
		waves*perWave, exported, c.Dropped, mb(growth), goroutines, runtime.NumGoroutine(), eb)
	if uint64(exported)+c.Dropped != waves*perWave {
		t.Errorf("exported %d + dropped %d != %d", exported, c.Dropped, waves*perWave)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Errorf("%d goroutines left, %d before", n, goroutines)
	}
	if growth > 16<<20 {
		t.Errorf("live heap grew %s", mb(growth))
	}
	shutdown(t, tr, 5*time.Second)
}

// histogramPoints returns the data points of a float64 histogram.
func histogramPoints(t *testing.T, reader *sdkmetric.ManualReader, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data.(metricdata.Histogram[float64]).DataPoints
			}
		}
	}
	return nil
}

// 10,000 distinct routes: the HTTP duration metric keeps 1,000 series
// (middleware.DefaultMaxSeries) and folds the rest into one overflow
// series, counted exactly; span names stay right; memory is bounded.
func TestTenThousandRoutes(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tr := startTracer(t, nil, tracer.WithSpanExporter(tracetest.NewNoopExporter()), tracer.WithMetricReader(reader))
	defer shutdown(t, tr, 5*time.Second)
	const routes = 10_000
	mux := http.NewServeMux()
	for i := range routes {
		mux.HandleFunc(fmt.Sprintf("GET /r%d/{id}", i), func(http.ResponseWriter, *http.Request) {})
	}
	h := middleware.NewHandler(mux, middleware.WithTracerProvider(tr.TracerProvider()), middleware.WithMeterProvider(tr.MeterProvider()))
	before := liveHeap()
	w := httptest.NewRecorder()
	for i := range routes {
		h.ServeHTTP(w, httptest.NewRequest("GET", fmt.Sprintf("/r%d/7", i), nil))
	}
	growth := liveHeap() - before
	points := histogramPoints(t, reader, semconv.MetricHTTPServerRequestDuration)
	own, overflow := 0, uint64(0)
	for _, dp := range points {
		if v, ok := dp.Attributes.Value(semconv.AttrOverflow); ok && v.AsBool() {
			overflow += dp.Count
			continue
		}
		own++
	}
	t.Logf("%d routes: %d series of their own, %d requests in the overflow series; live heap grew %s (%d bytes per route)",
		routes, own, overflow, mb(growth), growth/routes)
	if own != middleware.DefaultMaxSeries || overflow != routes-middleware.DefaultMaxSeries {
		t.Errorf("%d own series and %d in overflow, want %d and %d", own, overflow, middleware.DefaultMaxSeries, routes-middleware.DefaultMaxSeries)
	}
	if growth > 64<<20 {
		t.Errorf("live heap grew %s", mb(growth))
	}
}

// 10,000 distinct query fingerprints: the duration metric keeps its
// bounded set of series and folds the rest into _OTHER, counted exactly;
// memory is bounded (the analysis cache holds at most 4,096 statements).
func TestTenThousandFingerprints(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	tr := startTracer(t, nil, tracer.WithSpanExporter(tracetest.NewNoopExporter()), tracer.WithMetricReader(reader))
	defer shutdown(t, tr, 5*time.Second)
	db, err := sqlxprobe.Open("sqlite", "file:fingerprints?mode=memory&cache=shared",
		sqlxprobe.WithTracerProvider(tr.TracerProvider()), sqlxprobe.WithMeterProvider(tr.MeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 10_000
	before := liveHeap()
	for i := range n {
		var v int
		if err := db.Get(&v, fmt.Sprintf("SELECT 1 AS c%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	growth := liveHeap() - before
	points := histogramPoints(t, reader, semconv.MetricDBClientOperationDuration)
	var total uint64
	for _, dp := range points {
		total += dp.Count
	}
	t.Logf("%d fingerprints: %d series for %d operations; live heap grew %s (%d bytes per fingerprint)",
		n, len(points), total, mb(growth), growth/n)
	if len(points) > 101 {
		t.Errorf("%d series", len(points))
	}
	if total != n {
		t.Errorf("the series count %d operations, want %d", total, n)
	}
	if growth > 64<<20 {
		t.Errorf("live heap grew %s", mb(growth))
	}
}
