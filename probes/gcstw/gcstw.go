package gcstw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/monoclock"
	"github.com/verdict-obs/verdict/bpf/stw"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

// Name is the probe's name in [probes.Status].
const Name = "gcstw"

// ScopeName is the instrumentation scope of the probe's meter,
// "github.com/verdict-obs/verdict/probes/gcstw", at verdict's version.
const ScopeName = semconv.ScopeGCSTW

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

// tracer is what the probe needs from package stw; tests and unsupported
// platforms see the same surface.
type tracer interface {
	Pending() bool
	Drain(func(stw.Window)) (int, error)
	Stats() stw.Stats
	Close() error
}

// Probe is the stop-the-world probe: a [probes.Probe] and a [spanhook.Hook].
//
// Start and Shutdown follow the probes.Probe contract; SpanStart, SpanEnd and
// Status are safe for concurrent use at any time, before Start and after
// Shutdown included.
type Probe struct {
	cfg  config
	hist metric.Float64Histogram
	lost metric.Int64ObservableCounter

	mu       sync.Mutex // Start/Shutdown, and guards shutdown
	started  bool
	shutdown bool
	status   atomic.Pointer[probes.Status]
	run      atomic.Pointer[running]

	lastMu sync.Mutex
	last   Snapshot // taken at Shutdown
}

// running is the state of a started probe.
type running struct {
	tr   tracer
	ring *ring
	// Clock bridge: a time.Time and CLOCK_MONOTONIC read together. t.Sub
	// uses Go's monotonic reading, so conversions ignore wall-clock steps.
	clock monoclock.Clock

	addFn     func(stw.Window) // bound once: Drain must not allocate
	logger    *slog.Logger
	loggedErr atomic.Bool // drain errors are logged once
	hist      metric.Float64Histogram
	reg       metric.Registration
	lostSeen  atomic.Int64
	stop      chan struct{}
	done      chan struct{}

	stats pauseStats // last: SpanEnd's fields above stay together
}

// New returns a probe that is not started; it touches nothing in the kernel
// until [Probe.Start]. It fails only when the meter provider refuses to
// create the probe's instruments.
func New(opts ...Option) (*Probe, error) {
	p := &Probe{cfg: newConfig(opts)}
	meter := semconv.Meter(p.cfg.meterProvider, ScopeName)
	var err error
	p.hist, err = meter.Float64Histogram(semconv.MetricGCPauseDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Length of each stop-the-world pause of the Go runtime, measured by uprobes."),
		metric.WithExplicitBucketBoundaries(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1))
	if err != nil {
		return nil, fmt.Errorf("gcstw: create %s: %w", semconv.MetricGCPauseDuration, err)
	}
	p.lost, err = meter.Int64ObservableCounter(semconv.MetricGCPauseLost,
		metric.WithUnit("{pause}"),
		metric.WithDescription("Stop-the-world pauses whose window was lost (ring buffer full, or no beginning seen)."))
	if err != nil {
		return nil, fmt.Errorf("gcstw: create %s: %w", semconv.MetricGCPauseLost, err)
	}
	p.setStatus(probes.StateOff, "not started")
	return p, nil
}

// SpanHook returns the probe itself: the tracer calls [Probe.SpanEnd] for
// every sampled span.
func (p *Probe) SpanHook() spanhook.Hook { return p }

// Name returns "gcstw".
func (p *Probe) Name() string { return Name }

// Status reports whether the probe runs and, if not, why.
func (p *Probe) Status() probes.Status { return *p.status.Load() }

func (p *Probe) setStatus(s probes.State, reason string) {
	p.status.Store(&probes.Status{Name: Name, State: s, Reason: reason})
}

// Start loads the programs, attaches the uprobes to the own process and
// starts draining. The error wraps os.ErrPermission or bpf.ErrNotSupported
// when the kernel or the privileges do not allow it; the probe then stays
// off, Status says why, and SpanEnd adds nothing. A probe starts once: a
// second Start returns probes.ErrStarted, Start after Shutdown
// probes.ErrShutDown.
func (p *Probe) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.shutdown:
		return fmt.Errorf("gcstw: %w", probes.ErrShutDown)
	case p.started:
		return fmt.Errorf("gcstw: %w", probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("gcstw: %w", err)
	}
	p.started = true
	tr, err := stw.Open(nil)
	if err != nil {
		p.setStatus(probes.StateOff, bpf.Reason(err))
		return fmt.Errorf("gcstw: %w", err)
	}
	r, err := p.newRunning(tr)
	if err != nil {
		tr.Close()
		p.setStatus(probes.StateOff, "metrics: "+err.Error())
		return fmt.Errorf("gcstw: %w", err)
	}
	r.snapshot() // the first window starts here
	p.run.Store(r)
	go r.loop(p.cfg.interval)
	p.setStatus(probes.StateOn, "")
	return nil
}

func (p *Probe) newRunning(tr tracer) (*running, error) {
	r := &running{
		tr:     tr,
		ring:   newRing(p.cfg.capacity),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		logger: p.cfg.logger,
		hist:   p.hist,
	}
	lost := p.lost
	var err error
	if r.clock, err = monoclock.New(); err != nil {
		return nil, fmt.Errorf("gcstw: %w", err)
	}
	r.reg, err = semconv.Meter(p.cfg.meterProvider, ScopeName).RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := r.tr.Stats()
		o.ObserveInt64(lost, int64(s.Lost+s.Unmatched))
		return nil
	}, lost)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", semconv.MetricGCPauseLost, err)
	}
	r.addFn = r.add
	return r, nil
}

// reasonAttrs are the precomputed metric attribute sets, one per reason.
var reasonAttrs = func() (s [256]metric.MeasurementOption) {
	for i := range s {
		s[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String(semconv.AttrGCPauseReason, stw.Reason(i).String())))
	}
	return s
}()

func (r *running) add(w stw.Window) {
	if w.End < w.Start {
		return // cannot happen; never let it corrupt the ordering
	}
	r.ring.add(window{start: w.Start, end: w.End, reason: w.Reason})
	r.stats.add(w)
	r.hist.Record(context.Background(), float64(w.Duration())/1e9, reasonAttrs[w.Reason])
}

func (r *running) drain() {
	if _, err := r.tr.Drain(r.addFn); err != nil && !errors.Is(err, os.ErrClosed) && r.loggedErr.CompareAndSwap(false, true) {
		r.logger.Warn("gcstw: draining stop-the-world windows failed; later failures are not logged", "error", err)
	}
}

func (r *running) loop(interval time.Duration) {
	defer close(r.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			if r.tr.Pending() {
				r.drain()
			}
		}
	}
}

// mono converts a span time to CLOCK_MONOTONIC nanoseconds.
func (r *running) mono(t time.Time) int64 { return r.clock.Mono(t) }

// SpanStart does nothing: pauses are matched by time at the span's end.
func (p *Probe) SpanStart(trace.SpanContext, time.Time) {}

// SpanEnd appends verdict.gc.pause.duration and verdict.gc.pause.count
// when at least one pause overlapped [start, end] (see [Probe.Overlap]).
// It does not allocate beyond growing dst and never blocks for longer than
// draining the few windows that wait in the ring buffer.
//
// The tracer does not call it: package probes/gc reads [Probe.Overlap] and
// gives spans their GC figures. It serves other span pipelines.
func (p *Probe) SpanEnd(_ trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	o, ok := p.Overlap(start, end)
	if !ok || o.Pauses == 0 {
		return dst
	}
	return append(dst,
		attribute.Float64(semconv.AttrGCPauseDuration, o.PauseTime.Seconds()),
		attribute.Int(semconv.AttrGCPauseCount, o.Pauses))
}

// Overlap is what overlapped an interval (a span): the parts of the
// stop-the-world pauses inside it and of the GC mark phases.
type Overlap struct {
	// Pauses and PauseTime: every stop-the-world pause, whatever its
	// reason; GCPauses and GCPauseTime: those of the GC (sweep and mark
	// termination).
	Pauses, GCPauses       int
	PauseTime, GCPauseTime time.Duration
	// MarkTime is the part of the interval during which the GC was
	// marking: from the end of a sweep termination to the start of the
	// next mark termination (or, while marking goes on, the interval's
	// end). Marks counts those phases.
	MarkTime time.Duration
	Marks    int
}

// Overlap returns the pauses and mark phases that overlapped [start, end],
// only their parts inside it; ok is false when the probe does not run.
// Windows waiting in the kernel's ring buffer are drained first. It does
// not allocate and is safe for concurrent use.
func (p *Probe) Overlap(start, end time.Time) (o Overlap, ok bool) {
	r := p.run.Load()
	if r == nil {
		return o, false
	}
	if !end.After(start) {
		return o, true
	}
	if r.tr.Pending() {
		r.drain()
	}
	s := r.ring.overlap(r.mono(start), r.mono(end))
	return Overlap{
		Pauses: s.pauses, GCPauses: s.gcPauses,
		PauseTime: time.Duration(s.pauseTime), GCPauseTime: time.Duration(s.gcPauseTime),
		MarkTime: time.Duration(s.markTime), Marks: s.marks,
	}, true
}

// Shutdown stops draining, detaches the uprobes and releases every kernel
// resource. It is idempotent and returns ctx's error if the drain goroutine
// does not stop in time (resources are then released when it does).
func (p *Probe) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shutdown = true
	r := p.run.Load()
	if r == nil {
		if st := p.Status(); st.Reason == "not started" {
			p.setStatus(probes.StateOff, "shut down")
		}
		return nil
	}
	last := r.snapshot()
	p.lastMu.Lock()
	p.last = last
	p.lastMu.Unlock()
	p.run.Store(nil)
	p.setStatus(probes.StateOff, "shut down")
	close(r.stop)
	select {
	case <-r.done:
	case <-ctx.Done():
		go func() { <-r.done; r.release() }()
		return ctx.Err()
	}
	return r.release()
}

func (r *running) release() error {
	return errors.Join(r.reg.Unregister(), r.tr.Close())
}
