// Command soakpeer is examples/soak with a third variant beside verdict
// and no instrumentation: the same service instrumented by the
// OpenTelemetry peers, otelhttp on the handler and XSAM/otelsql under sqlx,
// with the SDK's batch span processor into the same counting exporter and
// the same metric collection. It lives in the nested bench module so the
// library's go.mod does not grow.
//
//	cd bench && go run ./soakpeer -variants verdict,off,verdict,otel -duration 10m -rate 1000
package main

import (
	"context"
	"errors"
	"io"
	"os"
	"runtime"

	"github.com/XSAM/otelsql"
	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/examples/soak/harness"
)

func main() {
	os.Exit(harness.Main(harness.Verdict, harness.Off, Otel, harness.SDKSpans, harness.VerdictNoEBPF))
}

// Otel is the service with otelhttp + otelsql.
var Otel = harness.Variant{Name: "otel", Start: startOtel}

func startOtel(_ context.Context, dsn string) (*harness.Service, error) {
	spans := &harness.CountingExporter{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans))
	metricExp, err := stdoutmetric.New(stdoutmetric.WithWriter(io.Discard))
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(harness.MetricInterval))))
	prop := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	sdb, err := otelsql.Open("sqlite", dsn, otelsql.WithTracerProvider(tp), otelsql.WithMeterProvider(mp),
		otelsql.WithAttributes(attribute.String("db.system.name", "sqlite")))
	if err != nil {
		return nil, err
	}
	db := sqlx.NewDb(sdb, "sqlite")
	db.SetMaxOpenConns(harness.PoolSize)
	db.SetMaxIdleConns(harness.PoolSize)
	h := otelhttp.NewHandler(harness.Handler(db), "orders",
		otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp), otelhttp.WithPropagators(prop))
	return &harness.Service{
		Handler: h,
		Counters: func() harness.Counters {
			return harness.Counters{Goroutines: runtime.NumGoroutine(), SpansExported: spans.Exported()}
		},
		Close: func(ctx context.Context) error {
			return errors.Join(db.Close(), tp.Shutdown(ctx), mp.Shutdown(ctx))
		},
	}, nil
}
