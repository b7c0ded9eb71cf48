package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/metrics"
	"strings"
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
	"github.com/verdict-obs/verdict/probes/gcstw"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// Name is the probe's name in [probes.Status].
const Name = "gc"

// ScopeName is the instrumentation scope of the probe's meter.
const ScopeName = semconv.ScopeGC

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

const (
	reasonNotStarted = "not started"
	reasonShutDown   = "shut down"
)

// pauseBuckets (seconds) of verdict.gc.pause.duration, the same as the
// stop-the-world probe's.
var pauseBuckets = []float64{1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1}

// Probe is the gc probe: a [probes.Probe] and the span hook of the GC
// figures. Create it with [New].
//
// Concurrency: Start and Shutdown follow the probes.Probe contract; every
// other method is safe for concurrent use at any time, and a no-op (or a
// zero value) before Start and after Shutdown.
type Probe struct {
	cfg       config
	pauseHist metric.Float64Histogram
	assistCtr metric.Float64ObservableCounter

	life     sync.Mutex
	started  bool
	shutdown bool
	status   atomic.Pointer[probes.Status]
	run      atomic.Pointer[running]

	lastMu sync.Mutex
	last   Snapshot
}

// running is the state of a started probe.
type running struct {
	stw        *gcstw.Probe     // exact windows; nil without eBPF
	rt         *goruntime.Probe // the runtime's pauses when stw is nil; may be nil
	unmeasured attribute.KeyValue
	hasUnm     bool
	exact      bool
	reasonOff  string

	reg       metric.Registration
	stop      chan struct{}
	done      chan struct{}
	pauseHist metric.Float64Histogram

	mu      sync.Mutex // guards the fields below
	samples []metrics.Sample
	hist    []uint64 // /sched/pauses/total/gc counts at the last reading
	start   time.Time
	base    reading    // at the start of the current rate window
	win     rateWindow // the last closed window
	snap    Snapshot
	pauses  uint64 // runtime GC pauses since Start (without eBPF)
	pauseNs int64
	longest time.Duration
}

// reading is one read of the runtime's cumulative GC figures.
type reading struct {
	time       time.Time
	cycles     uint64
	assist     float64 // cpu-seconds
	gcTotal    float64
	cpuTotal   float64
	pauses     uint64
	pauseTotal time.Duration
	longest    time.Duration
}

// New returns a probe that is not started. It fails only when the meter
// provider refuses to create the probe's instruments.
func New(opts ...Option) (*Probe, error) {
	p := &Probe{cfg: newConfig(opts)}
	meter := semconv.Meter(p.cfg.meterProvider, ScopeName)
	var err error
	p.pauseHist, err = meter.Float64Histogram(semconv.MetricGCPauseDuration, metric.WithUnit("s"),
		metric.WithDescription("Length of each stop-the-world pause of the Go runtime."),
		metric.WithExplicitBucketBoundaries(pauseBuckets...))
	if err != nil {
		return nil, fmt.Errorf("gc: create %s: %w", semconv.MetricGCPauseDuration, err)
	}
	p.assistCtr, err = meter.Float64ObservableCounter(semconv.MetricGCAssistTime, metric.WithUnit("s"),
		metric.WithDescription("CPU time the process's goroutines spent in GC assists."))
	if err != nil {
		return nil, fmt.Errorf("gc: create %s: %w", semconv.MetricGCAssistTime, err)
	}
	p.setStatus(probes.StateOff, reasonNotStarted)
	return p, nil
}

// Name returns "gc".
func (p *Probe) Name() string { return Name }

// Status reports whether the probe runs: on with every per-span field
// measured, degraded when some are missing (the reason says which and
// why), off before Start and after Shutdown.
func (p *Probe) Status() probes.Status { return *p.status.Load() }

func (p *Probe) setStatus(s probes.State, reason string) {
	p.status.Store(&probes.Status{Name: Name, State: s, Reason: reason})
}

// Start picks the sources: the eBPF probe's stop-the-world and kernel-time
// parts when they run (give it with [WithEBPF], started first), otherwise
// the runtime probe ([WithRuntime]) and runtime/metrics. It fails only when
// called twice, after Shutdown, with a done ctx, or when the metric
// callback cannot be registered; missing eBPF makes the probe degraded,
// not off.
func (p *Probe) Start(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	switch {
	case p.shutdown:
		return fmt.Errorf("gc: %w", probes.ErrShutDown)
	case p.started:
		return fmt.Errorf("gc: %w", probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	p.started = true

	r := &running{
		rt:        p.cfg.runtime,
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		pauseHist: p.pauseHist,
		samples: []metrics.Sample{
			{Name: "/gc/cycles/total:gc-cycles"},
			{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
			{Name: "/cpu/classes/gc/total:cpu-seconds"},
			{Name: "/cpu/classes/total:cpu-seconds"},
			{Name: "/sched/pauses/total/gc:seconds"},
		},
	}
	var k *kernel.Probe
	ebpfOff := p.cfg.offReason
	if e := p.cfg.ebpf; e != nil {
		r.stw, k = e.STW(), e.Kernel()
		if ebpfOff == "" {
			ebpfOff = e.Status().Reason
		}
	}
	if ebpfOff == "" {
		ebpfOff = "not given an eBPF probe"
	}
	r.exact = r.stw != nil
	var missing []string
	var why []string
	if r.stw == nil {
		r.reasonOff = "eBPF off: " + ebpfOff
		if r.rt == nil {
			missing = append(missing, semconv.UnmeasuredGCPause)
		}
		missing = append(missing, semconv.UnmeasuredGCMark)
	}
	assistWhy := ""
	switch {
	case k == nil:
		assistWhy = "eBPF off: " + ebpfOff
	default:
		if on, reason := k.GCAssist(); !on {
			assistWhy = reason
		}
	}
	if assistWhy != "" && (r.stw != nil || assistWhy != r.reasonOff) {
		// A reason of its own.
		why = append(why, semconv.UnmeasuredGCAssist+": "+assistWhy)
	} else if assistWhy != "" {
		missing = append(missing, semconv.UnmeasuredGCAssist)
	}
	if len(missing) > 0 {
		why = append([]string{strings.Join(missing, ",") + ": " + r.reasonOff}, why...)
	}
	if len(why) > 0 {
		r.unmeasured = attribute.String(semconv.AttrUnmeasured, strings.Join(why, semconv.UnmeasuredSeparator))
		r.hasUnm = true
	}

	r.start = time.Now()
	metrics.Read(r.samples)
	r.base = r.readingLocked(r.start)
	r.hist = append(r.hist, r.samples[4].Value.Float64Histogram().Counts...)
	r.snap = r.snapshotOf(r.base)

	var err error
	assist := p.assistCtr
	r.reg, err = semconv.Meter(p.cfg.meterProvider, ScopeName).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.mu.Lock()
		metrics.Read(r.samples[1:2])
		v := r.samples[1].Value.Float64()
		r.mu.Unlock()
		o.ObserveFloat64(assist, v)
		return nil
	}, assist)
	if err != nil {
		p.setStatus(probes.StateOff, "metrics: "+err.Error())
		return fmt.Errorf("gc: register metrics: %w", err)
	}
	p.run.Store(r)
	go r.loop(p.cfg.interval)
	if len(why) > 0 {
		p.setStatus(probes.StateDegraded, r.unmeasured.Value.AsString())
	} else {
		p.setStatus(probes.StateOn, "")
	}
	return nil
}

// loop records the runtime's GC pauses into the pause histogram when the
// stop-the-world probe does not (no eBPF), and keeps the snapshot fresh.
func (r *running) loop(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			r.mu.Lock()
			r.updateLocked(now)
			r.mu.Unlock()
		}
	}
}

// updateLocked reads the runtime, records the GC pauses it recorded since
// the last reading (without eBPF) and closes the rate window when due.
func (r *running) updateLocked(now time.Time) {
	metrics.Read(r.samples)
	h := r.samples[4].Value.Float64Histogram()
	for i, c := range h.Counts {
		if i >= len(r.hist) {
			break
		}
		n := c - r.hist[i]
		r.hist[i] = c
		if n == 0 || r.exact {
			continue
		}
		d := bucketMid(h.Buckets[i], h.Buckets[i+1])
		r.pauses += n
		r.pauseNs += int64(n) * int64(d)
		r.longest = max(r.longest, time.Duration(h.Buckets[i+1]*1e9))
		for range n {
			r.pauseHist.Record(context.Background(), d.Seconds(), gcReasonOpt)
		}
	}
	cur := r.readingLocked(now)
	if now.Sub(r.base.time) >= MinRateWindow {
		r.win = windowOf(cur, r.base)
		r.base = cur
	}
	r.snap = r.snapshotOf(cur)
}

var gcReasonOpt = metric.WithAttributeSet(attribute.NewSet(attribute.String(semconv.AttrGCPauseReason, semconv.GCPauseReasonGC)))

// bucketMid is the value a pause in [lo, hi) is recorded as: the middle
// of the runtime's bucket (its buckets are narrow: a few per cent).
func bucketMid(lo, hi float64) time.Duration {
	switch {
	case lo < 0:
		lo = 0
	case hi > 1e9: // +Inf
		hi = lo
	}
	return time.Duration((lo + hi) / 2 * 1e9)
}

func (r *running) readingLocked(now time.Time) reading {
	rd := reading{
		time:     now,
		cycles:   r.samples[0].Value.Uint64(),
		assist:   r.samples[1].Value.Float64(),
		gcTotal:  r.samples[2].Value.Float64(),
		cpuTotal: r.samples[3].Value.Float64(),
	}
	if r.exact {
		s := r.stw.Snapshot()
		rd.pauses, rd.pauseTotal, rd.longest = s.Pauses, s.PauseTime, s.LongestPause
	} else {
		rd.pauses, rd.pauseTotal, rd.longest = r.pauses, time.Duration(r.pauseNs), r.longest
	}
	return rd
}

// rateWindow holds the Window fields of a Snapshot.
type rateWindow struct {
	dur                   time.Duration
	pauses                uint64
	pauseTime             time.Duration
	assistFrac, gcCPUFrac float64
}

func windowOf(cur, base reading) rateWindow {
	w := rateWindow{dur: cur.time.Sub(base.time), pauses: cur.pauses - base.pauses, pauseTime: cur.pauseTotal - base.pauseTotal}
	if cpu := cur.cpuTotal - base.cpuTotal; cpu > 0 {
		w.assistFrac = (cur.assist - base.assist) / cpu
		w.gcCPUFrac = (cur.gcTotal - base.gcTotal) / cpu
	}
	return w
}

func (r *running) snapshotOf(cur reading) Snapshot {
	s := Snapshot{
		Time:            cur.time,
		Window:          r.win.dur,
		Exact:           r.exact,
		Cycles:          cur.cycles,
		Pauses:          cur.pauses,
		PauseTime:       cur.pauseTotal,
		LongestPause:    cur.longest,
		WindowPauses:    r.win.pauses,
		WindowPauseTime: r.win.pauseTime,
		AssistTime:      time.Duration(cur.assist * 1e9),
		AssistFraction:  r.win.assistFrac,
		GCCPUFraction:   r.win.gcCPUFrac,
	}
	if r.hasUnm {
		s.Unmeasured = r.unmeasured.Value.AsString()
	}
	return s
}

// SpanHook returns the probe itself: the tracer calls [Probe.SpanEnd] for
// every sampled span.
func (p *Probe) SpanHook() spanhook.Hook { return p }

// SpanStart does nothing: pauses and mark phases are matched by time at
// the span's end (the assist time comes with the kernel-time probe's
// publication of the span's goroutine).
func (p *Probe) SpanStart(trace.SpanContext, time.Time) {}

// SpanEnd appends the span's GC figures (see the package documentation)
// and, when some are not measured, verdict.unmeasured. It does not
// allocate beyond growing dst.
func (p *Probe) SpanEnd(_ trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	r := p.run.Load()
	if r == nil {
		return dst
	}
	switch {
	case r.stw != nil:
		if o, ok := r.stw.Overlap(start, end); ok {
			if o.Pauses > 0 {
				dst = append(dst,
					attribute.Float64(semconv.AttrGCPauseDuration, o.PauseTime.Seconds()),
					attribute.Int(semconv.AttrGCPauseCount, o.Pauses))
			}
			if o.MarkTime > 0 {
				dst = append(dst, attribute.Float64(semconv.AttrGCMarkDuration, o.MarkTime.Seconds()))
			}
		}
	case r.rt != nil:
		if n, total, ok := r.rt.GCPauses(start, end); ok && n > 0 {
			dst = append(dst,
				attribute.Float64(semconv.AttrGCPauseDuration, total.Seconds()),
				attribute.Int(semconv.AttrGCPauseCount, n))
		}
	}
	if r.hasUnm {
		dst = append(dst, r.unmeasured)
	}
	return dst
}

// Shutdown stops the probe's goroutine and unregisters its metric
// callback. It is idempotent and bounded by ctx.
func (p *Probe) Shutdown(ctx context.Context) error {
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
	close(r.stop)
	var errs []error
	select {
	case <-r.done:
	case <-ctx.Done():
		errs = append(errs, ctx.Err())
	}
	errs = append(errs, r.reg.Unregister())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("gc: shutdown: %w", err)
	}
	return nil
}

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger
	ebpf          *ebpf.Probe
	offReason     string
	runtime       *goruntime.Probe
	interval      time.Duration
}

func newConfig(opts []Option) config {
	c := config{interval: time.Second}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
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

// WithLogger sets the logger for the probe's rare diagnostics. nil means
// none.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.logger = l
		}
		return c
	})
}

// WithEBPF gives the eBPF probe whose parts the gc probe reads (its
// stop-the-world part for pauses and mark phases, its kernel-time part for
// assists). Start it first: the gc probe takes the parts that run at its
// own Start, and says in its Status why the others are missing. nil is
// ignored.
func WithEBPF(e *ebpf.Probe) Option {
	return optionFunc(func(c config) config {
		if e != nil {
			c.ebpf = e
		}
		return c
	})
}

// WithoutEBPF says why there is no eBPF probe ("disabled by
// VERDICT_EBPF=off"): the reason the probe gives for what it cannot
// measure.
func WithoutEBPF(reason string) Option {
	return optionFunc(func(c config) config {
		c.offReason = reason
		return c
	})
}

// WithRuntime gives the runtime probe whose GC pause history attributes
// pauses to spans when the stop-the-world probe does not run. nil is
// ignored.
func WithRuntime(rt *goruntime.Probe) Option {
	return optionFunc(func(c config) config {
		if rt != nil {
			c.runtime = rt
		}
		return c
	})
}
