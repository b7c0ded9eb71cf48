package kernel

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

// Name is the probe's name in [probes.Status].
const Name = "kernel"

// ScopeName is the instrumentation scope of the probe's meter,
// "github.com/verdict-obs/verdict/probes/kernel", at verdict's version.
const ScopeName = semconv.ScopeKernel

var (
	_ probes.Probe       = (*Probe)(nil)
	_ spanhook.Provider  = (*Probe)(nil)
	_ spanhook.SpanEnder = (*Probe)(nil)

	// durationBuckets (seconds) span 10 µs to 10 s.
	durationBuckets = []float64{0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
)

// Status reasons of a probe that is off without an error.
const (
	reasonNotStarted = "not started"
	reasonShutDown   = "shut down"
)

// Probe measures kernel time per span with eBPF. Create it with [New].
//
// Concurrency: Start and Shutdown are called once each, in that order;
// Status, SpanStart and SpanEnd are safe for concurrent use at any time.
type Probe struct {
	cfg    config
	timing atomic.Pointer[bpf.Timing]
	snap   snapper
	assist assistState // the GC assist probes and their gate
	// assistOff says why GC assists are not measured ("" when they are,
	// attached or standing by).
	assistOff atomic.Pointer[string]

	sysHist, offHist, runqHist metric.Float64Histogram
	names                      *spanNames

	mu       sync.Mutex
	status   probes.Status
	started  bool
	shutdown bool
	reg      metric.Registration
}

// New returns a probe that is not started yet. It touches nothing in the
// kernel until [Probe.Start].
func New(opts ...Option) (*Probe, error) {
	cfg := newConfig(opts)
	if cfg.slots < 0 {
		return nil, fmt.Errorf("kernel probe: negative slot count %d", cfg.slots)
	}
	p := &Probe{cfg: cfg, names: newSpanNames(), status: probes.Status{Name: Name, State: probes.StateOff, Reason: reasonNotStarted}}
	meter := semconv.Meter(cfg.meterProvider, ScopeName)
	var err error
	hist := func(name, desc string) metric.Float64Histogram {
		h, e := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		err = errors.Join(err, e)
		return h
	}
	p.sysHist = hist(semconv.MetricKernelSyscallDuration, "Time in system calls per request (server, consumer or local root span, with the spans it enclosed on its goroutine), by span.name.")
	p.offHist = hist(semconv.MetricKernelOffCPUDuration, "Time blocked off-CPU inside system calls per request, by span.name.")
	p.runqHist = hist(semconv.MetricKernelRunqueueDuration, "Time runnable but waiting for a CPU per request, by span.name.")
	if err != nil {
		return nil, fmt.Errorf("kernel probe: instruments: %w", err)
	}
	return p, nil
}

// Name returns "kernel".
func (p *Probe) Name() string { return Name }

// Start checks that eBPF can run here, loads and attaches the kernel
// programs, and calibrates the goroutine key. On error nothing stays loaded,
// the error wraps [bpf.ErrNotSupported] or [os.ErrPermission], and Status
// holds the reason.
func (p *Probe) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.shutdown:
		return fmt.Errorf("kernel probe: %w", probes.ErrShutDown)
	case p.started:
		return fmt.Errorf("kernel probe: %w", probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kernel probe: %w", err)
	}
	p.started = true

	tm, err := bpf.LoadTiming(&bpf.TimingOptions{Slots: p.cfg.slots, NoSyscalls: p.cfg.noSyscalls})
	if err != nil {
		p.status = probes.Status{Name: Name, State: probes.StateOff, Reason: bpf.Reason(err)}
		return fmt.Errorf("kernel probe: %w", err)
	}

	meter := semconv.Meter(p.cfg.meterProvider, ScopeName)
	lost, err := meter.Int64ObservableCounter(semconv.MetricKernelEventsLost, metric.WithUnit("{event}"),
		metric.WithDescription("Kernel events and spans that could not be attributed (tables full)."))
	if err == nil {
		p.reg, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(lost, int64(tm.Stats().Lost()))
			return nil
		}, lost)
	}
	if err != nil {
		tm.Close()
		p.status = probes.Status{Name: Name, State: probes.StateOff, Reason: "metrics: " + err.Error()}
		return fmt.Errorf("kernel probe: lost-events metric: %w", err)
	}

	switch err := p.assist.set(tm, !p.cfg.noAssist); {
	case p.cfg.noAssist:
		p.setAssistOff(reasonAssistOff)
	case err != nil:
		p.setAssistOff("GC assist probes: " + bpf.Reason(err))
	default:
		p.setAssistOff("")
		if th := p.cfg.assistThreshold(); th > 0 {
			hold := p.cfg.assistHold
			if hold <= 0 {
				hold = assistHold
			}
			p.assist.startGate(tm, &assistGate{threshold: th, hold: hold})
		}
	}
	p.timing.Store(tm)
	p.snap.snapshot(tm, time.Now()) // the first rate window starts here
	p.status = probes.Status{Name: Name, State: probes.StateOn}
	if runtime.GOARCH != "amd64" {
		// Only amd64 has the goroutine at a fixed TLS offset (fsbase-8).
		p.status = probes.Status{Name: Name, State: probes.StateDegraded,
			Reason: "run-queue wait after a preemption outside a system call is not attributed on " + runtime.GOARCH}
	}
	return nil
}

// Shutdown detaches the programs and releases every link, map and mapping.
// It is idempotent. Spans still open get no kernel attributes.
func (p *Probe) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return nil
	}
	p.shutdown = true
	var errs []error
	if p.reg != nil {
		errs = append(errs, p.reg.Unregister())
		p.reg = nil
	}
	if tm := p.timing.Load(); tm != nil {
		p.snap.snapshot(tm, time.Now()) // the last one, kept after Shutdown
		p.timing.Store(nil)
		errs = append(errs, p.assist.close(), tm.Close())
		p.setAssistOff(reasonShutDown)
	}
	reason := reasonShutDown
	if p.status.State == probes.StateOff && p.status.Reason != reasonNotStarted {
		reason = p.status.Reason // keep why it never ran
	}
	p.status = probes.Status{Name: Name, State: probes.StateOff, Reason: reason}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kernel probe: shutdown: %w", err)
	}
	return nil
}

// GCAssistAttached reports whether the GC assist probes are attached now:
// spans ending while they are not carry no verdict.gc.assist.duration.
func (p *Probe) GCAssistAttached() bool { return p.assist.attached() }

func (p *Probe) setAssistOff(reason string) { p.assistOff.Store(&reason) }

// GCAssist reports whether the probe measures the GC assists of each
// span's goroutine (verdict.gc.assist.duration) and, if not, why. On means
// the assist probes work here; they are attached while assists take at
// least the threshold's share of the CPU (see [WithGCAssistThreshold] and
// [Probe.GCAssistAttached]).
func (p *Probe) GCAssist() (on bool, reason string) {
	if r := p.assistOff.Load(); r != nil {
		return *r == "", *r
	}
	return false, reasonNotStarted
}

// Status reports whether the probe runs and, if not, why. A running probe
// that lost spans or kernel events (its tables were full) is degraded, and
// the reason says how many and which limit to raise; the same count is in
// the verdict.kernel.events.lost metric.
func (p *Probe) Status() probes.Status {
	p.mu.Lock()
	st := p.status
	p.mu.Unlock()
	if tm := p.timing.Load(); tm != nil && st.State != probes.StateOff {
		if r := lostReason(tm.Stats()); r != "" {
			st.State = probes.StateDegraded
			st.Reason = probes.JoinReasons(st.Reason, r)
		}
	}
	return st
}

// lostReason says what the drop counters of s mean, or "" when none moved.
func lostReason(s bpf.TimingStats) string {
	var rs []string
	if s.SlotDrops > 0 {
		rs = append(rs, fmt.Sprintf("%d spans without kernel time: more goroutines had spans open at once than there are slots (WithSlots)", s.SlotDrops))
	}
	if s.SpanDrops > 0 {
		rs = append(rs, fmt.Sprintf("%d spans without kernel time: more spans were open at once than the span table holds", s.SpanDrops))
	}
	if s.ThreadDrops > 0 {
		rs = append(rs, fmt.Sprintf("%d kernel events lost: the per-thread table was full", s.ThreadDrops))
	}
	return probes.JoinReasons(rs...)
}

// SpanHook returns the probe itself: the tracer calls [Probe.SpanStart] and
// [Probe.SpanEnd] for every sampled span.
func (p *Probe) SpanHook() spanhook.Hook { return p }

// SpanStart publishes the calling goroutine as working for sc. No system
// call, no allocation; a no-op when the probe does not run.
func (p *Probe) SpanStart(sc trace.SpanContext, _ time.Time) {
	if tm := p.timing.Load(); tm != nil {
		tm.Begin(sc.TraceID(), sc.SpanID())
	}
}

// Reasons in verdict.unmeasured (semconv.AttrUnmeasured) when the probe
// runs but cannot give a span its kernel time.
const (
	// UnmeasuredClientIO: net/http and gRPC clients do their socket I/O on
	// their transport's goroutines; the span's goroutine only waits for
	// them (parked, which the kernel does not see), so its zeros would
	// mislead.
	UnmeasuredClientIO = semconv.UnmeasuredKernel + ": the client's I/O runs on its transport's goroutines, not the span's"
	// UnmeasuredNotTracked: the span started before the probe, or the
	// goroutine or span tables were full (counted in
	// verdict.kernel.events.lost).
	UnmeasuredNotTracked = semconv.UnmeasuredKernel + ": not tracked (started before the probe, or the tables were full)"
	// UnmeasuredNothing: the kernel attributed nothing to the span's
	// goroutine: no system call, no time off-CPU or waiting for a CPU, no
	// preemption. The span's work, if any, ran on other goroutines or
	// never entered the kernel.
	UnmeasuredNothing = semconv.UnmeasuredKernel + ": no kernel event on the span's goroutine"
	// UnmeasuredNoSyscalls: WithoutSyscallTracing.
	UnmeasuredNoSyscalls = semconv.UnmeasuredKernel + ".syscall: system call tracing is off (WithoutSyscallTracing)"
)

// SpanEnd withdraws sc's goroutine and appends the kernel attributes to dst
// (see SpanEndOf); knowing nothing else of the span, it treats it as an
// internal span and records no histogram.
func (p *Probe) SpanEnd(sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	return p.SpanEndOf(nil, sc, start, end, dst)
}

// SpanEndOf withdraws sc's goroutine and appends the kernel attributes to
// dst, or, when they were not measured, one verdict.unmeasured attribute
// saying why (see the Unmeasured* reasons): a zero is always a measured
// zero. For an entry span (server or consumer, or a local root; see
// spanhook.Entry) it records the histograms once, with the kernel time of
// the span and of the spans it enclosed on its goroutine, split by the
// bounded span.name. It may run on any goroutine. No system call; it
// allocates only when dst must grow (and once per new span name).
func (p *Probe) SpanEndOf(s spanhook.Span, sc trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	tm := p.timing.Load()
	if tm == nil {
		return dst
	}
	c, tree, ok := tm.EndTree(sc.SpanID())
	if !ok {
		return append(dst, attribute.String(semconv.AttrUnmeasured, UnmeasuredNotTracked))
	}
	if s != nil && s.SpanKind() == trace.SpanKindClient && transportClient(s.Attributes()) {
		return append(dst, attribute.String(semconv.AttrUnmeasured, UnmeasuredClientIO))
	}
	if s != nil && spanhook.Entry(s) {
		p.record(s.Name(), tree, tm.Syscalls())
	}
	if c.TotalSyscalls() == 0 && c.OffCPU == 0 && c.RunQueue == 0 && c.InvoluntarySwitches == 0 && c.GCAssist == 0 {
		return append(dst, attribute.String(semconv.AttrUnmeasured, UnmeasuredNothing))
	}
	if tm.Syscalls() {
		dst = append(dst,
			attribute.Int64(semconv.AttrKernelSyscallCount, int64(c.TotalSyscalls())),
			attribute.Float64(semconv.AttrKernelSyscallDuration, c.TotalSyscallTime().Seconds()),
			attribute.Float64(semconv.AttrKernelSyscallFileDuration, c.SyscallTime[bpf.SyscallFile].Seconds()),
			attribute.Float64(semconv.AttrKernelSyscallNetworkDuration, c.SyscallTime[bpf.SyscallNetwork].Seconds()),
		)
	} else {
		dst = append(dst, attribute.String(semconv.AttrUnmeasured, UnmeasuredNoSyscalls))
	}
	dst = append(dst,
		attribute.Float64(semconv.AttrKernelOffCPUDuration, c.OffCPU.Seconds()),
		attribute.Float64(semconv.AttrKernelRunqueueDuration, c.RunQueue.Seconds()),
		attribute.Int64(semconv.AttrKernelInvoluntarySwitches, int64(c.InvoluntarySwitches)),
	)
	if c.GCAssist > 0 {
		// Package probes/gc's field, measured here: the kernel slot of
		// the span's goroutine holds it (see bpf/gcassist).
		dst = append(dst, attribute.Float64(semconv.AttrGCAssistDuration, c.GCAssist.Seconds()))
	}
	return dst
}

// record adds one entry span's subtree to the histograms.
func (p *Probe) record(name string, c bpf.Counters, syscalls bool) {
	ctx := context.Background()
	opts := p.names.options(name) // a slice built once: passing it on does not allocate
	if syscalls {
		p.sysHist.Record(ctx, c.TotalSyscallTime().Seconds(), opts...)
	}
	p.offHist.Record(ctx, c.OffCPU.Seconds(), opts...)
	p.runqHist.Record(ctx, c.RunQueue.Seconds(), opts...)
}

// transportClient reports whether a client span's attributes are those of
// an HTTP (http.request.method) or RPC (rpc.system, rpc.system.name)
// client, whose I/O runs on transport goroutines. database/sql calls its
// driver on the caller's goroutine, so database client spans are measured.
func transportClient(attrs []attribute.KeyValue) bool {
	for _, kv := range attrs {
		switch kv.Key {
		case semconv.AttrHTTPRequestMethod, semconv.AttrRPCSystemName, semconv.AttrRPCSystem:
			return true
		}
	}
	return false
}

// MaxSpanNames bounds the span.name values of the kernel-time histograms:
// names past the first MaxSpanNames seen are recorded as "_OTHER".
const MaxSpanNames = 100

// spanNames hands out the measurement options of each span name, at most
// MaxSpanNames of them. Readers load an immutable map without a lock; a
// new name copies it (at most MaxSpanNames times in the process's life).
type spanNames struct {
	opts  atomic.Pointer[map[string][]metric.RecordOption]
	mu    sync.Mutex // serialises the copies
	other []metric.RecordOption
}

func newSpanNames() *spanNames {
	n := &spanNames{other: nameOptions(semconv.ValueOther)}
	n.opts.Store(&map[string][]metric.RecordOption{})
	return n
}

func nameOptions(name string) []metric.RecordOption {
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(semconv.AttrSpanName, name)))}
}

// options returns the record options of name's series, shared: callers
// pass them on and never modify them.
func (n *spanNames) options(name string) []metric.RecordOption {
	if o, ok := (*n.opts.Load())[name]; ok {
		return o
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	cur := *n.opts.Load()
	if o, ok := cur[name]; ok {
		return o
	}
	if len(cur) >= MaxSpanNames {
		return n.other
	}
	next := make(map[string][]metric.RecordOption, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	o := nameOptions(name)
	next[name] = o
	n.opts.Store(&next)
	return o
}

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	slots         int
	noSyscalls    bool
	noAssist      bool
	assistFrac    float64
	assistFracSet bool
	assistHold    time.Duration // 0: assistHold; tests shorten it
}

// assistThreshold is the gate's threshold; 0 or less: always attached.
func (c config) assistThreshold() float64 {
	if !c.assistFracSet {
		return DefaultGCAssistThreshold
	}
	return c.assistFrac
}

func newConfig(opts []Option) config {
	var c config
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

// WithMeterProvider sets the MeterProvider for the probe's histograms and
// lost-events counter. nil is ignored; the default is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.meterProvider = mp
		}
		return c
	})
}

// WithSlots sets how many goroutines may have open spans at the same time
// (rounded up to a power of two; 128 bytes of memory shared with the kernel
// each, plus room for 4 open spans per slot, about 720 bytes). Spans beyond
// that get no kernel attributes and are counted as lost. Zero means the
// default, 2048 (about 1.7 MB in all).
func WithSlots(n int) Option {
	return optionFunc(func(c config) config {
		c.slots = n
		return c
	})
}

// WithoutSyscallTracing leaves the kernel's system call tracepoints alone:
// spans get off-CPU time (through the goroutine the thread ran when it
// blocked), run-queue time and involuntary switches, but no
// verdict.kernel.syscall.* attributes. Use it where the cost of the
// tracepoints matters: while they are attached, every system call of every
// process on the host goes through them (about 150 ns here). amd64 only;
// elsewhere Start fails with [bpf.ErrNotSupported].
func WithoutSyscallTracing() Option {
	return optionFunc(func(c config) config {
		c.noSyscalls = true
		return c
	})
}

// reasonAssistOff is GCAssist's reason under WithoutGCAssist.
const reasonAssistOff = "GC assist probes: off (WithoutGCAssist)"

// WithoutGCAssist leaves runtime.gcAssistAlloc alone: spans get no
// verdict.gc.assist.* attributes (the gc probe still reports the process's
// assist time from the runtime's figures). Use it where the assist probes'
// cost matters: each assist call pays two uprobe hits, the one on its
// return single-stepped (~10 µs here), and a service that allocates
// steadily assists on a good share of its requests while the GC marks.
func WithoutGCAssist() Option {
	return optionFunc(func(c config) config {
		c.noAssist = true
		return c
	})
}

// WithGCAssistThreshold sets the share of the process's CPU that GC assists
// must take (the runtime's own per-process figure, read once a second) for
// the GC assist probes to be attached; after 10 s under it they are
// detached again, and spans ending meanwhile carry no
// verdict.gc.assist.duration. The default is [DefaultGCAssistThreshold]
// (1 %): below it, the probes would cost the requests more than the
// assists they measure. Zero or less keeps them attached all the time.
func WithGCAssistThreshold(frac float64) Option {
	return optionFunc(func(c config) config {
		c.assistFrac, c.assistFracSet = frac, true
		return c
	})
}
