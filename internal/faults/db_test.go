package faults

import (
	"context"
	"errors"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/errclass"
	"github.com/verdict-obs/verdict/internal/pgtest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// PostgreSQL restarted under sqlxprobe (halted as a crash would, then
// started again): during the outage every query fails fast with a
// classified error.type on its span and on the duration metric (never
// _OTHER); afterwards queries succeed again without any action.
func TestDatabaseRestarted(t *testing.T) {
	srv, err := pgtest.Start()
	if errors.Is(err, pgtest.ErrNoPostgres) {
		pgtest.Require(t) // skips, or fails under CI=true
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	tr := startTracer(t, nil, tracer.WithSpanExporter(exp), tracer.WithMetricReader(reader))
	defer shutdown(t, tr, 5*time.Second)
	db, err := sqlxprobe.Open("postgres", srv.DSN, sqlxprobe.WithTracerProvider(tr.TracerProvider()),
		sqlxprobe.WithMeterProvider(tr.MeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	query := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var n int
		return db.GetContext(ctx, &n, "SELECT 1")
	}
	for range 20 {
		if err := query(); err != nil {
			t.Fatal(err)
		}
	}

	if err := srv.Halt(); err != nil {
		t.Fatal(err)
	}
	const outage = 30
	failed := 0
	start := time.Now()
	for range outage {
		if query() != nil {
			failed++
		}
	}
	t.Logf("%d of %d queries failed during the outage, in %v", failed, outage, time.Since(start).Round(time.Millisecond))
	if failed != outage {
		t.Errorf("%d of %d queries failed with the server down", failed, outage)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, s := range exp.GetSpans() {
		if s.Status.Code != codes.Error {
			continue
		}
		for _, kv := range s.Attributes {
			if kv.Key == semconv.AttrErrorType {
				types[kv.Value.AsString()]++
			}
		}
	}
	t.Logf("error.type of the failed spans: %v", types)
	for typ := range types {
		if typ != errclass.ConnectionRefused && typ != errclass.ConnectionReset && typ != errclass.UnexpectedEOF {
			t.Errorf("error.type %q during a database outage, want connection_refused, connection_reset or unexpected_eof", typ)
		}
	}
	spansFailed := 0
	for _, n := range types {
		spansFailed += n
	}
	if spansFailed < outage {
		t.Errorf("%d error spans for %d failed queries", spansFailed, outage)
	}

	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for query() != nil {
		if time.Now().After(deadline) {
			t.Fatal("queries still fail 30 s after the server is back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for range 20 {
		if err := query(); err != nil {
			t.Errorf("after recovery: %v", err)
		}
	}

	// The duration metric counts each failure under its error.type.
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	metricFailed := uint64(0)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != semconv.MetricDBClientOperationDuration {
				continue
			}
			for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
				if v, ok := dp.Attributes.Value(attribute.Key(semconv.AttrErrorType)); ok && v.AsString() != "" {
					metricFailed += dp.Count
				}
			}
		}
	}
	if metricFailed < uint64(spansFailed) {
		t.Errorf("the duration metric counts %d failures, the spans %d", metricFailed, spansFailed)
	}
}
