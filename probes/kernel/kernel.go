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

// Name is the probe's [probes.Status] name.
const Name = "kernel"

var (
	_ probes.Probe  = (*Probe)(nil)
	_ spanhook.Hook = (*Probe)(nil)

	errShutDown = errors.New("kernel probe: shut down")
	errStarted  = errors.New("kernel probe: already started")

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

	sysHist, offHist, runqHist metric.Float64Histogram

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
	p := &Probe{cfg: cfg, status: probes.Status{Name: Name, State: probes.StateOff, Reason: reasonNotStarted}}
	meter := cfg.meterProvider.Meter(semconv.InstrumentationName + "/probes/kernel")
	var err error
	hist := func(name, desc string) metric.Float64Histogram {
		h, e := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		err = errors.Join(err, e)
		return h
	}
	p.sysHist = hist(semconv.MetricKernelSyscallDuration, "Time spent in system calls per span, measured by the kernel.")
	p.offHist = hist(semconv.MetricKernelOffCPUDuration, "Time blocked off-CPU inside system calls per span.")
	p.runqHist = hist(semconv.MetricKernelRunqueueDuration, "Time runnable but waiting for a CPU per span.")
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
		return errShutDown
	case p.started:
		return errStarted
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

	meter := p.cfg.meterProvider.Meter(semconv.InstrumentationName + "/probes/kernel")
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

	p.timing.Store(tm)
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
	if tm := p.timing.Swap(nil); tm != nil {
		errs = append(errs, tm.Close())
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

// Status reports whether the probe runs and, if not, why.
func (p *Probe) Status() probes.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// SpanStart publishes the calling goroutine as working for sc. No system
// call, no allocation; a no-op when the probe does not run.
func (p *Probe) SpanStart(sc trace.SpanContext, _ time.Time) {
	if tm := p.timing.Load(); tm != nil {
		tm.Begin(sc.TraceID(), sc.SpanID())
	}
}

// SpanEnd withdraws sc's goroutine and appends the kernel attributes to dst.
// It may run on any goroutine. No system call; it allocates only when dst
// must grow.
func (p *Probe) SpanEnd(sc trace.SpanContext, _, _ time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	tm := p.timing.Load()
	if tm == nil {
		return dst
	}
	c, ok := tm.End(sc.SpanID())
	if !ok {
		return dst
	}
	ctx := context.Background()
	if tm.Syscalls() {
		sys := c.TotalSyscallTime().Seconds()
		dst = append(dst,
			attribute.Int64(semconv.AttrKernelSyscallCount, int64(c.TotalSyscalls())),
			attribute.Float64(semconv.AttrKernelSyscallDuration, sys),
			attribute.Float64(semconv.AttrKernelSyscallFileDuration, c.SyscallTime[bpf.SyscallFile].Seconds()),
			attribute.Float64(semconv.AttrKernelSyscallNetworkDuration, c.SyscallTime[bpf.SyscallNetwork].Seconds()),
		)
		p.sysHist.Record(ctx, sys)
	}
	off := c.OffCPU.Seconds()
	runq := c.RunQueue.Seconds()
	dst = append(dst,
		attribute.Float64(semconv.AttrKernelOffCPUDuration, off),
		attribute.Float64(semconv.AttrKernelRunqueueDuration, runq),
		attribute.Int64(semconv.AttrKernelInvoluntarySwitches, int64(c.InvoluntarySwitches)),
	)
	p.offHist.Record(ctx, off)
	p.runqHist.Record(ctx, runq)
	return dst
}

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	slots         int
	noSyscalls    bool
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
