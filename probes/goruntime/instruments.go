package goruntime

import (
	"context"
	"errors"
	"math"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// ScopeName is the instrumentation scope of the probe's meter,
// "github.com/verdict-obs/verdict/probes/goruntime", at verdict's version.
const ScopeName = semconv.ScopeGoRuntime

type instruments struct {
	memUsed     metric.Int64ObservableUpDownCounter
	memLimit    metric.Int64ObservableUpDownCounter
	allocated   metric.Int64ObservableCounter
	allocations metric.Int64ObservableCounter
	gcGoal      metric.Int64ObservableUpDownCounter
	goroutines  metric.Int64ObservableUpDownCounter
	procs       metric.Int64ObservableUpDownCounter
	gogc        metric.Int64ObservableUpDownCounter
	gcCycles    metric.Int64ObservableCounter
	heapLive    metric.Int64ObservableUpDownCounter
	heapGrowth  metric.Float64ObservableGauge
	allocRate   metric.Float64ObservableGauge
	gcCPU       metric.Float64ObservableGauge
	mutexWait   metric.Float64ObservableCounter
	blocked     metric.Int64ObservableGauge
	leaks       metric.Int64ObservableGauge

	// Attribute options built once so that observing allocates nothing.
	stackOpt, otherOpt []metric.ObserveOption
	classOpt           [NumBlockClasses][]metric.ObserveOption

	reg metric.Registration
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := semconv.Meter(mp, ScopeName)
	in := &instruments{}
	var err error
	e := func(e2 error) {
		err = errors.Join(err, e2)
	}
	var e2 error
	in.memUsed, e2 = m.Int64ObservableUpDownCounter(semconv.MetricGoMemoryUsed,
		metric.WithUnit("By"), metric.WithDescription("Memory used by the Go runtime."))
	e(e2)
	in.memLimit, e2 = m.Int64ObservableUpDownCounter(semconv.MetricGoMemoryLimit,
		metric.WithUnit("By"), metric.WithDescription("Go runtime memory limit configured by the user, if a limit exists."))
	e(e2)
	in.allocated, e2 = m.Int64ObservableCounter(semconv.MetricGoMemoryAllocated,
		metric.WithUnit("By"), metric.WithDescription("Memory allocated to the heap by the application."))
	e(e2)
	in.allocations, e2 = m.Int64ObservableCounter(semconv.MetricGoMemoryAllocations,
		metric.WithUnit("{allocation}"), metric.WithDescription("Count of allocations to the heap by the application."))
	e(e2)
	in.gcGoal, e2 = m.Int64ObservableUpDownCounter(semconv.MetricGoMemoryGCGoal,
		metric.WithUnit("By"), metric.WithDescription("Heap size target for the end of the GC cycle."))
	e(e2)
	in.goroutines, e2 = m.Int64ObservableUpDownCounter(semconv.MetricGoGoroutineCount,
		metric.WithUnit("{goroutine}"), metric.WithDescription("Count of live goroutines."))
	e(e2)
	in.procs, e2 = m.Int64ObservableUpDownCounter(semconv.MetricGoProcessorLimit,
		metric.WithUnit("{thread}"), metric.WithDescription("The number of OS threads that can execute user-level Go code simultaneously."))
	e(e2)
	in.gogc, e2 = m.Int64ObservableUpDownCounter(semconv.MetricGoConfigGogc,
		metric.WithUnit("%"), metric.WithDescription("Heap size target percentage configured by the user, otherwise 100."))
	e(e2)
	in.gcCycles, e2 = m.Int64ObservableCounter(semconv.MetricGCCycles,
		metric.WithUnit("{gc_cycle}"), metric.WithDescription("Completed GC cycles."))
	e(e2)
	in.heapLive, e2 = m.Int64ObservableUpDownCounter(semconv.MetricHeapLive,
		metric.WithUnit("By"), metric.WithDescription("Heap memory marked live by the last GC cycle."))
	e(e2)
	in.heapGrowth, e2 = m.Float64ObservableGauge(semconv.MetricHeapGrowthRate,
		metric.WithUnit("By/s"), metric.WithDescription("Change of the live heap per second over the last rate window."))
	e(e2)
	in.allocRate, e2 = m.Float64ObservableGauge(semconv.MetricAllocRate,
		metric.WithUnit("By/s"), metric.WithDescription("Heap allocation rate over the last rate window."))
	e(e2)
	in.gcCPU, e2 = m.Float64ObservableGauge(semconv.MetricGCCPUFraction,
		metric.WithUnit("1"), metric.WithDescription("Share of the process's CPU time spent in the GC over the last rate window."))
	e(e2)
	in.mutexWait, e2 = m.Float64ObservableCounter(semconv.MetricMutexWait,
		metric.WithUnit("s"), metric.WithDescription("Time goroutines spent blocked on sync.Mutex and sync.RWMutex."))
	e(e2)
	in.blocked, e2 = m.Int64ObservableGauge(semconv.MetricBlockedCount,
		metric.WithUnit("{goroutine}"), metric.WithDescription("Parked goroutines by blocking class, from the latest goroutine dump."))
	e(e2)
	in.leaks, e2 = m.Int64ObservableGauge(semconv.MetricLeakSuspects,
		metric.WithUnit("{stack}"), metric.WithDescription("Blocking stacks on which the number of parked goroutines grows steadily."))
	e(e2)
	if err != nil {
		return nil, err
	}

	obs := func(kv ...attribute.KeyValue) []metric.ObserveOption {
		return []metric.ObserveOption{metric.WithAttributeSet(attribute.NewSet(kv...))}
	}
	in.stackOpt = obs(attribute.String(semconv.AttrGoMemoryType, semconv.GoMemoryTypeStack))
	in.otherOpt = obs(attribute.String(semconv.AttrGoMemoryType, semconv.GoMemoryTypeOther))
	for c := range NumBlockClasses {
		in.classOpt[c] = obs(attribute.String(semconv.AttrBlockClass, c.String()))
	}
	return in, nil
}

func (in *instruments) register(p *Probe) error {
	m := semconv.Meter(p.cfg.meterProvider, ScopeName)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		in.observe(p, o)
		return nil
	}, in.memUsed, in.memLimit, in.allocated, in.allocations, in.gcGoal, in.goroutines,
		in.procs, in.gogc, in.gcCycles, in.heapLive, in.heapGrowth, in.allocRate, in.gcCPU,
		in.mutexWait, in.blocked, in.leaks)
	if err != nil {
		return err
	}
	in.reg = reg
	return nil
}

func (in *instruments) unregister() error {
	if in.reg == nil {
		return nil
	}
	return in.reg.Unregister()
}

// observe reads the runtime (one collection cycle) and reports every
// observable instrument from the fresh snapshot.
func (in *instruments) observe(p *Probe, o metric.Observer) {
	p.mu.Lock()
	p.collectLocked(time.Now())
	s := &p.snap
	o.ObserveInt64(in.memUsed, clampI64(s.MemoryUsedStack), in.stackOpt...)
	o.ObserveInt64(in.memUsed, clampI64(s.MemoryUsedOther), in.otherOpt...)
	if s.MemoryLimit != math.MaxInt64 {
		o.ObserveInt64(in.memLimit, s.MemoryLimit)
	}
	o.ObserveInt64(in.allocated, clampI64(s.Allocated))
	o.ObserveInt64(in.allocations, clampI64(s.Allocations))
	o.ObserveInt64(in.gcGoal, clampI64(s.HeapGoal))
	o.ObserveInt64(in.goroutines, clampI64(s.Goroutines))
	o.ObserveInt64(in.procs, clampI64(s.GOMAXPROCS))
	if s.GOGC >= 0 {
		o.ObserveInt64(in.gogc, s.GOGC)
	}
	o.ObserveInt64(in.gcCycles, clampI64(s.GCCycles))
	o.ObserveInt64(in.heapLive, clampI64(s.HeapLive))
	if s.RateWindow > 0 {
		o.ObserveFloat64(in.heapGrowth, s.HeapGrowthRate)
		o.ObserveFloat64(in.allocRate, s.AllocRate)
		o.ObserveFloat64(in.gcCPU, s.GCCPUFraction)
	}
	o.ObserveFloat64(in.mutexWait, s.MutexWait.Seconds())
	if !s.Blocking.Time.IsZero() {
		for c := range NumBlockClasses {
			o.ObserveInt64(in.blocked, int64(s.Blocking.Counts[c]), in.classOpt[c]...)
		}
		o.ObserveInt64(in.leaks, int64(len(s.Blocking.Leaks)))
	}
	p.mu.Unlock()
}

func clampI64(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}
