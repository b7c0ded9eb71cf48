package ebpf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/bpf/sock"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/gcstw"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// Name is the probe's name in [probes.Status].
const Name = "ebpf"

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

// Status reasons of a probe that is off without an error.
const (
	reasonNotStarted = "not started"
	reasonShutDown   = "shut down"
)

// part is a probe of the composite.
type part interface {
	probes.Probe
	spanhook.Provider
}

// Probe is the eBPF composite: a [probes.Probe] whose parts are the
// kernel-time probe, the stop-the-world probe and the socket tracer. Create
// it with [New].
//
// Concurrency: Start and Shutdown follow the probes.Probe contract; every
// other method is safe for concurrent use at any time.
type Probe struct {
	kernel  *kernel.Probe
	stw     *gcstw.Probe
	sockets *sockets
	parts   []part // kernel, stw, sockets

	life     sync.Mutex // serialises Start and Shutdown
	mu       sync.Mutex // guards the fields below
	started  bool
	shutdown bool
	running  []part // started parts, in start order
	off      string // why the probe is off (not started, shut down, or the parts' reason)
}

// New returns a probe whose parts are created but not started: nothing
// touches the kernel until [Probe.Start]. It fails only when the meter
// provider refuses to create the parts' instruments.
func New(opts ...Option) (*Probe, error) {
	cfg := newConfig(opts)
	k, err := kernel.New(append([]kernel.Option{kernel.WithMeterProvider(cfg.meterProvider)}, cfg.kernelOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("ebpf: %w", err)
	}
	s, err := gcstw.New(append([]gcstw.Option{gcstw.WithMeterProvider(cfg.meterProvider), gcstw.WithLogger(cfg.logger)}, cfg.stwOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("ebpf: %w", err)
	}
	sk := newSockets(cfg.sockOpts)
	return &Probe{kernel: k, stw: s, sockets: sk, parts: []part{k, s, sk}, off: reasonNotStarted}, nil
}

// Name returns "ebpf".
func (p *Probe) Name() string { return Name }

// Start starts the kernel-time probe, the stop-the-world probe and the
// socket tracer, in that order. It fails only when none starts: the error then reads as the parts'
// reason and wraps their errors ([os.ErrPermission], [errors.ErrUnsupported]
// through bpf.ErrNotSupported). Status says which part is off and why.
func (p *Probe) Start(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	p.mu.Lock()
	started, shutdown := p.started, p.shutdown
	p.started = true
	p.mu.Unlock()
	switch {
	case shutdown:
		return fmt.Errorf("%s: %w", Name, probes.ErrShutDown)
	case started:
		return fmt.Errorf("%s: %w", Name, probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		p.setOff(err.Error())
		return fmt.Errorf("%s: %w", Name, err)
	}
	var errs []error
	var running []part
	for _, pt := range p.parts {
		if err := pt.Start(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		running = append(running, pt)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running = running
	if len(running) == 0 {
		p.off = p.reasonLocked()
		return &reasonError{reason: p.off, err: errors.Join(errs...)}
	}
	return nil
}

func (p *Probe) setOff(reason string) {
	p.mu.Lock()
	p.off = reason
	p.mu.Unlock()
}

// Status reports whether the probe runs: on when every part runs, degraded
// when a part is off or degraded (the reason is that part's status), off
// when no part runs (the reason is the parts' own).
func (p *Probe) Status() probes.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.running) == 0 {
		return probes.Status{Name: Name, State: probes.StateOff, Reason: p.off}
	}
	if r := p.reasonLocked(); r != "" {
		return probes.Status{Name: Name, State: probes.StateDegraded, Reason: r}
	}
	return probes.Status{Name: Name, State: probes.StateOn}
}

// reasonLocked is the parts' reason: empty when every part is on; the one
// reason when every part that is not on gives the same; otherwise each such
// part's status, joined.
func (p *Probe) reasonLocked() string {
	var reasons, statuses []string
	for _, pt := range p.parts {
		st := pt.Status()
		if st.State == probes.StateOn {
			continue
		}
		reasons = append(reasons, st.Reason)
		statuses = append(statuses, st.String())
	}
	switch {
	case len(reasons) == 0:
		return ""
	case len(p.running) == 0 && len(reasons) == len(p.parts) && allSame(reasons):
		return reasons[0]
	}
	return probes.JoinReasons(statuses...)
}

func allSame(ss []string) bool {
	for _, s := range ss[1:] {
		if s != ss[0] {
			return false
		}
	}
	return true
}

// Kernel returns the kernel-time probe while it runs (for its Snapshot), or
// nil: before Start, after Shutdown, or when it could not start.
func (p *Probe) Kernel() *kernel.Probe {
	if p.runs(p.kernel) {
		return p.kernel
	}
	return nil
}

// STW returns the stop-the-world probe while it runs (for its Snapshot), or
// nil: before Start, after Shutdown, or when it could not start.
func (p *Probe) STW() *gcstw.Probe {
	if p.runs(p.stw) {
		return p.stw
	}
	return nil
}

func (p *Probe) runs(pt part) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.running {
		if r == pt {
			return !p.shutdown
		}
	}
	return false
}

// SpanHook returns the kernel-time part's hook when it started (nil
// otherwise): it publishes each span's goroutine for the kernel programs
// and adds verdict.kernel.* at the span's end. Call it after Start.
//
// The stop-the-world part enriches no span by itself: package
// [github.com/verdict-obs/verdict/probes/gc] reads its windows (see
// [Probe.STW]) and is the one source of the span's GC figures, exact
// windows or, without eBPF, the runtime's.
func (p *Probe) SpanHook() spanhook.Hook {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pt := range p.running {
		if pt.Name() == kernel.Name {
			return pt.SpanHook()
		}
	}
	return nil
}

// Shutdown stops the running parts in reverse order and releases every
// kernel resource. It is idempotent and bounded by ctx (see the parts).
func (p *Probe) Shutdown(ctx context.Context) error {
	p.life.Lock()
	defer p.life.Unlock()
	p.mu.Lock()
	if p.shutdown {
		p.mu.Unlock()
		return nil
	}
	p.shutdown = true
	running := p.running
	p.running = nil
	if len(running) > 0 || p.off == reasonNotStarted {
		p.off = reasonShutDown
	}
	p.mu.Unlock()
	var errs []error
	for i := len(running) - 1; i >= 0; i-- {
		if err := running[i].Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", running[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}

// reasonError reads as the short reason a person needs ("missing CAP_BPF
// ...") and unwraps to the errors that say what kind it is.
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.reason }
func (e *reasonError) Unwrap() error { return e.err }

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger
	kernelOpts    []kernel.Option
	stwOpts       []gcstw.Option
	sockOpts      *sock.Options
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
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// Option configures [New].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// WithMeterProvider sets the MeterProvider of both parts' metrics. nil is
// ignored; the default is the global provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.meterProvider = mp
		}
		return c
	})
}

// WithLogger sets the logger for the parts' rare diagnostics. nil means
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.logger = l
		}
		return c
	})
}

// WithKernelOptions passes options to the kernel-time probe, e.g.
// kernel.WithoutSyscallTracing. They apply after this package's
// WithMeterProvider, so they win.
func WithKernelOptions(opts ...kernel.Option) Option {
	return optionFunc(func(c config) config {
		c.kernelOpts = append(c.kernelOpts, opts...)
		return c
	})
}

// WithSTWOptions passes options to the stop-the-world probe, e.g.
// gcstw.WithCapacity. They apply after this package's WithMeterProvider and
// WithLogger, so they win.
func WithSTWOptions(opts ...gcstw.Option) Option {
	return optionFunc(func(c config) config {
		c.stwOpts = append(c.stwOpts, opts...)
		return c
	})
}

// Snapshot is what both parts measured: their snapshots side by side.
type Snapshot struct {
	// Kernel is the kernel-time probe's snapshot (zero when it never ran).
	Kernel kernel.Snapshot
	// STW is the stop-the-world probe's snapshot (zero when it never ran).
	STW gcstw.Snapshot
}

// Snapshot returns both parts' snapshots (see kernel.Probe.Snapshot and
// gcstw.Probe.Snapshot): the zero value before Start, the last ones after
// Shutdown.
func (p *Probe) Snapshot() Snapshot {
	return Snapshot{Kernel: p.kernel.Snapshot(), STW: p.stw.Snapshot()}
}
