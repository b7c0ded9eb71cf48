package goruntime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

// Name is the probe's name in [probes.Status].
const Name = "runtime"

// Errors returned by the probe; test with errors.Is. Start returns
// probes.ErrStarted and probes.ErrShutDown, wrapped, like every probe.
var (
	// ErrFlightRecorderOff is returned by the flight-record writers when
	// the flight recorder is not running (option not set, not started,
	// shut down, or another flight recorder owns the process's one slot).
	ErrFlightRecorderOff = errors.New("goruntime: flight recorder not running")
)

// Probe reads the Go runtime without stopping the world (but for the two
// short stops of the blocking analysis's goroutine profile): runtime/metrics
// values and rates exported as OpenTelemetry metrics and kept in a
// [Snapshot], GC pauses attributed to spans (Probe is a spanhook.Hook),
// periodic allocation-hotspot and goroutine-blocking analyses, and an
// optional execution-trace flight recorder.
//
// It never calls runtime.ReadMemStats. Start and Shutdown follow the
// [probes.Probe] contract; every other method is safe for concurrent use
// and is a cheap no-op (or returns zero values) before Start and after
// Shutdown.
type Probe struct {
	cfg config

	mu      sync.Mutex // guards sampler, snap, pending pause stats
	sampler *sampler
	snap    Snapshot
	pending pauseWindow

	pauses   *gcPauses
	anaMu    sync.Mutex // serialises the hotspot and blocking analyses
	hot      *hotspotter
	blk      *blockAnalyzer
	leak     *blockAnalyzer // leak checks (leak.go); anaMu guards it and below
	leakBase map[uint64]int
	leakAt   time.Time
	// The last blocking analysis: when, and the goroutines then (the
	// loop's surge check; anaMu guards them).
	blkAt    time.Time
	blkG     int
	inst     *instruments
	flight   flightRecorder
	running  atomic.Bool
	status   atomic.Pointer[probes.Status]
	lifeMu   sync.Mutex // guards the fields below
	started  bool
	shutdown bool
	stop     chan struct{}
	done     chan struct{}
	restore  []func()
}

type pauseWindow struct {
	count int
	total time.Duration
	max   time.Duration
}

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

// New returns a runtime probe configured by opts; it starts nothing until
// [Probe.Start]. It fails only when the meter provider refuses to create
// the probe's instruments.
func New(opts ...Option) (*Probe, error) {
	cfg := newConfig(opts)
	p := &Probe{
		cfg:    cfg,
		pauses: newGCPauses(),
	}
	p.setStatus(probes.StateOff, "not started")
	p.sampler = newSampler(max(cfg.sampleInterval/2, 10*time.Millisecond))
	p.snap = p.sampler.cur
	p.snap.Time = time.Time{}
	if cfg.hotspotInterval > 0 {
		p.hot = newHotspotter(cfg.hotspotTopN)
	}
	if cfg.blockingInterval > 0 {
		p.blk = newBlockAnalyzer(cfg.blockingTopN, cfg.stackDumpLimit, cfg.leakWindow, cfg.leakMinGrowth)
		p.blk.useDump = cfg.goroutineDump
		p.blk.label = cfg.goroutineLabel
	}
	if !cfg.metricsDisabled {
		inst, err := newInstruments(cfg.meterProvider)
		if err != nil {
			return nil, fmt.Errorf("goruntime: create instruments: %w", err)
		}
		p.inst = inst
	}
	return p, nil
}

// Name returns "runtime".
func (p *Probe) Name() string { return Name }

// Start applies the runtime settings asked for by options, starts the
// flight recorder if enabled, registers the metric callback and starts the
// background loop. A flight recorder that cannot start leaves the probe
// running in [probes.StateDegraded].
func (p *Probe) Start(ctx context.Context) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.shutdown {
		return fmt.Errorf("goruntime: %w", probes.ErrShutDown)
	}
	if p.started {
		return fmt.Errorf("goruntime: %w", probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("goruntime: start: %w", err)
	}
	p.started = true
	var degraded []string

	if p.cfg.setMutexFrac {
		prev := runtime.SetMutexProfileFraction(p.cfg.mutexFraction)
		p.restore = append(p.restore, func() { runtime.SetMutexProfileFraction(prev) })
	}
	if p.cfg.setBlockRate {
		runtime.SetBlockProfileRate(p.cfg.blockRate)
		p.restore = append(p.restore, func() { runtime.SetBlockProfileRate(0) })
	}
	if p.cfg.flightRecorder {
		if err := p.flight.start(p.cfg.flightMinAge, p.cfg.flightMaxBytes); err != nil {
			degraded = append(degraded, "flight recorder: "+err.Error())
			p.cfg.logger.Warn("runtime probe: flight recorder not started", "error", err)
		}
	}

	now := time.Now()
	p.mu.Lock()
	p.sampler.update(now)
	p.sampler.rebase(now)
	p.pauses.mu.Lock()
	p.pauses.refreshLocked()
	p.pauses.drainedGC = p.pauses.numGC.Load()
	p.pauses.mu.Unlock()
	p.snap = p.sampler.cur
	p.mu.Unlock()
	if p.hot != nil {
		if runtime.MemProfileRate == 0 {
			degraded = append(degraded, "allocation hotspots: heap profiling is off (runtime.MemProfileRate = 0)")
		}
		p.anaMu.Lock()
		p.hot.round(now) // baseline
		p.anaMu.Unlock()
	}

	if p.inst != nil {
		if err := p.inst.register(p); err != nil {
			p.cfg.logger.Warn("runtime probe: metrics not registered", "error", err)
			degraded = append(degraded, "metrics: "+err.Error())
		}
	}
	if len(degraded) > 0 {
		p.setStatus(probes.StateDegraded, strings.Join(degraded, "; "))
	} else {
		p.setStatus(probes.StateOn, "")
	}
	p.stop = make(chan struct{})
	p.done = make(chan struct{})
	p.running.Store(true)
	go p.loop(p.stop, p.done)
	return nil
}

// Shutdown stops the background loop, unregisters the metric callback,
// stops the flight recorder and restores the runtime settings changed on
// Start. It is idempotent and returns ctx's error if the loop does not stop
// in time (the loop then still stops on its own).
func (p *Probe) Shutdown(ctx context.Context) error {
	p.lifeMu.Lock()
	defer p.lifeMu.Unlock()
	if p.shutdown {
		return nil
	}
	p.shutdown = true
	p.setStatus(probes.StateOff, "shut down")
	if !p.started {
		return nil
	}
	p.running.Store(false)
	close(p.stop)
	var errs []error
	select {
	case <-p.done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("goruntime: shutdown: %w", ctx.Err()))
	}
	if p.inst != nil {
		if err := p.inst.unregister(); err != nil {
			errs = append(errs, fmt.Errorf("goruntime: unregister metrics: %w", err))
		}
	}
	p.flight.stop()
	for i := len(p.restore) - 1; i >= 0; i-- {
		p.restore[i]()
	}
	p.restore = nil
	return errors.Join(errs...)
}

// Status reports whether the probe runs. It never blocks.
func (p *Probe) Status() probes.Status {
	return *p.status.Load()
}

func (p *Probe) setStatus(st probes.State, reason string) {
	p.status.Store(&probes.Status{Name: Name, State: st, Reason: reason})
}

// Snapshot returns the latest snapshot. It does not read the runtime: it
// costs a mutex and a copy. Before Start it returns a zero Snapshot.
func (p *Probe) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.snap
}

func (p *Probe) loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	sample := time.NewTicker(p.cfg.sampleInterval)
	defer sample.Stop()
	var hotC, blkC <-chan time.Time
	if p.hot != nil {
		t := time.NewTicker(p.cfg.hotspotInterval)
		defer t.Stop()
		hotC = t.C
	}
	if p.blk != nil {
		t := time.NewTicker(p.cfg.blockingInterval)
		defer t.Stop()
		blkC = t.C
		p.analyzeBlocking(time.Now()) // first history point right away
	}
	for {
		select {
		case <-stop:
			return
		case now := <-sample.C:
			p.collect(now)
			if p.blk != nil && p.surged(now) {
				p.analyzeBlocking(now)
			}
		case now := <-hotC:
			p.analyzeHotspots(now)
		case now := <-blkC:
			p.analyzeBlocking(now)
		}
	}
}

// collect reads the runtime once, updates the snapshot and records the GC
// pauses of cycles that finished since the previous collection. It
// allocates nothing.
func (p *Probe) collect(now time.Time) {
	p.mu.Lock()
	p.collectLocked(now)
	p.mu.Unlock()
}

func (p *Probe) collectLocked(now time.Time) {
	prevBase := p.sampler.baseTime
	p.sampler.update(now)

	g := p.pauses
	g.mu.Lock()
	if p.sampler.cur.GCCycles != uint64(g.numGC.Load()) {
		g.refreshLocked()
	}
	fresh := g.stats.NumGC - g.drainedGC
	if fresh > 0 {
		n := int64(min(len(g.stats.Pause), len(g.stats.PauseEnd)))
		if fresh > n {
			p.snap.GCPausesLost += uint64(fresh - n)
			fresh = n
		}
		for i := int(fresh) - 1; i >= 0; i-- {
			d := g.stats.Pause[i]
			p.pending.count++
			p.pending.total += d
			p.pending.max = max(p.pending.max, d)
			p.snap.GCPausesTotal++
		}
		g.drainedGC = g.stats.NumGC
	}
	g.mu.Unlock()

	// Copy the sampler's values without clobbering the analysis results
	// and pause bookkeeping held in snap.
	hot, blk := p.snap.Hotspots, p.snap.Blocking
	total, lost := p.snap.GCPausesTotal, p.snap.GCPausesLost
	pc, pt, pm := p.snap.GCPauses, p.snap.GCPauseTotal, p.snap.GCPauseMax
	p.snap = p.sampler.cur
	p.snap.Hotspots, p.snap.Blocking = hot, blk
	p.snap.GCPausesTotal, p.snap.GCPausesLost = total, lost
	p.snap.GCPauses, p.snap.GCPauseTotal, p.snap.GCPauseMax = pc, pt, pm
	if p.sampler.baseTime != prevBase { // a rate window closed
		p.snap.GCPauses = p.pending.count
		p.snap.GCPauseTotal = p.pending.total
		p.snap.GCPauseMax = p.pending.max
		p.pending = pauseWindow{}
	}
}

func (p *Probe) analyzeHotspots(now time.Time) {
	p.anaMu.Lock()
	res, ok := p.hot.round(now)
	p.anaMu.Unlock()
	if !ok {
		return
	}
	p.mu.Lock()
	p.snap.Hotspots = res
	p.mu.Unlock()
	if len(res.Sites) > 0 && p.cfg.logger.Enabled(context.Background(), slog.LevelDebug) {
		top := res.Sites[0]
		p.cfg.logger.Debug("runtime probe: allocation hotspots",
			"top_function", top.Function, "top_bytes_per_second", top.BytesPerSecond,
			"total_bytes_per_second", res.TotalBytesPerSecond, "sites", len(res.Sites))
	}
}

// Surge analyses: a blocking analysis also runs early, at most once per
// surgeInterval, when the goroutines rose by surgeMin and by a tenth since
// the last one, so that the stacks a surge of goroutines parks on are
// known within about a second (the judge's goroutine.leak rule tells a
// leak from new connections by them).
const (
	surgeInterval = time.Second
	surgeMin      = 20
)

// surged reports whether a surge analysis is due.
func (p *Probe) surged(now time.Time) bool {
	p.anaMu.Lock()
	defer p.anaMu.Unlock()
	if p.blkAt.IsZero() || now.Sub(p.blkAt) < surgeInterval {
		return false
	}
	rise := runtime.NumGoroutine() - p.blkG
	return rise >= surgeMin && rise*10 >= p.blkG
}

func (p *Probe) analyzeBlocking(now time.Time) {
	p.anaMu.Lock()
	res, newLeaks := p.blk.round(now)
	p.blkAt, p.blkG = now, runtime.NumGoroutine()
	p.anaMu.Unlock()
	p.mu.Lock()
	p.snap.Blocking = res
	p.mu.Unlock()
	for _, l := range newLeaks {
		p.cfg.logger.Warn("runtime probe: goroutine leak suspected",
			"wait_reason", l.WaitReason, "goroutines", l.Count, "growth", l.Growth, "stack", l.Stack)
	}
}

// SpanHook returns the probe itself when GC pause attribution is on (the
// default; see WithoutGCAttribution), nil otherwise: the tracer then calls
// [Probe.SpanEnd] for every sampled span.
func (p *Probe) SpanHook() spanhook.Hook {
	if !p.cfg.gcAttribution {
		return nil
	}
	return p
}

// SpanStart implements spanhook.Hook. GC attribution needs only the span's
// start and end times, so it does nothing.
func (p *Probe) SpanStart(trace.SpanContext, time.Time) {}

// SpanEnd implements spanhook.Hook: when stop-the-world GC pauses overlapped
// [start, end], it appends verdict.gc.pause.duration (seconds, float64) and
// verdict.gc.pause.count (int) to dst; otherwise it returns dst unchanged.
// It allocates nothing beyond growing dst and takes no lock on the common
// path; the GC count is checked against the runtime at most once per 100 µs
// process-wide, so a GC cycle ending in the last 100 µs of a span can be
// missed. Pauses are known per GC cycle (both pauses of a cycle summed, and
// the end of the last one), as runtime/debug.ReadGCStats reports them.
func (p *Probe) SpanEnd(_ trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	if !p.cfg.gcAttribution {
		return dst
	}
	n, total, ok := p.GCPauses(start, end)
	if !ok || n == 0 {
		return dst
	}
	return append(dst,
		attribute.Float64(semconv.AttrGCPauseDuration, total.Seconds()),
		attribute.Int(semconv.AttrGCPauseCount, n))
}

// GCPauses returns how many GC cycles' stop-the-world pauses overlapped
// [start, end] and the pause time inside it, from the runtime's pause
// history, as [Probe.SpanEnd] attributes them (per cycle: both pauses
// summed, ending at the cycle's last pause; a cycle ending in the last
// 100 µs of the interval can be missed). ok is false when the probe does
// not run. It works with WithoutGCPauseAttribution too (package probes/gc
// uses it when eBPF is off), allocates nothing and takes no lock on the
// common path.
func (p *Probe) GCPauses(start, end time.Time) (n int, total time.Duration, ok bool) {
	if !p.running.Load() || start.IsZero() || end.Before(start) {
		return 0, 0, p.running.Load()
	}
	e := end.UnixNano()
	p.pauses.maybeCheck(e)
	n, t := p.pauses.overlap(start.UnixNano(), e)
	return n, time.Duration(t), true
}
