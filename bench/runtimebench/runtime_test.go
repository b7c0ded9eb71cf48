package runtimebench

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/probes/goruntime"
)

// stwOther counts stop-the-world pauses not caused by the GC (what
// runtime.ReadMemStats costs).
func stwOther() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/other:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}

// BenchmarkRuntimeScrape is one scrape of the Go runtime's metrics: verdict's
// probe through an OpenTelemetry SDK ManualReader, and client_golang's Go
// collector (default and with all runtime/metrics) through a registry
// Gather. "stw/op" counts non-GC stop-the-world pauses per scrape.
func BenchmarkRuntimeScrape(b *testing.B) {
	b.Run("verdict-goruntime-otel-sdk", func(b *testing.B) {
		rd := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
		defer func() { _ = mp.Shutdown(context.Background()) }()
		p, err := goruntime.New(goruntime.WithMeterProvider(mp), goruntime.WithSampleInterval(time.Hour),
			goruntime.WithHotspots(0, 0), goruntime.WithBlocking(0, 0))
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Start(context.Background()); err != nil {
			b.Fatal(err)
		}
		defer func() { _ = p.Shutdown(context.Background()) }()
		var rm metricdata.ResourceMetrics
		s0 := stwOther()
		b.ReportAllocs()
		for b.Loop() {
			if err := rd.Collect(context.Background(), &rm); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(stwOther()-s0)/float64(b.N), "stw/op")
	})
	for _, tc := range []struct {
		name string
		c    prometheus.Collector
	}{
		{"prometheus-gocollector-default", collectors.NewGoCollector()},
		{"prometheus-gocollector-all", collectors.NewGoCollector(
			collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsAll))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reg := prometheus.NewRegistry()
			reg.MustRegister(tc.c)
			s0 := stwOther()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Gather(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(stwOther()-s0)/float64(b.N), "stw/op")
		})
	}
}
