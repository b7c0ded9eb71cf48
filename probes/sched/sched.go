package sched

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// Name is the probe's name in [probes.Status].
const Name = "sched"

// ScopeName is the instrumentation scope of the probe's meter.
const ScopeName = semconv.ScopeSched

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

const (
	reasonNotStarted = "not started"
	reasonShutDown   = "shut down"
)

// Probe is the sched probe. Create it with [New].
//
// Concurrency: Start and Shutdown follow the probes.Probe contract; every
// other method is safe for concurrent use at any time, and a no-op (or a
// zero value) before Start and after Shutdown.
type Probe struct {
	cfg config

	runq, periods, throttled, thrTime metric.Float64ObservableCounter
	limit                             metric.Float64ObservableGauge

	life     sync.Mutex
	started  bool
	shutdown bool
	status   atomic.Pointer[probes.Status]
	run      atomic.Pointer[running]

	lastMu sync.Mutex
	last   Snapshot
}

type running struct {
	kernel     *kernel.Probe // nil without eBPF
	cg         cgroup
	unmeasured attribute.KeyValue
	hasUnm     bool
	reg        metric.Registration

	mu      sync.Mutex // guards the fields below
	samples []metrics.Sample
	base    reading    // start of the current rate window
	win     rateWindow // the last closed window
	last    reading
	snap    Snapshot
}

// reading is one read of the cumulative figures.
type reading struct {
	time     time.Time
	runDelay time.Duration
	runOK    bool
	cpu      cpuStat
	latency  []uint64 // /sched/latencies counts
}

type rateWindow struct {
	dur                time.Duration
	runq               float64
	throttledFrac      float64
	latP50, latP99     time.Duration
	spanRunq           float64
	throttledTimeDelta time.Duration
}

// New returns a probe that is not started. It fails only when the meter
// provider refuses to create the probe's instruments.
func New(opts ...Option) (*Probe, error) {
	p := &Probe{cfg: newConfig(opts)}
	m := semconv.Meter(p.cfg.meterProvider, ScopeName)
	var err error
	counter := func(name, unit, desc string) metric.Float64ObservableCounter {
		c, e := m.Float64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if e != nil && err == nil {
			err = fmt.Errorf("sched: create %s: %w", name, e)
		}
		return c
	}
	p.runq = counter(semconv.MetricSchedRunqueueTime, "s", "Time the process's threads were runnable but waiting for a CPU.")
	p.periods = counter(semconv.MetricSchedCPUPeriods, "{period}", "Enforcement periods of the cgroup's CPU quota that elapsed.")
	p.throttled = counter(semconv.MetricSchedCPUThrottledPeriods, "{period}", "Enforcement periods in which the cgroup was throttled.")
	p.thrTime = counter(semconv.MetricSchedCPUThrottledTime, "s", "Time the cgroup's threads were throttled.")
	if err != nil {
		return nil, err
	}
	p.limit, err = m.Float64ObservableGauge(semconv.MetricSchedCPULimit, metric.WithUnit("{cpu}"),
		metric.WithDescription("The cgroup's CPU quota in CPUs (absent without a quota)."))
	if err != nil {
		return nil, fmt.Errorf("sched: create %s: %w", semconv.MetricSchedCPULimit, err)
	}
	p.setStatus(probes.StateOff, reasonNotStarted)
	return p, nil
}

// Name returns "sched".
func (p *Probe) Name() string { return Name }

// Status reports whether the probe runs: on with eBPF, degraded without it
// (the reason says what spans lack), off before Start and after Shutdown.
func (p *Probe) Status() probes.Status { return *p.status.Load() }

func (p *Probe) setStatus(s probes.State, reason string) {
	p.status.Store(&probes.Status{Name: Name, State: s, Reason: reason})
}

// Start finds the cgroup's CPU controller, takes the kernel-time part of
// the eBPF probe if it runs (give it with [WithEBPF], started first) and
// registers the metrics. It fails only when called twice, after Shutdown,
// with a done ctx, or when the metric callback cannot be registered.
func (p *Probe) Start(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	switch {
	case p.shutdown:
		return fmt.Errorf("sched: %w", probes.ErrShutDown)
	case p.started:
		return fmt.Errorf("sched: %w", probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sched: %w", err)
	}
	p.started = true
	r := &running{
		cg:      findCgroup(p.cfg.procRoot),
		samples: []metrics.Sample{{Name: "/sched/latencies:seconds"}},
	}
	off := p.cfg.offReason
	if e := p.cfg.ebpf; e != nil {
		r.kernel = e.Kernel()
		if off == "" {
			off = e.Status().Reason
		}
	}
	if off == "" {
		off = "not given an eBPF probe"
	}
	if r.kernel == nil {
		r.unmeasured = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredKernel+": eBPF off: "+off)
		r.hasUnm = true
	}
	now := time.Now()
	r.base = r.readLocked(now)
	r.last = r.base
	r.snap = r.snapshotOf(r.base)

	var err error
	r.reg, err = semconv.Meter(p.cfg.meterProvider, ScopeName).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.mu.Lock()
		rd := r.readLocked(time.Now())
		r.last = rd
		r.mu.Unlock()
		if rd.runOK {
			o.ObserveFloat64(p.runq, rd.runDelay.Seconds())
		}
		if rd.cpu.ok {
			o.ObserveFloat64(p.periods, float64(rd.cpu.periods))
			o.ObserveFloat64(p.throttled, float64(rd.cpu.throttled))
			o.ObserveFloat64(p.thrTime, rd.cpu.thrTime.Seconds())
			if rd.cpu.limit > 0 {
				o.ObserveFloat64(p.limit, rd.cpu.limit)
			}
		}
		return nil
	}, p.runq, p.periods, p.throttled, p.thrTime, p.limit)
	if err != nil {
		p.setStatus(probes.StateOff, "metrics: "+err.Error())
		return fmt.Errorf("sched: register metrics: %w", err)
	}
	p.run.Store(r)
	if r.hasUnm {
		p.setStatus(probes.StateDegraded, "eBPF off: "+off+": no per-span off-CPU and run-queue time")
	} else {
		p.setStatus(probes.StateOn, "")
	}
	return nil
}

func (r *running) readLocked(now time.Time) reading {
	rd := reading{time: now, cpu: r.cg.read()}
	rd.runDelay, rd.runOK = runDelay("/proc")
	metrics.Read(r.samples)
	if h := r.samples[0].Value; h.Kind() == metrics.KindFloat64Histogram {
		rd.latency = append(rd.latency, h.Float64Histogram().Counts...)
	}
	return rd
}

var latencyBuckets = func() []float64 {
	s := []metrics.Sample{{Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	return s[0].Value.Float64Histogram().Buckets
}()

// quantile estimates the q-quantile of the counts added between base and
// cur (upper bound of the bucket where it falls).
func quantile(base, cur []uint64, q float64) time.Duration {
	if len(base) != len(cur) || len(cur)+1 != len(latencyBuckets) {
		return 0
	}
	var total uint64
	for i := range cur {
		total += cur[i] - base[i]
	}
	if total == 0 {
		return 0
	}
	want := uint64(q*float64(total)) + 1
	var seen uint64
	for i := range cur {
		seen += cur[i] - base[i]
		if seen >= want {
			hi := latencyBuckets[i+1]
			if hi > 1e9 {
				hi = latencyBuckets[i]
			}
			return time.Duration(hi * 1e9)
		}
	}
	return 0
}

func (r *running) windowOf(cur reading) rateWindow {
	b := r.base
	w := rateWindow{dur: cur.time.Sub(b.time)}
	sec := w.dur.Seconds()
	if sec <= 0 {
		return w
	}
	if cur.runOK && b.runOK {
		w.runq = max(0, (cur.runDelay-b.runDelay).Seconds()/sec)
	}
	if cur.cpu.ok && b.cpu.ok && cur.cpu.periods > b.cpu.periods {
		w.throttledFrac = float64(cur.cpu.throttled-b.cpu.throttled) / float64(cur.cpu.periods-b.cpu.periods)
	}
	if cur.cpu.ok && b.cpu.ok {
		w.throttledTimeDelta = cur.cpu.thrTime - b.cpu.thrTime
	}
	w.latP50 = quantile(b.latency, cur.latency, 0.5)
	w.latP99 = quantile(b.latency, cur.latency, 0.99)
	if r.kernel != nil {
		w.spanRunq = r.kernel.Snapshot().RunQueueRate
	}
	return w
}

func (r *running) snapshotOf(cur reading) Snapshot {
	s := Snapshot{
		Time:             cur.time,
		Window:           r.win.dur,
		GOMAXPROCS:       runtime.GOMAXPROCS(0),
		CPUs:             runtime.NumCPU(),
		CgroupVersion:    r.cg.version,
		CPULimit:         cur.cpu.limit,
		Periods:          cur.cpu.periods,
		Throttled:        cur.cpu.throttled,
		ThrottledTime:    cur.cpu.thrTime,
		RunQueueTime:     cur.runDelay,
		RunQueueRate:     r.win.runq,
		ThrottledRatio:   r.win.throttledFrac,
		SchedLatencyP50:  r.win.latP50,
		SchedLatencyP99:  r.win.latP99,
		SpanRunQueueRate: r.win.spanRunq,
		EBPF:             r.kernel != nil,
	}
	if r.hasUnm {
		s.Unmeasured = r.unmeasured.Value.AsString()
	}
	return s
}

// SpanHook returns the probe itself: without eBPF its SpanEnd says what
// spans lack; with eBPF it adds nothing (the kernel-time probe's hook adds
// the per-span figures).
func (p *Probe) SpanHook() spanhook.Hook { return p }

// SpanStart does nothing.
func (p *Probe) SpanStart(trace.SpanContext, time.Time) {}

// SpanEnd appends verdict.unmeasured ("kernel: eBPF off: ...") when the
// per-span kernel figures are not measured. It does not allocate beyond
// growing dst.
func (p *Probe) SpanEnd(_ trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	if r := p.run.Load(); r != nil && r.hasUnm {
		dst = append(dst, r.unmeasured)
	}
	return dst
}

// Shutdown unregisters the metric callback and keeps the last Snapshot. It
// is idempotent.
func (p *Probe) Shutdown(context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	if p.shutdown {
		return nil
	}
	p.shutdown = true
	r := p.run.Load()
	if r == nil {
		if st := p.Status(); st.Reason == reasonNotStarted {
			p.setStatus(probes.StateOff, reasonShutDown)
		}
		return nil
	}
	last := p.Snapshot()
	p.lastMu.Lock()
	p.last = last
	p.lastMu.Unlock()
	p.run.Store(nil)
	p.setStatus(probes.StateOff, reasonShutDown)
	if err := r.reg.Unregister(); err != nil {
		return fmt.Errorf("sched: shutdown: %w", err)
	}
	return nil
}

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	ebpf          *ebpf.Probe
	offReason     string
	procRoot      string
}

func newConfig(opts []Option) config {
	c := config{procRoot: "/proc"}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	return c
}

// Option configures [New].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithMeterProvider sets the MeterProvider of the probe's metrics. nil is
// ignored; the default is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.meterProvider = mp
		}
		return c
	})
}

// WithEBPF gives the eBPF probe whose kernel-time part gives spans their
// off-CPU and run-queue time. Start it first. nil is ignored.
func WithEBPF(e *ebpf.Probe) Option {
	return optionFunc(func(c config) config {
		if e != nil {
			c.ebpf = e
		}
		return c
	})
}

// WithoutEBPF says why there is no eBPF probe ("disabled by
// VERDICT_EBPF=off"): the reason spans give for their missing kernel
// figures.
func WithoutEBPF(reason string) Option {
	return optionFunc(func(c config) config {
		c.offReason = reason
		return c
	})
}
