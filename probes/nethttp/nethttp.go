package nethttp

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/internal/sockspan"
)

// Name is the probe's name in [probes.Status].
const Name = "nethttp"

// ScopeName is the instrumentation scope of the probe's meter.
const ScopeName = semconv.ScopeNetHTTP

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

// Probe measures the socket side of the HTTP spans of package middleware.
// Create it with [New].
//
// Concurrency: Start and Shutdown follow the probes.Probe contract; Status
// and Snapshot are safe for concurrent use at any time.
type Probe struct{ core *sockspan.Core }

// New returns a probe that is not started yet.
func New(opts ...Option) (*Probe, error) {
	cfg := newConfig(opts)
	c, err := sockspan.New(sockspan.Config{
		Name: Name, Scope: ScopeName, Meter: cfg.meterProvider, EBPF: cfg.ebpf, OffWhy: cfg.offWhy,
		Kinds: []sockspan.Kind{
			{Kind: netspan.HTTPServer, Metric: semconv.MetricHTTPServerSocketWait,
				Desc: "Time HTTP server spans waited on their connection's socket (reads and writes)."},
			{Kind: netspan.HTTPClient, Metric: semconv.MetricHTTPClientSocketWait,
				Desc: "Time HTTP client spans waited on their connection's socket (reads and writes)."},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("nethttp probe: %w", err)
	}
	return &Probe{core: c}, nil
}

// Name returns "nethttp".
func (p *Probe) Name() string { return Name }

// Start takes the socket tracer of the eBPF probe given with [WithEBPF]
// (start that one first) and makes the middleware's HTTP spans measured.
// Without eBPF the probe runs degraded: spans keep the middleware's own
// fields and get verdict.unmeasured with the reason, and Status says it.
// Start fails only when called twice, after Shutdown, or with a done ctx.
func (p *Probe) Start(ctx context.Context) error { return p.core.Start(ctx) }

// Shutdown stops measuring. Spans still open get no socket attributes.
// Idempotent.
func (p *Probe) Shutdown(ctx context.Context) error { return p.core.Shutdown(ctx) }

// Status reports on when the kernel side measures, degraded (with the
// reason) when it cannot, off before Start and after Shutdown.
func (p *Probe) Status() probes.Status { return p.core.Status() }

// SpanHook returns the hook that gives each HTTP span of the middleware
// its socket attributes when it ends (the middleware tells the probe the
// span's connection; the tracer calls the hook for every sampled span).
func (p *Probe) SpanHook() spanhook.Hook { return p.core.SpanHook() }

// Snapshot is what the probe measured since Start: the socket side of the
// HTTP server spans and of the HTTP client spans that ended, with rates
// over the last window. It is what the judge and user-defined rules read.
// A Snapshot is a value: the probe never modifies one it handed out.
type Snapshot struct {
	// Time is when the snapshot was taken; zero before Start.
	Time time.Time
	// Window is the interval the rates were computed over (at least
	// MinRateWindow; zero until the first window closed).
	Window time.Duration
	// Kernel is false while the probe runs degraded (eBPF off): every span
	// then counts as unmeasured.
	Kernel bool
	// Server and Client are the server and the client spans.
	Server, Client probes.SocketStats
}

// MinRateWindow is the shortest interval rates are computed over.
const MinRateWindow = sockspan.MinRateWindow

// Snapshot returns what the probe measured so far: the zero Snapshot
// before Start, the last one after Shutdown. Snapshot calls closer together
// than MinRateWindow keep the previous rates.
func (p *Probe) Snapshot() Snapshot {
	s := p.core.Snapshot()
	out := Snapshot{Time: s.Time, Window: s.Window, Kernel: s.Kernel}
	if len(s.Stats) == 2 {
		out.Server, out.Client = s.Stats[0], s.Stats[1]
	}
	return out
}

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	ebpf          *ebpf.Probe
	offWhy        string
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

// WithEBPF gives the probe the eBPF composite whose socket tracer it reads
// (it must be started before this probe). nil means eBPF is off.
func WithEBPF(p *ebpf.Probe) Option {
	return optionFunc(func(c config) config {
		c.ebpf = p
		return c
	})
}

// WithoutEBPF says why eBPF is off, for Status and the spans'
// verdict.unmeasured ("disabled by VERDICT_EBPF=off"). It matters only
// without WithEBPF.
func WithoutEBPF(reason string) Option {
	return optionFunc(func(c config) config {
		c.offWhy = reason
		return c
	})
}
