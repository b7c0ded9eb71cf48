package goruntime

import (
	"context"
	"runtime/metrics"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// BenchmarkCollection compares one collection cycle of the probe with a bare
// metrics.Read of the same samples, in the same run. The collection cycle
// is what the background loop and every metric export run: the read, the
// derived values and rates (recomputed on every call here: worst case), the
// GC-count check and the snapshot update.
func BenchmarkCollection(b *testing.B) {
	b.Run("bare-metrics.Read", func(b *testing.B) {
		s := newSamples()
		b.ReportAllocs()
		for b.Loop() {
			metrics.Read(s)
		}
	})
	b.Run("probe-collect", func(b *testing.B) {
		p := startedProbe(b, WithSampleInterval(time.Hour))
		p.mu.Lock()
		p.sampler.minWindow = 0
		p.mu.Unlock()
		b.ReportAllocs()
		for b.Loop() {
			p.collect(time.Now())
		}
	})
	b.Run("probe-collect+sdk-export", func(b *testing.B) {
		rd := sdkmetric.NewManualReader()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd))
		defer func() { _ = mp.Shutdown(context.Background()) }()
		startedProbe(b, WithSampleInterval(time.Hour), WithMeterProvider(mp))
		var rm metricdata.ResourceMetrics
		b.ReportAllocs()
		for b.Loop() {
			_ = rd.Collect(context.Background(), &rm)
		}
	})
}

func BenchmarkSnapshot(b *testing.B) {
	p := startedProbe(b, WithSampleInterval(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Snapshot()
	}
}

func BenchmarkAnalyses(b *testing.B) {
	b.Run("hotspots", func(b *testing.B) {
		h := newHotspotter(10)
		h.round(time.Now())
		b.ReportAllocs()
		for b.Loop() {
			h.round(time.Now())
		}
	})
	b.Run("blocking", func(b *testing.B) {
		ba := newBlockAnalyzer(3, DefaultStackDumpLimit, DefaultLeakWindow, DefaultLeakMinGrowth)
		b.ReportAllocs()
		for b.Loop() {
			ba.round(time.Now())
		}
	})
}

// BenchmarkCollectionSteady is the collection cycle as it runs in
// production: rates recomputed once per rate window (1 s by default), not
// on every call.
func BenchmarkCollectionSteady(b *testing.B) {
	b.Run("bare-metrics.Read", func(b *testing.B) {
		s := newSamples()
		b.ReportAllocs()
		for b.Loop() {
			metrics.Read(s)
		}
	})
	b.Run("probe-collect", func(b *testing.B) {
		p := startedProbe(b, WithSampleInterval(time.Hour))
		b.ReportAllocs()
		for b.Loop() {
			p.collect(time.Now())
		}
	})
}

// BenchmarkCollectionRatio interleaves blocks of bare metrics.Read calls and
// blocks of probe collection cycles over the same samples, so that both see
// the same machine load, and reports collect/bare as "ratio" (the
// acceptance bound is 1.5). Each iteration is one block of 256 of each.
// "steady" recomputes rates once per rate window as in production;
// "rates-every-cycle" recomputes them on every call (worst case).
func BenchmarkCollectionRatio(b *testing.B) {
	for _, tc := range []struct {
		name      string
		minWindow time.Duration
	}{{"steady", 500 * time.Millisecond}, {"rates-every-cycle", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			const block = 256
			bare := newSamples()
			p := startedProbe(b, WithSampleInterval(time.Hour))
			p.mu.Lock()
			p.sampler.minWindow = tc.minWindow
			p.mu.Unlock()
			var tBare, tCollect time.Duration
			b.ReportAllocs()
			for b.Loop() {
				t0 := time.Now()
				for range block {
					metrics.Read(bare)
				}
				t1 := time.Now()
				for range block {
					p.collect(time.Now())
				}
				t2 := time.Now()
				tBare += t1.Sub(t0)
				tCollect += t2.Sub(t1)
			}
			n := float64(b.N * block)
			b.ReportMetric(float64(tBare.Nanoseconds())/n, "bare-ns/read")
			b.ReportMetric(float64(tCollect.Nanoseconds())/n, "collect-ns/cycle")
			b.ReportMetric(float64(tCollect)/float64(tBare), "ratio")
		})
	}
}

type runtimeStats struct{ s []metrics.Sample }

func (r *runtimeStats) gcCycles() uint64 {
	if r.s == nil {
		r.s = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	}
	metrics.Read(r.s)
	return r.s[0].Value.Uint64()
}
