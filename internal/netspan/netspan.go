// Package netspan is the contract between verdict's instrumentation
// (middleware, sqlxprobe) and the probes that measure the socket side of its
// spans (probes/nethttp, probes/grpc, probes/sql) and the process's TCP
// connects (probes/tcp).
//
// The instrumentation knows which connection a span uses (net/http's
// GotConn, gRPC's header events, the request's addresses) or that the span's
// own goroutine does the I/O (database drivers); the probes know the kernel.
// A probe registers as the [Source] of the span kinds it measures. When a
// sampled span of such a kind starts, the instrumentation calls [Begin] and
// keeps the returned [Handle] in its per-request state; it tells the handle
// the span's connection (or goroutine, or that there is no socket) as soon
// as it knows. The probe keeps a [Record] per open span and adds the
// attributes when the span ends, through the tracer's span pipeline (its
// spanhook.Hook): so the values join the other probes' there, including one
// verdict.unmeasured attribute for what could not be measured.
//
// With no source registered (no verdict tracer, or its probes off) Begin
// is a load and a compare and returns an inactive Handle whose methods do
// nothing. Nothing here imports the kernel side: instrumentation stays free
// of package bpf.
package netspan

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Kind is what a span is, as the instrumentation knows it.
type Kind uint8

// Span kinds.
const (
	HTTPServer Kind = iota
	HTTPClient
	GRPCServer
	GRPCClient
	DB
	NumKinds
)

// Source keeps the records of open spans of the kinds it registered for
// and measures them; the probes implement it.
//
// Concurrency: Open is called concurrently; Conn and Goroutine concurrently
// for different records, each at most once per record between Open and the
// span's end, on any goroutine (Goroutine on the one that does the I/O).
// They must not block, should not allocate, and never panic.
type Source interface {
	// Open returns a free record for the span sc of kind k, which
	// started at start, with Kind, Start and SpanID set and every other
	// field cleared; nil when the source keeps no more records (counted).
	Open(k Kind, sc trace.SpanContext, start time.Time) *Record
	// Conn starts a window on the TCP connection local→remote at at.
	Conn(r *Record, local, remote netip.AddrPort, at time.Time)
	// Goroutine starts a window on the calling goroutine's sockets at at.
	Goroutine(r *Record, at time.Time)
	// Reads narrows the read side of the connection window: with until
	// false, read waits count from at on (a client's request is written);
	// with until true, they count until now only (a server's request is
	// read in full). Called any number of times.
	Reads(r *Record, until bool, at time.Time)
}

// Record flags.
const (
	// FlagConn: Conn was called (the source may have found the
	// connection or not).
	FlagConn uint32 = 1 << iota
	// FlagGoroutine: Goroutine was called.
	FlagGoroutine
	// FlagNoTCP: the span's connection is not TCP (a unix socket, an
	// in-memory pipe), or its addresses are unknown.
	FlagNoTCP
	// FlagNoSocket: the span has no socket at all (an in-process
	// database); Reason says why.
	FlagNoSocket
	// FlagSource and above are the source's own.
	FlagSource
)

// RawWords is the size of a Record's storage for the source, in words.
const RawWords = 24

// Record is the socket side of one open span, kept by its source. The
// instrumentation writes it through a Handle until the span ends; the
// source reads it when the span ends (the span's end happens after the
// instrumentation's last write). Fields other than Raw are the contract.
type Record struct {
	Kind   Kind
	Start  time.Time
	SpanID trace.SpanID
	// Flags say what the instrumentation told the record (FlagConn, ...).
	Flags uint32
	// Reason is why the span has no socket (FlagNoSocket): the complete
	// verdict.unmeasured value, a constant.
	Reason string
	// Excluded is the part of the span that is neither socket wait nor
	// its own time (a database call's pool wait).
	Excluded time.Duration
	// Raw is the source's storage (a window on a connection or a
	// goroutine, as bpf/sock hands them out).
	Raw [RawWords]uint64
	// Gen changes each time the source hands the record out again.
	Gen uint32

	src Source
	// mu orders the instrumentation's calls and the span's end: an HTTP/2
	// or gRPC transport goroutine may report the request written while
	// the caller's goroutine ends the span.
	mu sync.Mutex
}

// Lock and Unlock hold the record while a source ends its span (the
// Handle methods hold it for their calls).
func (r *Record) Lock()   { r.mu.Lock() }
func (r *Record) Unlock() { r.mu.Unlock() }

// Reset clears r for the span sc of kind k and binds it to src; sources
// call it in Open.
func (r *Record) Reset(src Source, k Kind, sc trace.SpanContext, start time.Time) {
	r.mu.Lock()
	r.Kind, r.Start, r.SpanID, r.Flags, r.Reason, r.Excluded = k, start, sc.SpanID(), 0, "", 0
	r.Raw = [RawWords]uint64{}
	r.Gen++
	r.src = src
	r.mu.Unlock()
}

// Handle is the instrumentation's reference to the record of one span. The
// zero Handle is inactive: its methods do nothing.
type Handle struct {
	r   *Record
	gen uint32
}

// Active reports whether the span has a record.
func (h Handle) Active() bool {
	if !h.lock() {
		return false
	}
	h.r.mu.Unlock()
	return true
}

// lock holds the record when it is still the span's; the caller unlocks.
func (h Handle) lock() bool {
	if h.r == nil {
		return false
	}
	h.r.mu.Lock()
	if h.r.Gen != h.gen {
		h.r.mu.Unlock()
		return false
	}
	return true
}

// Conn tells the record the span's connection by its addresses, as
// net.Conn's LocalAddr and RemoteAddr or gRPC's stats give them, at time at
// (the caller's clock reading). Addresses that are not TCP (or nil) mark
// the span FlagNoTCP.
func (h Handle) Conn(local, remote net.Addr, at time.Time) {
	l, ok1 := tcpAddr(local)
	r, ok2 := tcpAddr(remote)
	if !ok1 || !ok2 {
		l, r = netip.AddrPort{}, netip.AddrPort{} // not TCP
	}
	h.ConnAddrs(l, r, at)
}

// ConnAddrs is Conn with addresses already parsed.
func (h Handle) ConnAddrs(local, remote netip.AddrPort, at time.Time) {
	if !h.lock() {
		return
	}
	defer h.r.mu.Unlock()
	if h.r.Flags&FlagNoSocket != 0 {
		return
	}
	if !local.IsValid() || !remote.IsValid() {
		h.r.Flags |= FlagConn | FlagNoTCP
		return
	}
	h.r.Flags |= FlagConn
	h.r.src.Conn(h.r, local, remote, at)
}

func tcpAddr(a net.Addr) (netip.AddrPort, bool) {
	t, ok := a.(*net.TCPAddr)
	if !ok || t == nil {
		return netip.AddrPort{}, false
	}
	ap := t.AddrPort()
	return ap, ap.IsValid()
}

// RequestWritten tells the record that a client span's request was written
// in full at at: its waits for the answer count from then (before, the
// connection's reader may wait while the client itself is still sending).
// The last call counts.
func (h Handle) RequestWritten(at time.Time) {
	if !h.lock() {
		return
	}
	defer h.r.mu.Unlock()
	if h.r.Flags&FlagConn == 0 {
		return
	}
	h.r.src.Reads(h.r, false, at)
}

// RequestRead tells the record that a server span's request was read in
// full: its read waits end here (after, the connection's reader waits for
// the next request, or on HTTP/2 for any stream). The last call counts.
func (h Handle) RequestRead() {
	if !h.lock() {
		return
	}
	defer h.r.mu.Unlock()
	if h.r.Flags&FlagConn == 0 {
		return
	}
	h.r.src.Reads(h.r, true, time.Time{})
}

// Goroutine tells the record that the span's socket I/O runs on the calling
// goroutine from at on. Only the first call counts.
func (h Handle) Goroutine(at time.Time) {
	if !h.lock() {
		return
	}
	defer h.r.mu.Unlock()
	if h.r.Flags&(FlagGoroutine|FlagNoSocket) != 0 {
		return
	}
	h.r.Flags |= FlagGoroutine
	h.r.src.Goroutine(h.r, at)
}

// NoSocket tells the record that the span has no socket to measure; reason
// is the complete verdict.unmeasured value, a constant ("socket,tcp: SQLite
// runs in the process").
func (h Handle) NoSocket(reason string) {
	if !h.lock() {
		return
	}
	defer h.r.mu.Unlock()
	h.r.Flags |= FlagNoSocket
	h.r.Reason = reason
}

// Exclude records d as the part of the span that is neither socket wait
// nor the span's own time (pool wait).
func (h Handle) Exclude(d time.Duration) {
	if !h.lock() {
		return
	}
	defer h.r.mu.Unlock()
	h.r.Excluded = d
}

type registration struct{ src Source }

var (
	registry [NumKinds]atomic.Pointer[registration]
	pipeline atomic.Pointer[tpRef]
)

type tpRef struct{ tp trace.TracerProvider }

// Begin returns the handle of a new record for span, of kind k, started at
// start, when a source measures that kind, the span is sampled and
// recording, and it belongs to the tracer provider whose pipeline ends the
// records (see SetTracerProvider): a record is freed only when the span
// ends through that pipeline. Otherwise the handle is inactive.
func Begin(k Kind, span trace.Span, start time.Time) Handle {
	if k >= NumKinds {
		return Handle{}
	}
	reg := registry[k].Load()
	if reg == nil {
		return Handle{}
	}
	sc := span.SpanContext()
	if !sc.IsSampled() || !span.IsRecording() {
		return Handle{}
	}
	if p := pipeline.Load(); p != nil && span.TracerProvider() != p.tp {
		return Handle{}
	}
	r := reg.src.Open(k, sc, start)
	if r == nil {
		return Handle{}
	}
	return Handle{r: r, gen: r.Gen}
}

// Register makes src the source of spans of kind k (replacing any other)
// and returns the function that withdraws it; that function does nothing
// when another source replaced src meanwhile. Records open stay with their
// source until their spans end.
func Register(k Kind, src Source) (unregister func()) {
	if k >= NumKinds || src == nil {
		return func() {}
	}
	r := &registration{src: src}
	registry[k].Store(r)
	return func() { registry[k].CompareAndSwap(r, nil) }
}

// SetTracerProvider names the tracer provider whose span pipeline ends the
// records (verdict's tracer sets its own), so that spans of other providers
// (another SDK in the same process) get no record that would never end. It
// returns the function that withdraws it. Without one, every sampled span
// gets a record.
func SetTracerProvider(tp trace.TracerProvider) (unset func()) {
	if tp == nil {
		return func() {}
	}
	r := &tpRef{tp: tp}
	pipeline.Store(r)
	return func() { pipeline.CompareAndSwap(r, nil) }
}

// ConnectObserver learns about TCP connects that the instrumentation saw
// complete or fail (net/http's ConnectDone), for a TCP probe that cannot
// see them from the kernel.
type ConnectObserver interface {
	// ConnectDone is called after each connect: addr is "host:port", err
	// nil on success. It must not block.
	ConnectDone(network, addr string, err error)
}

type observerReg struct{ o ConnectObserver }

var observer atomic.Pointer[observerReg]

// ObserveConnects makes o the observer of connects (replacing any other)
// and returns the function that withdraws it.
func ObserveConnects(o ConnectObserver) (unregister func()) {
	if o == nil {
		return func() {}
	}
	r := &observerReg{o: o}
	observer.Store(r)
	return func() { observer.CompareAndSwap(r, nil) }
}

// ObservingConnects reports whether an observer wants connects (so that
// the instrumentation skips the call otherwise).
func ObservingConnects() bool { return observer.Load() != nil }

// ConnectDone reports a connect to the observer, if any.
func ConnectDone(network, addr string, err error) {
	if r := observer.Load(); r != nil {
		r.o.ConnectDone(network, addr, err)
	}
}
