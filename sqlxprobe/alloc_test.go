package sqlxprobe

import (
	"context"
	"testing"

	"github.com/jmoiron/sqlx"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// The wrapper's per-query allocations on top of bare sqlx (the bench
// module compares them with otelsql): with no-op providers the call
// record and the context the tracer returns; with the SDK also the span
// and its attributes.
func TestWrapperAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not representative under the race detector")
	}
	ctx := context.Background()
	const q = "SELECT a FROM t WHERE a = ?"
	measure := func(get func() error) float64 {
		if err := get(); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(200, func() {
			if err := get(); err != nil {
				t.Fatal(err)
			}
		})
	}
	bare, err := sqlx.Open("sqlite", "file:allocs_bare?mode=memory&cache=shared")
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	bare.MustExec("CREATE TABLE t (a INT)")
	bare.MustExec("INSERT INTO t VALUES (1)")
	var a int
	base := measure(func() error { return bare.GetContext(ctx, &a, q, 1) })

	for _, tc := range []struct {
		name string
		opts []Option
		max  float64
	}{
		{"noop", []Option{WithTracerProvider(tracenoop.NewTracerProvider()), WithMeterProvider(metricnoop.NewMeterProvider())}, 2},
		{"sdk", []Option{
			WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))),
			WithMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))),
		}, 6},
	} {
		db, err := Open("sqlite", "file:allocs_"+tc.name+"?mode=memory&cache=shared", tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		db.MustExec("CREATE TABLE t (a INT)")
		db.MustExec("INSERT INTO t VALUES (1)")
		got := measure(func() error { return db.GetContext(ctx, &a, q, 1) })
		db.Close()
		if added := got - base; added > tc.max {
			t.Errorf("%s providers: wrapper adds %.0f allocs per query (bare %.0f), want <= %.0f", tc.name, added, base, tc.max)
		} else {
			t.Logf("%s providers: wrapper adds %.0f allocs per query (bare sqlx %.0f)", tc.name, added, base)
		}
	}
}

// BenchmarkGetSDK is one instrumented query (sqlx GetContext on SQLite in
// memory) with the OTel SDK's tracer and meter providers.
func BenchmarkGetSDK(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())
	db, err := Open("sqlite", "file:bench_get_sdk?mode=memory&cache=shared", WithTracerProvider(tp), WithMeterProvider(mp))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MustExec("CREATE TABLE t (a INT)")
	db.MustExec("INSERT INTO t VALUES (1)")
	ctx := context.Background()
	var a int
	b.ReportAllocs()
	for b.Loop() {
		if err := db.GetContext(ctx, &a, "SELECT a FROM t WHERE a = ?", 1); err != nil {
			b.Fatal(err)
		}
	}
}
