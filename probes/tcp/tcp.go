package tcp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/bpf/sock"
	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/internal/sockspan"
)

// Name is the probe's name in [probes.Status].
const Name = "tcp"

// ScopeName is the instrumentation scope of the probe's meter.
const ScopeName = semconv.ScopeTCP

// DefaultTopPeers is the default of [WithTopPeers].
const DefaultTopPeers = 20

var (
	_ probes.Probe      = (*Probe)(nil)
	_ spanhook.Provider = (*Probe)(nil)
)

// Probe reports the TCP health of the process per peer. Create it with
// [New].
//
// Concurrency: Start and Shutdown follow the probes.Probe contract; Status
// and Snapshot are safe for concurrent use at any time.
type Probe struct {
	cfg config

	tr   atomic.Pointer[sock.Tracer]
	user userPeers // eBPF off: connects the HTTP client middleware saw

	mu        sync.Mutex // guards the fields below and the series
	status    probes.Status
	started   bool
	shutdown  bool
	reg       metric.Registration
	unobserve func()
	series    seriesSet
	snap      snapper
	buf       []sock.Peer
}

// New returns a probe that is not started yet.
func New(opts ...Option) (*Probe, error) {
	cfg := newConfig(opts)
	if cfg.topPeers < 0 {
		return nil, fmt.Errorf("tcp probe: negative peer count %d", cfg.topPeers)
	}
	p := &Probe{cfg: cfg, status: probes.Status{Name: Name, State: probes.StateOff, Reason: sockspan.ReasonNotStarted}}
	p.series.init(cfg.topPeers)
	return p, nil
}

// Name returns "tcp".
func (p *Probe) Name() string { return Name }

// Start takes the socket tracer of the eBPF probe given with [WithEBPF]
// (start that one first) and registers the metrics. Without eBPF the probe
// runs degraded: it counts the connects that verdict's HTTP client
// middleware sees fail or succeed, and Status says what is missing. Start
// fails only when called twice, after Shutdown, with a done ctx, or when
// the meter provider refuses the instruments.
func (p *Probe) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.shutdown:
		return fmt.Errorf("tcp probe: %w", probes.ErrShutDown)
	case p.started:
		return fmt.Errorf("tcp probe: %w", probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tcp probe: %w", err)
	}
	p.started = true
	if err := p.register(); err != nil {
		p.status = probes.Status{Name: Name, State: probes.StateOff, Reason: "metrics: " + err.Error()}
		return fmt.Errorf("tcp probe: %w", err)
	}
	var tr *sock.Tracer
	why := p.cfg.offWhy
	if why == "" {
		why = "disabled"
	}
	if e := p.cfg.ebpf; e != nil {
		if tr = e.Sockets(); tr == nil {
			why = sockspan.OffReason(e)
		}
	}
	if tr != nil {
		p.tr.Store(tr)
		p.status = probes.Status{Name: Name, State: probes.StateOn}
	} else {
		p.unobserve = netspan.ObserveConnects(&p.user)
		p.status = probes.Status{Name: Name, State: probes.StateDegraded,
			Reason: "connect outcomes of verdict's HTTP client only: eBPF off: " + why}
	}
	p.snap.take(p.readLocked(), time.Now())
	return nil
}

// Shutdown unregisters the metrics. Idempotent.
func (p *Probe) Shutdown(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shutdown {
		return nil
	}
	p.shutdown = true
	var err error
	if p.started {
		p.snap.take(p.readLocked(), time.Now()) // the last one, kept after Shutdown
	}
	if p.reg != nil {
		err = p.reg.Unregister()
		p.reg = nil
	}
	if p.unobserve != nil {
		p.unobserve()
		p.unobserve = nil
	}
	p.tr.Store(nil)
	reason := sockspan.ReasonShutDown
	if p.status.State == probes.StateOff && p.status.Reason != sockspan.ReasonNotStarted {
		reason = p.status.Reason
	}
	p.status = probes.Status{Name: Name, State: probes.StateOff, Reason: reason}
	if err != nil {
		return fmt.Errorf("tcp probe: shutdown: %w", err)
	}
	return nil
}

// Status reports on when the kernel side counts, degraded (with what is
// missing) when eBPF is off, off before Start and after Shutdown.
func (p *Probe) Status() probes.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// SpanHook returns nil: the probe enriches no span (the per-span TCP
// figures come from the probes nethttp, grpc and sql).
func (p *Probe) SpanHook() spanhook.Hook { return nil }

// reading is one read of every peer's counts.
type reading struct {
	kernel bool
	peers  []sock.Peer
	other  sock.PeerCounts // events of peers the kernel had no room for
}

// readLocked reads the peers from the kernel side (or the user-space
// counterpart). p.mu is held; the returned slice is p.buf, valid until the
// next call.
func (p *Probe) readLocked() reading {
	if tr := p.tr.Load(); tr != nil {
		p.buf = tr.Peers(p.buf[:0])
		return reading{kernel: true, peers: p.buf, other: tr.Stats().Other}
	}
	var r reading
	p.buf, r.other = p.user.read(p.buf[:0])
	r.peers = p.buf
	return r
}

// register creates the instruments and the callback that observes them at
// each collection.
func (p *Probe) register() error {
	meter := semconv.Meter(p.cfg.meterProvider, ScopeName)
	connects, err1 := meter.Int64ObservableCounter(semconv.MetricTCPConnects, metric.WithUnit("{connect}"),
		metric.WithDescription("TCP connection attempts of the process by outcome (established, refused, failed), per peer."))
	resets, err2 := meter.Int64ObservableCounter(semconv.MetricTCPResets, metric.WithUnit("{reset}"),
		metric.WithDescription("TCP resets received and sent on the process's connections, per peer."))
	retrans, err3 := meter.Int64ObservableCounter(semconv.MetricTCPRetransmits, metric.WithUnit("{segment}"),
		metric.WithDescription("TCP segments the process's connections retransmitted, per peer."))
	if err := errors.Join(err1, err2, err3); err != nil {
		return fmt.Errorf("instruments: %w", err)
	}
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.shutdown {
			return nil
		}
		r := p.readLocked()
		p.series.update(r)
		p.series.observe(o, r.kernel, connects, resets, retrans)
		return nil
	}, connects, resets, retrans)
	if err != nil {
		return fmt.Errorf("register callback: %w", err)
	}
	p.reg = reg
	return nil
}

// userPeers counts the connects that verdict's HTTP client middleware saw
// (the user-space counterpart while eBPF is off): outcomes only, per peer,
// at most maxUserPeers peers (the others summed apart).
type userPeers struct {
	mu    sync.Mutex
	peers map[netip.AddrPort]*sock.PeerCounts
	other sock.PeerCounts
}

const maxUserPeers = 1024

// ConnectDone implements netspan.ConnectObserver.
func (u *userPeers) ConnectDone(network, addr string, err error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the caller gave up (a dial that lost a race), not the network
	}
	ap, perr := netip.ParseAddrPort(addr)
	if perr != nil {
		return
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	u.mu.Lock()
	defer u.mu.Unlock()
	c := u.peers[ap]
	if c == nil {
		if u.peers == nil {
			u.peers = make(map[netip.AddrPort]*sock.PeerCounts)
		}
		if len(u.peers) >= maxUserPeers {
			c = &u.other
		} else {
			c = new(sock.PeerCounts)
			u.peers[ap] = c
		}
	}
	c.Connects++
	switch {
	case err == nil:
		c.Established++
	case errors.Is(err, syscall.ECONNREFUSED):
		c.Refused++
	default:
		c.Failed++
	}
}

func (u *userPeers) read(dst []sock.Peer) ([]sock.Peer, sock.PeerCounts) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for ap, c := range u.peers {
		dst = append(dst, sock.Peer{Addr: ap.Addr(), Port: ap.Port(), PeerCounts: *c})
	}
	return dst, u.other
}

// config is the resolved option set.
type config struct {
	meterProvider metric.MeterProvider
	ebpf          *ebpf.Probe
	offWhy        string
	topPeers      int
}

func newConfig(opts []Option) config {
	c := config{topPeers: DefaultTopPeers}
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

// WithoutEBPF says why eBPF is off, for Status ("disabled by
// VERDICT_EBPF=off"). It matters only without WithEBPF.
func WithoutEBPF(reason string) Option {
	return optionFunc(func(c config) config {
		c.offWhy = reason
		return c
	})
}

// WithTopPeers sets how many peers get their own metric series (default
// DefaultTopPeers); the events of the others are reported under
// network.peer.address="_OTHER". A peer keeps its series while it stays
// among the busiest: one that became more than twice as busy as the least
// busy takes its place. Zero reports every peer as "_OTHER".
func WithTopPeers(n int) Option {
	return optionFunc(func(c config) config {
		c.topPeers = n
		return c
	})
}
