package tracer

import (
	"context"
	"errors"
	"math"
	"runtime/metrics"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// NewRuntimeProducer returns the metric producer of go.schedule.duration,
// the Go runtime semantic-convention histogram of the time runnable
// goroutines waited for a thread (runtime/metrics /sched/latencies:seconds).
// The metric API has no observable histogram, so it comes from a producer;
// the readers verdict builds have it already (with the runtime probe on).
// Pass it to readers given with [WithMetricReader], e.g.
// sdkmetric.NewManualReader(sdkmetric.WithProducer(tracer.NewRuntimeProducer())).
//
// Its buckets are bounded: the runtime's ~160 buckets are folded into 16
// boundaries from 1 µs to 100 ms (plus +Inf), so the histogram costs 19
// Prometheus series, not ~164. A runtime bucket that straddles a boundary
// is counted in the bucket above it: quantiles err by at most one runtime
// bucket (under 13 %) towards longer waits. The sum is estimated from the
// bucket midpoints (the runtime does not keep one).
//
// Safe for concurrent use.
func NewRuntimeProducer() sdkmetric.Producer { return newScheduleProducer() }

type scheduleProducer struct {
	mu      sync.Mutex
	samples []metrics.Sample
	bounds  []float64
	start   time.Time
	// fold maps each runtime bucket to a target bucket; rebuilt when the
	// runtime's boundaries change (they do not within a process).
	runtimeBounds []float64
	fold          []int
}

const schedMetric = "/sched/latencies:seconds"

func newScheduleProducer() *scheduleProducer {
	return &scheduleProducer{
		samples: []metrics.Sample{{Name: schedMetric}},
		bounds:  semconv.ScheduleBuckets(),
		start:   time.Now(),
	}
}

var errNoSchedLatencies = errors.New("runtime/metrics: " + schedMetric + " is not a histogram here")

// Produce reads the runtime histogram and folds it into the bounded
// boundaries. Cumulative, like the runtime's counts.
func (p *scheduleProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	metrics.Read(p.samples)
	v := p.samples[0].Value
	if v.Kind() != metrics.KindFloat64Histogram {
		p.mu.Unlock()
		return nil, errNoSchedLatencies
	}
	h := v.Float64Histogram()
	counts, sum, total := p.foldHistogram(h)
	p.mu.Unlock()
	return []metricdata.ScopeMetrics{{
		Scope: instrumentation.Scope{Name: semconv.ScopeGoRuntime, Version: semconv.Version},
		Metrics: []metricdata.Metrics{{
			Name:        semconv.MetricGoScheduleDuration,
			Description: "The time goroutines have spent in the scheduler in a runnable state before actually running.",
			Unit:        "s",
			Data: metricdata.Histogram[float64]{
				Temporality: metricdata.CumulativeTemporality,
				DataPoints: []metricdata.HistogramDataPoint[float64]{{
					Attributes:   *attribute.EmptySet(),
					StartTime:    p.start,
					Time:         time.Now(),
					Count:        total,
					Bounds:       p.bounds,
					BucketCounts: counts,
					Sum:          sum,
				}},
			},
		}},
	}}, nil
}

// foldHistogram returns the counts per target bucket (len(bounds)+1), the
// estimated sum and the total count. p.mu is held.
func (p *scheduleProducer) foldHistogram(h *metrics.Float64Histogram) ([]uint64, float64, uint64) {
	if !equalFloats(p.runtimeBounds, h.Buckets) {
		p.runtimeBounds = append(p.runtimeBounds[:0], h.Buckets...)
		p.fold = foldMap(h.Buckets, p.bounds)
	}
	counts := make([]uint64, len(p.bounds)+1)
	var (
		sum   float64
		total uint64
	)
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		counts[p.fold[i]] += c
		total += c
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		switch {
		case math.IsInf(hi, 1):
			sum += float64(c) * max(lo, 0)
		case math.IsInf(lo, -1):
			sum += float64(c) * hi
		default:
			sum += float64(c) * (lo + hi) / 2
		}
	}
	return counts, sum, total
}

// foldMap maps runtime bucket i, [edges[i], edges[i+1]), to the first target
// bucket (bounds[j-1], bounds[j]] that holds its upper edge; len(bounds)
// is the overflow bucket.
func foldMap(edges, bounds []float64) []int {
	fold := make([]int, len(edges)-1)
	j := 0
	for i := range fold {
		hi := edges[i+1]
		for j < len(bounds) && hi > bounds[j] {
			j++
		}
		fold[i] = j
	}
	return fold
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
