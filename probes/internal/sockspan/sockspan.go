// Package sockspan is the implementation the probes nethttp, grpc and sql
// share: a netspan.Source that keeps a record per open span and measures
// its socket side through the socket tracer of the eBPF composite
// (bpf/sock), the span hook that appends the attributes when the span
// ends, the metrics, the snapshot and the probe lifecycle. Each probe
// package configures one with its name and span kinds.
package sockspan

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf/sock"
	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
)

// Kind is one span kind a probe measures, with its socket-wait histogram.
type Kind struct {
	Kind       netspan.Kind
	Metric     string // histogram of the socket wait per span
	Desc       string
	Goroutine  bool // the instrumentation publishes the goroutine (database calls)
	statsIndex int
}

// Config configures a Core.
type Config struct {
	Name   string
	Scope  string
	Kinds  []Kind
	Meter  metric.MeterProvider
	EBPF   *ebpf.Probe // nil: eBPF is off
	OffWhy string      // why eBPF is off when EBPF is nil
	// Records is how many spans may be open at once (about 250 bytes
	// each); 0 means DefaultRecords. Spans beyond get no socket
	// attributes and count in the unmeasured metric ("table_full").
	Records int
}

// DefaultRecords is the default of Config.Records.
const DefaultRecords = 2048

// Status reasons of a probe that is off without an error.
const (
	ReasonNotStarted = "not started"
	ReasonShutDown   = "shut down"
)

// Core is a socket-span probe. Create it with New.
type Core struct {
	cfg   Config
	kinds [netspan.NumKinds]*Kind

	// tr is the socket tracer, set by Start and kept after Shutdown so
	// that windows still open can be closed (a closed tracer's methods are
	// no-ops); live is true between Start and Shutdown.
	tr      atomic.Pointer[sock.Tracer]
	live    atomic.Bool
	offAttr atomic.Pointer[attribute.KeyValue] // verdict.unmeasured while the kernel side is off

	hists      [netspan.NumKinds]metric.Float64Histogram
	unmeasured metric.Int64Counter
	reasons    [numReasons][]metric.AddOption // built once: a variadic Add would allocate

	tab  *table
	acc  [netspan.NumKinds]accum
	snap snapper

	mu       sync.Mutex
	status   probes.Status
	started  bool
	shutdown bool
	unregs   []func()
}

// reasons for MetricSocketUnmeasured.
const (
	rEBPFOff = iota
	rUntracked
	rNoSocket
	rShared
	rReused
	rFull
	numReasons
)

var reasonValues = [numReasons]string{
	semconv.UnmeasuredReasonEBPFOff, semconv.UnmeasuredReasonUntracked,
	semconv.UnmeasuredReasonNoSocket, semconv.UnmeasuredReasonShared, semconv.UnmeasuredReasonReused,
	semconv.UnmeasuredReasonTableFull,
}

// The verdict.unmeasured values of the cases the instrumentation cannot
// measure (constants: no allocation per span).
var (
	attrUntracked = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+
		": connection not tracked by the kernel side (not yet read or written by this process, table full, or addresses rewritten)")
	attrNoTCP   = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+": not a TCP connection")
	attrNoConn  = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+": the span got no connection")
	attrReused  = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+": the connection closed and its kernel entry went to another before the span ended")
	attrOverlap = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+": another call on the same goroutine overlapped this one")
	attrNoIO    = attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+
		": no TCP I/O on the call's goroutine (a unix socket, or a driver that does its I/O on another goroutine)")
)

// New returns a Core that is not started.
func New(cfg Config) (*Core, error) {
	if cfg.Records <= 0 {
		cfg.Records = DefaultRecords
	}
	c := &Core{cfg: cfg, tab: newTable(cfg.Records), status: probes.Status{Name: cfg.Name, State: probes.StateOff, Reason: ReasonNotStarted}}
	meter := semconv.Meter(cfg.Meter, cfg.Scope)
	var err error
	for i := range cfg.Kinds {
		k := &cfg.Kinds[i]
		if k.Kind >= netspan.NumKinds || c.kinds[k.Kind] != nil {
			return nil, fmt.Errorf("%s: bad span kind %d", cfg.Name, k.Kind)
		}
		k.statsIndex = i
		c.kinds[k.Kind] = k
		h, e := meter.Float64Histogram(k.Metric, metric.WithUnit("s"), metric.WithDescription(k.Desc),
			metric.WithExplicitBucketBoundaries(semconv.DurationBuckets()...))
		err = errors.Join(err, e)
		c.hists[k.Kind] = h
	}
	var e error
	c.unmeasured, e = meter.Int64Counter(semconv.MetricSocketUnmeasured, metric.WithUnit("{span}"),
		metric.WithDescription("Spans whose socket side could not be measured, by reason."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("%s: instruments: %w", cfg.Name, err)
	}
	for i, v := range reasonValues {
		c.reasons[i] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String(semconv.AttrUnmeasuredReason, v)))}
	}
	return c, nil
}

// Name returns the probe's name.
func (c *Core) Name() string { return c.cfg.Name }

// Start takes the socket tracer from the eBPF composite (which must have
// started before) and registers the probe as the source of its span kinds.
// Without the tracer the probe still runs, degraded: spans get the
// verdict.unmeasured attribute saying why. It fails only on a second call,
// after Shutdown, or with a done ctx.
func (c *Core) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.shutdown:
		return fmt.Errorf("%s: %w", c.cfg.Name, probes.ErrShutDown)
	case c.started:
		return fmt.Errorf("%s: %w", c.cfg.Name, probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", c.cfg.Name, err)
	}
	c.started = true
	var tr *sock.Tracer
	why := c.cfg.OffWhy
	if why == "" {
		why = "disabled"
	}
	if p := c.cfg.EBPF; p != nil {
		tr = p.Sockets()
		if tr == nil {
			why = OffReason(p)
		}
	}
	if tr != nil {
		c.tr.Store(tr)
		c.status = probes.Status{Name: c.cfg.Name, State: probes.StateOn}
	} else {
		off := attribute.String(semconv.AttrUnmeasured, semconv.UnmeasuredSocketTCP+": eBPF off: "+why)
		c.offAttr.Store(&off)
		c.status = probes.Status{Name: c.cfg.Name, State: probes.StateDegraded,
			Reason: "no socket figures on spans: eBPF off: " + why}
	}
	c.live.Store(true)
	c.snap.take(c, time.Now())
	for _, k := range c.cfg.Kinds {
		c.unregs = append(c.unregs, netspan.Register(k.Kind, c))
	}
	return nil
}

// OffReason says why the composite's socket tracer does not run: the
// sockets part's own reason when it has one, else the composite's.
func OffReason(p *ebpf.Probe) string {
	if st := p.SocketsStatus(); st.State == probes.StateOff && st.Reason != "" && st.Reason != ReasonNotStarted {
		return st.Reason
	}
	if st := p.Status(); st.Reason != "" {
		return "the ebpf probe is " + st.State.String() + ": " + st.Reason
	}
	return "the ebpf probe is not running"
}

// Shutdown withdraws the probe from the instrumentation. Idempotent.
func (c *Core) Shutdown(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shutdown {
		return nil
	}
	c.shutdown = true
	c.live.Store(false)
	for _, u := range c.unregs {
		u()
	}
	c.unregs = nil
	if c.started {
		c.snap.take(c, time.Now()) // the last one, kept after Shutdown
	}
	reason := ReasonShutDown
	if c.status.State == probes.StateOff && c.status.Reason != ReasonNotStarted {
		reason = c.status.Reason
	}
	c.status = probes.Status{Name: c.cfg.Name, State: probes.StateOff, Reason: reason}
	return nil
}

// Status reports whether the probe runs and, if degraded or off, why.
func (c *Core) Status() probes.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Kernel reports whether the kernel side runs (the probe is not degraded).
func (c *Core) Kernel() bool { return c.live.Load() && c.tr.Load() != nil }

// The source's state in a record: a window on a connection or on a
// goroutine (never both), in Raw.
const (
	flagFound = netspan.FlagSource      // the window is open
	flagG     = netspan.FlagSource << 1 // the window is a goroutine's
	flagBusy  = netspan.FlagSource << 2 // the goroutine had a window already
)

func connMark(r *netspan.Record) *sock.Mark { return (*sock.Mark)(unsafe.Pointer(&r.Raw)) }
func gMark(r *netspan.Record) *sock.GMark   { return (*sock.GMark)(unsafe.Pointer(&r.Raw)) }

var (
	_ [netspan.RawWords*8 - unsafe.Sizeof(sock.Mark{})]byte
	_ [netspan.RawWords*8 - unsafe.Sizeof(sock.GMark{})]byte
)

// Open implements netspan.Source.
func (c *Core) Open(k netspan.Kind, sc trace.SpanContext, start time.Time) *netspan.Record {
	if !c.live.Load() || k >= netspan.NumKinds || c.kinds[k] == nil {
		return nil
	}
	r := c.tab.open(sc.SpanID())
	if r == nil {
		c.acc[k].unmeasured.Add(1)
		c.unmeasured.Add(context.Background(), 1, c.reasons[rFull]...)
		return nil
	}
	r.Reset(c, k, sc, start)
	return r
}

// Conn implements netspan.Source.
func (c *Core) Conn(r *netspan.Record, local, remote netip.AddrPort, at time.Time) {
	tr := c.tr.Load()
	if tr == nil || !c.live.Load() {
		return
	}
	if r.Flags&flagFound != 0 && r.Flags&flagG == 0 {
		tr.ConnSince(connMark(r)) // a retry on another connection: the last one counts
	}
	r.Flags &^= flagFound | flagG
	if mk, ok := tr.MarkConn(sock.Conn(local, remote), r.Start, at); ok {
		*connMark(r) = mk
		r.Flags |= flagFound
	}
}

// Reads implements netspan.Source.
func (c *Core) Reads(r *netspan.Record, until bool, at time.Time) {
	tr := c.tr.Load()
	if tr == nil || !c.live.Load() || r.Flags&flagFound == 0 || r.Flags&flagG != 0 {
		return
	}
	if until {
		tr.ReadsUntil(connMark(r))
	} else {
		tr.ReadsFrom(connMark(r), at)
	}
}

// Goroutine implements netspan.Source.
func (c *Core) Goroutine(r *netspan.Record, at time.Time) {
	tr := c.tr.Load()
	if tr == nil || !c.live.Load() || r.Flags&flagFound != 0 {
		return
	}
	if gm, ok := tr.BeginGoroutine(at); ok {
		*gMark(r) = gm
		r.Flags |= flagFound | flagG
	} else {
		r.Flags |= flagBusy
	}
}

// SpanHook returns the hook that appends the socket attributes of the
// spans with a record when they end.
func (c *Core) SpanHook() spanhook.Hook { return hook{c} }

type hook struct{ c *Core }

func (hook) SpanStart(trace.SpanContext, time.Time) {}

// SpanEnd closes the span's window and appends the socket attributes, or
// verdict.unmeasured with the reason. Spans without a record cost a load
// (none open) or a table lookup.
func (h hook) SpanEnd(sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	c := h.c
	i := c.tab.take(sc.SpanID())
	if i < 0 {
		return dst
	}
	r := &c.tab.recs[i]
	r.Lock() // a transport goroutine may still report on the span
	dst = c.end(r, start, end, dst)
	r.Unlock()
	c.tab.release(i)
	return dst
}

func (c *Core) end(r *netspan.Record, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	k := c.kinds[r.Kind]
	if k == nil {
		return dst
	}
	a := &c.acc[r.Kind]
	tr := c.tr.Load()
	live := c.live.Load()
	var u sock.Usage
	ok := false
	if r.Flags&flagFound != 0 {
		if r.Flags&flagG != 0 {
			u, ok = tr.EndGoroutine(gMark(r))
		} else {
			u, ok = tr.ConnSince(connMark(r))
		}
		switch {
		case !live:
			return dst // shut down: the window is closed, nothing to say
		case !ok:
			return c.unmeasuredAttr(a, dst, attrReused, rReused)
		case u.Shared:
			return c.unmeasuredAttr(a, dst, attrOverlap, rShared)
		case r.Flags&flagG != 0 && u.BytesRead == 0 && u.BytesWritten == 0:
			// Not a zero: the call's I/O happened elsewhere.
			return c.unmeasuredAttr(a, dst, attrNoIO, rUntracked)
		}
	} else {
		switch {
		case !live:
			return dst
		case r.Flags&netspan.FlagNoSocket != 0:
			return c.unmeasuredAttr(a, dst, attribute.String(semconv.AttrUnmeasured, r.Reason), rNoSocket)
		case tr == nil:
			if off := c.offAttr.Load(); off != nil {
				return c.unmeasuredAttr(a, dst, *off, rEBPFOff)
			}
			return dst
		case r.Flags&netspan.FlagNoTCP != 0:
			return c.unmeasuredAttr(a, dst, attrNoTCP, rUntracked)
		case r.Flags&flagBusy != 0:
			return c.unmeasuredAttr(a, dst, attrOverlap, rShared)
		case r.Flags&(netspan.FlagConn|netspan.FlagGoroutine) != 0:
			return c.unmeasuredAttr(a, dst, attrUntracked, rUntracked)
		default:
			return c.unmeasuredAttr(a, dst, attrNoConn, rUntracked)
		}
	}

	wait := u.ReadWait + u.WriteWait
	self := end.Sub(start) - r.Excluded - wait
	if self < 0 {
		self = 0
	}
	dst = append(dst,
		attribute.Float64(semconv.AttrSocketReadWait, u.ReadWait.Seconds()),
		attribute.Float64(semconv.AttrSocketWriteWait, u.WriteWait.Seconds()),
		attribute.Int64(semconv.AttrSocketReadBytes, int64(u.BytesRead)),
		attribute.Int64(semconv.AttrSocketWriteBytes, int64(u.BytesWritten)),
		attribute.Int64(semconv.AttrTCPRetransmits, int64(u.Retransmits)),
		attribute.Int64(semconv.AttrTCPResets, int64(u.Resets)),
		attribute.Float64(semconv.AttrSelfDuration, self.Seconds()),
	)
	if u.Connect > 0 {
		dst = append(dst, attribute.Float64(semconv.AttrTCPConnectDuration, u.Connect.Seconds()))
	}
	if u.Overlapping > 0 {
		dst = append(dst, attribute.Int(semconv.AttrSocketSharedSpans, u.Overlapping))
		a.shared.Add(1)
	}
	a.spans.Add(1)
	a.readWait.Add(int64(u.ReadWait))
	a.writeWait.Add(int64(u.WriteWait))
	a.self.Add(int64(self))
	a.rx.Add(u.BytesRead)
	a.tx.Add(u.BytesWritten)
	a.retrans.Add(u.Retransmits)
	a.resets.Add(u.Resets)
	a.excluded.Add(int64(r.Excluded))
	c.hists[r.Kind].Record(context.Background(), wait.Seconds())
	return dst
}

func (c *Core) unmeasuredAttr(a *accum, dst []attribute.KeyValue, kv attribute.KeyValue, reason int) []attribute.KeyValue {
	a.unmeasured.Add(1)
	c.unmeasured.Add(context.Background(), 1, c.reasons[reason]...)
	return append(dst, kv)
}

var (
	_ netspan.Source    = (*Core)(nil)
	_ spanhook.Provider = (*Core)(nil)
)
