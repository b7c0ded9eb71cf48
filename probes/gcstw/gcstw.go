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

	"github.com/verdict-obs/verdict/bpf/uprobe/stw"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

const (
	name      = "gcstw"
	scopeName = "github.com/verdict-obs/verdict/probes/gcstw"
)

var (
	_ probes.Probe  = (*Probe)(nil)
	_ spanhook.Hook = (*Probe)(nil)
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
	cfg config

	mu     sync.Mutex // Start/Shutdown
	status atomic.Pointer[probes.Status]
	run    atomic.Pointer[running]
}

// running is the state of a started probe.
type running struct {
	tr   tracer
	ring *ring
	// Clock bridge: a time.Time and CLOCK_MONOTONIC read together. t.Sub
	// uses Go's monotonic reading, so conversions ignore wall-clock steps.
	wallRef time.Time
	monoRef int64

	addFn     func(stw.Window) // bound once: Drain must not allocate
	logger    *slog.Logger
	loggedErr atomic.Bool // drain errors are logged once
	hist      metric.Float64Histogram
	reg       metric.Registration
	lostSeen  atomic.Int64
	stop      chan struct{}
	done      chan struct{}
}

// New returns a probe that is not started.
func New(opts ...Option) *Probe {
	p := &Probe{cfg: newConfig(opts)}
	p.setStatus(probes.StateOff, "not started")
	return p
}

// Name returns "gcstw".
func (p *Probe) Name() string { return name }

// Status reports whether the probe runs and, if not, why.
func (p *Probe) Status() probes.Status { return *p.status.Load() }

func (p *Probe) setStatus(s probes.State, reason string) {
	p.status.Store(&probes.Status{Name: name, State: s, Reason: reason})
}

// Start loads the programs, attaches the uprobes to the own process and
// starts draining. The error wraps os.ErrPermission or bpf.ErrNotSupported
// when the kernel or the privileges do not allow it; the probe then stays
// off, Status says why, and SpanEnd adds nothing. Calling Start on a running
// probe is an error.
func (p *Probe) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.run.Load() != nil {
		return errors.New("gcstw: already started")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tr, err := stw.Open(nil)
	if err != nil {
		p.setStatus(probes.StateOff, err.Error())
		return fmt.Errorf("gcstw: %w", err)
	}
	r, err := p.newRunning(tr)
	if err != nil {
		tr.Close()
		p.setStatus(probes.StateOff, err.Error())
		return fmt.Errorf("gcstw: %w", err)
	}
	p.run.Store(r)
	go r.loop(p.cfg.interval)
	p.setStatus(probes.StateOn, "")
	return nil
}

func (p *Probe) newRunning(tr tracer) (*running, error) {
	r := &running{
		tr:      tr,
		ring:    newRing(p.cfg.capacity),
		wallRef: time.Now(),
		monoRef: stw.MonotonicNow(),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		logger:  p.cfg.logger,
	}
	meter := p.cfg.meterProvider.Meter(scopeName)
	var err error
	r.hist, err = meter.Float64Histogram(semconv.MetricGCSTWDuration,
		metric.WithUnit("s"),
		metric.WithDescription("Length of each stop-the-world pause of the Go runtime, measured by uprobes."),
		metric.WithExplicitBucketBoundaries(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", semconv.MetricGCSTWDuration, err)
	}
	lost, err := meter.Int64ObservableCounter(semconv.MetricGCSTWLost,
		metric.WithUnit("{pause}"),
		metric.WithDescription("Stop-the-world pauses whose window was lost (ring buffer full, or no beginning seen)."))
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", semconv.MetricGCSTWLost, err)
	}
	r.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := r.tr.Stats()
		o.ObserveInt64(lost, int64(s.Lost+s.Unmatched))
		return nil
	}, lost)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", semconv.MetricGCSTWLost, err)
	}
	r.addFn = r.add
	return r, nil
}

// reasonAttrs are the precomputed metric attribute sets, one per reason.
var reasonAttrs = func() (s [256]metric.MeasurementOption) {
	for i := range s {
		s[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String(semconv.AttrGCSTWReason, stw.Reason(i).String())))
	}
	return s
}()

func (r *running) add(w stw.Window) {
	if w.End < w.Start {
		return // cannot happen; never let it corrupt the ordering
	}
	r.ring.add(window{start: w.Start, end: w.End})
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
func (r *running) mono(t time.Time) int64 { return r.monoRef + int64(t.Sub(r.wallRef)) }

// SpanStart does nothing: pauses are matched by time at the span's end.
func (p *Probe) SpanStart(trace.SpanContext, time.Time) {}

// SpanEnd appends verdict.gc.stw.duration and verdict.gc.stw.count when at
// least one pause overlapped [start, end]. It does not allocate beyond
// growing dst and never blocks for longer than draining the few windows that
// wait in the ring buffer.
func (p *Probe) SpanEnd(_ trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	r := p.run.Load()
	if r == nil || !end.After(start) {
		return dst
	}
	if r.tr.Pending() {
		r.drain()
	}
	total, n := r.ring.overlap(r.mono(start), r.mono(end))
	if n == 0 {
		return dst
	}
	return append(dst,
		attribute.Float64(semconv.AttrGCSTWDuration, float64(total)/1e9),
		attribute.Int(semconv.AttrGCSTWCount, n))
}

// Shutdown stops draining, detaches the uprobes and releases every kernel
// resource. It is idempotent and returns ctx's error if the drain goroutine
// does not stop in time (resources are then released when it does).
func (p *Probe) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.run.Swap(nil)
	if r == nil {
		return nil
	}
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

// Stats are the kernel-side counters of a running probe.
type Stats struct {
	// Windows is the number of pauses seen since Start.
	Windows uint64
	// Lost counts pauses dropped in the kernel (ring buffer full) or seen
	// without a beginning.
	Lost uint64
	// Foreign counts probe hits from other processes running the same
	// executable; it stays 0 (the PID filter keeps them out).
	Foreign uint64
}

// Stats returns the counters, or zeros when the probe is not running.
func (p *Probe) Stats() Stats {
	r := p.run.Load()
	if r == nil {
		return Stats{}
	}
	s := r.tr.Stats()
	return Stats{Windows: s.Windows, Lost: s.Lost + s.Unmatched, Foreign: s.Foreign}
}
