package tracer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// Process metrics: CPU time, resident and virtual memory, open file
// descriptors and start time, which saturation alerts need.
//
// On verdict's Prometheus endpoint they come from client_golang's process
// collector under the names every Prometheus user knows
// (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds, ...). Readers that push (OTLP, console) get
// the same figures under the OpenTelemetry process semantic conventions
// from a producer: process.cpu.time, process.memory.usage,
// process.memory.virtual, process.unix.file_descriptor.count and
// process.uptime. Both read /proc on Linux (the collector supports a subset
// elsewhere); neither stops the world.

// registerProcessCollector adds the process collector to the registry of
// verdict's Prometheus endpoint.
func registerProcessCollector(reg prometheus.Registerer) error {
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return fmt.Errorf("process collector: %w", err)
	}
	return nil
}

// processProducer turns the process collector's figures into the
// semantic-convention process.* metrics for push readers. Safe for
// concurrent use.
type processProducer struct {
	mu    sync.Mutex
	reg   *prometheus.Registry
	start time.Time
}

func newProcessProducer() *processProducer {
	reg := prometheus.NewRegistry()
	_ = registerProcessCollector(reg) // a fresh registry cannot refuse it
	return &processProducer{reg: reg, start: time.Now()}
}

// Produce gathers the collector and converts what it found; a figure the
// platform does not provide is left out.
func (p *processProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	mfs, err := p.reg.Gather()
	p.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("process metrics: %w", err)
	}
	now := time.Now()
	vals := map[string]float64{}
	for _, mf := range mfs {
		if len(mf.GetMetric()) == 0 {
			continue
		}
		vals[mf.GetName()] = metricValue(mf.GetMetric()[0])
	}
	var ms []metricdata.Metrics
	add := func(name, unit, desc string, data metricdata.Aggregation) {
		ms = append(ms, metricdata.Metrics{Name: name, Unit: unit, Description: desc, Data: data})
	}
	if v, ok := vals["process_cpu_seconds_total"]; ok {
		add(semconv.MetricProcessCPUTime, "s", "Total CPU seconds of the process (user and system).",
			metricdata.Sum[float64]{Temporality: metricdata.CumulativeTemporality, IsMonotonic: true,
				DataPoints: []metricdata.DataPoint[float64]{{Attributes: *attribute.EmptySet(), StartTime: p.start, Time: now, Value: v}}})
	}
	upDown := func(prom, name, unit, desc string) {
		if v, ok := vals[prom]; ok {
			add(name, unit, desc, metricdata.Sum[int64]{Temporality: metricdata.CumulativeTemporality,
				DataPoints: []metricdata.DataPoint[int64]{{Attributes: *attribute.EmptySet(), StartTime: p.start, Time: now, Value: int64(v)}}})
		}
	}
	upDown("process_resident_memory_bytes", semconv.MetricProcessMemoryUsage, "By", "The amount of physical memory in use.")
	upDown("process_virtual_memory_bytes", semconv.MetricProcessMemoryVirtual, "By", "The amount of committed virtual memory.")
	upDown("process_open_fds", semconv.MetricProcessFileDescriptorCount, "{file_descriptor}", "Number of unix file descriptors in use by the process.")
	if v, ok := vals["process_start_time_seconds"]; ok {
		up := float64(now.UnixNano())/1e9 - v
		add(semconv.MetricProcessUptime, "s", "The time the process has been running.",
			metricdata.Gauge[float64]{DataPoints: []metricdata.DataPoint[float64]{{Attributes: *attribute.EmptySet(), Time: now, Value: up}}})
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: semconv.ScopeTracer, Version: semconv.Version}, Metrics: ms}}, nil
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

var _ sdkmetric.Producer = (*processProducer)(nil)
