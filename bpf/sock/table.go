package sock

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/verdict-obs/verdict/bpf/internal/goid"
)

// core is the user-space half: it reads the memory shared with the kernel
// programs and keeps what only user space needs (windows open per
// connection, goroutine claims). Every access to the shared memory happens
// under life (read-locked), so close can unmap it safely.
type core struct {
	life   sync.RWMutex
	closed bool // guarded by life

	conns []conn
	cmask uint32
	use   []connUse // parallel to conns

	gmu    sync.Mutex // guards the user-written gslot fields, gmeta and npub
	gslots []gslot
	gmask  uint32
	gmeta  []gmeta
	npub   uint64
	pub    *uint64 // where the kernel reads npub (stats.Published)

	peers []peer
	pbase []PeerCounts // subtracted from peers (the calibration's own connection)

	st *stats

	// clock: CLOCK_MONOTONIC (the kernel's bpf_ktime_get_ns) at base.
	monoBase uint64
	timeBase time.Time
}

// connUse counts the windows open on a connection entry.
type connUse struct {
	active atomic.Int32
	starts atomic.Uint64
}

type gmeta struct {
	open   bool
	shared bool
}

func newCore(conns []conn, gslots []gslot, peers []peer, st *stats, monoBase uint64, timeBase time.Time) *core {
	return &core{
		conns:    conns,
		cmask:    uint32(len(conns) - 1),
		use:      make([]connUse, len(conns)),
		gslots:   gslots,
		gmask:    uint32(len(gslots) - 1),
		gmeta:    make([]gmeta, len(gslots)),
		pub:      &st.Published,
		peers:    peers,
		pbase:    make([]PeerCounts, len(peers)),
		st:       st,
		monoBase: monoBase,
		timeBase: timeBase,
	}
}

// mono returns t on the kernel's clock (CLOCK_MONOTONIC nanoseconds),
// through the monotonic reading that time.Now values carry.
func (c *core) mono(t time.Time) uint64 {
	return c.monoBase + uint64(t.Sub(c.timeBase))
}

// counters is a reading of one connection entry.
type counters struct {
	rx, tx           uint64
	rdWait, rdWaits  uint64
	rdPend           uint64
	wrWait, wrWaits  uint64
	wrPend           uint64
	retrans, resets  uint64
	connectNs, estTs uint64
}

func (e *conn) load() (r counters) {
	r.rx = atomic.LoadUint64(&e.RxBytes)
	r.tx = atomic.LoadUint64(&e.TxBytes)
	// The pending start before the counters: the kernel adds a completed
	// wait before it clears the pending start.
	r.rdPend = atomic.LoadUint64(&e.RdPend)
	r.rdWait = atomic.LoadUint64(&e.RdWaitNs)
	r.rdWaits = atomic.LoadUint64(&e.RdWaits)
	r.wrPend = atomic.LoadUint64(&e.WrPend)
	r.wrWait = atomic.LoadUint64(&e.WrWaitNs)
	r.wrWaits = atomic.LoadUint64(&e.WrWaits)
	r.retrans = atomic.LoadUint64(&e.Retrans)
	r.resets = atomic.LoadUint64(&e.Resets)
	r.connectNs = atomic.LoadUint64(&e.ConnectNs)
	r.estTs = atomic.LoadUint64(&e.EstTs)
	return r
}

// Mark is the start of a window on a connection, from [Tracer.MarkConn]. It
// is a plain value (no pointers): keep it in per-request state and hand it
// to [Tracer.ConnSince] once. The zero Mark marks nothing.
type Mark struct {
	gen     uint64 // 0: nothing marked
	key     uint64
	at      uint64 // when the window started (kernel clock)
	starts  uint64 // the connection's window count after this one began
	connect uint64 // kernel connect latency, when made inside the span
	c       counters
	// The read side may count over a part of the window only
	// (ReadsFrom, ReadsUntil): its own start and, once ended, its end.
	rdAt              uint64
	rdEndWait, rdEndN uint64
	rdEnded           bool
	idx               int32
	others            int32 // windows already open on the connection
}

// MarkConn starts a window on connection id at time at (zero: now; callers
// that just read the clock pass that reading): its counters from then on
// count for the window. spanStart is when the span that owns the window
// started (zero: unknown): a connect the kernel completed after it is
// reported as the window's [Usage].Connect. It reports false when the
// connection is not tracked (not a TCP connection of this process, one it
// accepted and never read or wrote yet, its table window full, or the
// tracer closed). Allocation-free, no system call.
func (c *core) MarkConn(id ConnID, spanStart, at time.Time) (Mark, bool) {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return Mark{}, false
	}
	h := uint64(id)
	for p := uint32(0); p < probeLimit; p++ {
		k := (uint32(h) + p) & c.cmask
		e := &c.conns[k]
		if atomic.LoadUint64(&e.Key) != h || atomic.LoadUint64(&e.Closed) != 0 {
			continue
		}
		gen := atomic.LoadUint64(&e.Gen)
		r := e.load()
		if atomic.LoadUint64(&e.Gen) != gen || atomic.LoadUint64(&e.Key) != h || gen == 0 {
			continue // reclaimed meanwhile
		}
		if at.IsZero() {
			at = time.Now()
		}
		m := Mark{gen: gen, key: h, at: c.mono(at), c: r, idx: int32(k)}
		m.rdAt = m.at
		if !spanStart.IsZero() && r.estTs != 0 && r.estTs >= c.mono(spanStart) {
			m.connect = r.connectNs
		}
		u := &c.use[k]
		m.starts = u.starts.Add(1)
		m.others = u.active.Add(1) - 1
		return m, true
	}
	return Mark{}, false
}

// waitSince is the wait time added since the mark, less the part of a wait
// that was in progress at the mark and completed since (before the window).
func waitSince(now, then uint64, waitsNow, waitsThen, pendThen, at uint64) uint64 {
	d := now - then
	if pendThen != 0 && waitsNow > waitsThen && at > pendThen {
		clip := at - pendThen
		if clip >= d {
			return 0
		}
		d -= clip
	}
	return d
}

// ConnSince ends the window m started and returns what the connection did
// during it. ok is false when the connection's entry was reused by another
// connection meanwhile (it closed and the table needed the room), or when m
// marks nothing. Call it once per Mark; m is cleared. Allocation-free, no
// system call.
func (c *core) ConnSince(m *Mark) (u Usage, ok bool) {
	if m.gen == 0 {
		return Usage{}, false
	}
	c.life.RLock()
	defer c.life.RUnlock()
	mk := *m
	*m = Mark{}
	if c.closed {
		return Usage{}, false
	}
	use := &c.use[mk.idx]
	use.active.Add(-1)
	u.Overlapping = int(mk.others) + int(use.starts.Load()-mk.starts)
	e := &c.conns[mk.idx]
	if atomic.LoadUint64(&e.Gen) != mk.gen || atomic.LoadUint64(&e.Key) != mk.key {
		return Usage{}, false
	}
	r := e.load()
	if atomic.LoadUint64(&e.Gen) != mk.gen {
		return Usage{}, false
	}
	if mk.rdEnded {
		r.rdWait, r.rdWaits = mk.rdEndWait, mk.rdEndN
	}
	u.ReadWait = time.Duration(waitSince(r.rdWait, mk.c.rdWait, r.rdWaits, mk.c.rdWaits, mk.c.rdPend, mk.rdAt))
	u.WriteWait = time.Duration(waitSince(r.wrWait, mk.c.wrWait, r.wrWaits, mk.c.wrWaits, mk.c.wrPend, mk.at))
	u.BytesRead = r.rx - mk.c.rx
	u.BytesWritten = r.tx - mk.c.tx
	u.Retransmits = r.retrans - mk.c.retrans
	u.Resets = r.resets - mk.c.resets
	u.Connect = time.Duration(mk.connect)
	return u, true
}

// ReadsFrom makes the window count read waits from at on (zero: now)
// instead of from its start: a client's waits for the answer begin once its
// request is written (before, its connection's reader waits while the
// client still sends). Allocation-free, no system call.
func (c *core) ReadsFrom(m *Mark, at time.Time) {
	if m.gen == 0 || m.rdEnded {
		return
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return
	}
	e := &c.conns[m.idx]
	pend := atomic.LoadUint64(&e.RdPend)
	wait := atomic.LoadUint64(&e.RdWaitNs)
	n := atomic.LoadUint64(&e.RdWaits)
	if atomic.LoadUint64(&e.Gen) != m.gen {
		return // ConnSince will tell
	}
	if at.IsZero() {
		at = time.Now()
	}
	m.c.rdPend, m.c.rdWait, m.c.rdWaits, m.rdAt = pend, wait, n, c.mono(at)
}

// ReadsUntil makes the window count read waits until now only: a server's
// waits for its request end once the request is read in full (after that,
// a connection's reader waits for the next request, or, on HTTP/2, for any
// stream). Later calls move the end. Allocation-free, no system call.
func (c *core) ReadsUntil(m *Mark) {
	if m.gen == 0 {
		return
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return
	}
	e := &c.conns[m.idx]
	wait := atomic.LoadUint64(&e.RdWaitNs)
	n := atomic.LoadUint64(&e.RdWaits)
	if atomic.LoadUint64(&e.Gen) != m.gen {
		return
	}
	m.rdEndWait, m.rdEndN, m.rdEnded = wait, n, true
}

// GMark is the start of a window on the calling goroutine's sockets, from
// [Tracer.BeginGoroutine]. A plain value; the zero GMark marks nothing.
type GMark struct {
	gen                    uint64
	key                    uint64
	rx, tx, rdWait, wrWait uint64
	retrans, resets        uint64
	idx                    int32
}

func (s *gslot) counts() (rx, tx, rdWait, wrWait, retrans, resets uint64) {
	return atomic.LoadUint64(&s.RxBytes), atomic.LoadUint64(&s.TxBytes),
		atomic.LoadUint64(&s.RdWaitNs), atomic.LoadUint64(&s.WrWaitNs),
		atomic.LoadUint64(&s.Retrans), atomic.LoadUint64(&s.Resets)
}

func gHash(g uint64) uint32 { return uint32((g * 0x9E3779B97F4A7C15) >> 32) }

// BeginGoroutine publishes the calling goroutine: until [Tracer.EndGoroutine],
// the socket calls it makes count for the window, with the connection's
// retransmissions and resets while it was the last to use it. Waits count
// from at (zero: now; callers that just read the clock pass that reading).
// It reports false when the goroutine already has an open window
// (that one is then marked [Usage].Shared), when no entry is free in the
// goroutine's window of the table, or when the tracer is closed.
// Allocation-free, no system call.
func (c *core) BeginGoroutine(at time.Time) (GMark, bool) {
	return c.beginG(uint64(goid.Get()), at)
}

func (c *core) beginG(g uint64, at time.Time) (GMark, bool) {
	if g == 0 {
		return GMark{}, false
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return GMark{}, false
	}
	c.gmu.Lock()
	defer c.gmu.Unlock()
	h := gHash(g)
	free := int32(-1)
	for p := uint32(0); p < probeLimit; p++ {
		k := int32((h + p) & c.gmask)
		key := c.gslots[k].Key
		if key == g {
			c.gmeta[k].shared = true
			return GMark{}, false
		}
		if key == 0 && free < 0 {
			free = k
		}
	}
	if free < 0 {
		return GMark{}, false
	}
	s := &c.gslots[free]
	if at.IsZero() {
		at = time.Now()
	}
	s.Gen++
	atomic.StoreUint64(&s.Since, c.mono(at))
	m := GMark{gen: s.Gen, key: g, idx: free}
	m.rx, m.tx, m.rdWait, m.wrWait, m.retrans, m.resets = s.counts()
	c.gmeta[free] = gmeta{open: true}
	c.npub++
	atomic.StoreUint64(c.pub, c.npub)
	atomic.StoreUint64(&s.Key, g) // the kernel attributes from here on
	return m, true
}

// EndGoroutine ends the window m started and returns what the goroutine's
// sockets did during it. It may run on any goroutine. ok is false when m
// marks nothing or the tracer is closed. Call it once per GMark; m is
// cleared. Allocation-free, no system call.
func (c *core) EndGoroutine(m *GMark) (u Usage, ok bool) {
	if m.gen == 0 {
		return Usage{}, false
	}
	mk := *m
	*m = GMark{}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return Usage{}, false
	}
	c.gmu.Lock()
	defer c.gmu.Unlock()
	s := &c.gslots[mk.idx]
	if s.Key != mk.key || s.Gen != mk.gen {
		return Usage{}, false
	}
	rx, tx, rdWait, wrWait, retrans, resets := s.counts()
	u = Usage{
		ReadWait:     time.Duration(rdWait - mk.rdWait),
		WriteWait:    time.Duration(wrWait - mk.wrWait),
		BytesRead:    rx - mk.rx,
		BytesWritten: tx - mk.tx,
		Retransmits:  retrans - mk.retrans,
		Resets:       resets - mk.resets,
		Shared:       c.gmeta[mk.idx].shared,
	}
	atomic.StoreUint64(&s.Key, 0) // the kernel stops attributing
	c.gmeta[mk.idx] = gmeta{}
	c.npub--
	atomic.StoreUint64(c.pub, c.npub)
	return u, true
}

func (p *peer) counts() PeerCounts {
	return PeerCounts{
		Connects:       atomic.LoadUint64(&p.Connects),
		Established:    atomic.LoadUint64(&p.Established),
		Refused:        atomic.LoadUint64(&p.Refused),
		Failed:         atomic.LoadUint64(&p.Failed),
		ResetsReceived: atomic.LoadUint64(&p.ResetsRx),
		ResetsSent:     atomic.LoadUint64(&p.ResetsTx),
		Retransmits:    atomic.LoadUint64(&p.Retrans),
	}
}

// Peers appends to dst every peer with at least one event since [Open] and
// returns the result. It reads memory shared with the kernel (no system
// call); it allocates only when dst must grow.
func (c *core) Peers(dst []Peer) []Peer {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return dst
	}
	for i := range c.peers {
		p := &c.peers[i]
		if atomic.LoadUint64(&p.Key) == 0 || atomic.LoadUint64(&p.Ready) == 0 {
			continue
		}
		n := p.counts()
		n.sub(c.pbase[i])
		if n.Zero() {
			continue
		}
		addr := netip.AddrFrom16(p.Addr).Unmap()
		dst = append(dst, Peer{Addr: addr, Port: p.Port, PeerCounts: n})
	}
	return dst
}

// forgetPeers makes Peers leave out the events counted so far (the
// calibration's own connection).
func (c *core) forgetPeers() {
	c.life.RLock()
	defer c.life.RUnlock()
	for i := range c.peers {
		p := &c.peers[i]
		if atomic.LoadUint64(&p.Key) != 0 && atomic.LoadUint64(&p.Ready) != 0 {
			c.pbase[i] = p.counts()
		}
	}
}

// Stats returns what could not be tracked since Open.
func (c *core) Stats() Stats {
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return Stats{}
	}
	st := c.st
	o := &st.Other
	return Stats{
		SockDrops: atomic.LoadUint64(&st.SockDrops),
		ConnDrops: atomic.LoadUint64(&st.ConnDrops),
		PeerDrops: atomic.LoadUint64(&st.PeerDrops),
		Other: PeerCounts{
			Connects: atomic.LoadUint64(&o[0]), Established: atomic.LoadUint64(&o[1]),
			Refused: atomic.LoadUint64(&o[2]), Failed: atomic.LoadUint64(&o[3]),
			ResetsReceived: atomic.LoadUint64(&o[4]), ResetsSent: atomic.LoadUint64(&o[5]),
			Retransmits: atomic.LoadUint64(&o[6]),
		},
	}
}

// close makes every later call a no-op and waits for the running ones.
func (c *core) close() {
	c.life.Lock()
	c.closed = true
	c.life.Unlock()
}

// The entries are 128 bytes, as sock.c lays them out.
var (
	_ [unsafe.Sizeof(conn{}) - 128]byte
	_ [128 - unsafe.Sizeof(conn{})]byte
	_ [unsafe.Sizeof(gslot{}) - 128]byte
	_ [128 - unsafe.Sizeof(gslot{})]byte
	_ [unsafe.Sizeof(peer{}) - 128]byte
	_ [128 - unsafe.Sizeof(peer{})]byte
	_ [unsafe.Sizeof(stats{}) - 128]byte
	_ [128 - unsafe.Sizeof(stats{})]byte
)
