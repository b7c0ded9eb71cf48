package sock

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

func newTestCore(conns, gs, peers int) *core {
	st := new(stats)
	return newCore(make([]conn, conns), make([]gslot, gs), make([]peer, peers), st, 1_000_000_000, time.Now())
}

// claim puts a connection in the table as the kernel does (claim_conn).
func claim(t *testing.T, c *core, id ConnID) *conn {
	t.Helper()
	h := uint64(id)
	for p := uint32(0); p < probeLimit; p++ {
		e := &c.conns[(uint32(h)+p)&c.cmask]
		if e.Key == 0 || e.Closed != 0 {
			*e = conn{Key: h, Gen: e.Gen + 1}
			return e
		}
	}
	t.Fatal("window full")
	return nil
}

var (
	local  = netip.MustParseAddrPort("127.0.0.1:8080")
	remote = netip.MustParseAddrPort("127.0.0.1:50000")
)

// The kernel files IPv4 sockets by their v4-mapped 16-byte form, and a
// dual-stack listener's sockets hold that form already: both spellings of
// an address are one connection.
func TestConnIDIPv4IsItsMappedForm(t *testing.T) {
	mapped := func(ap netip.AddrPort) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(ap.Addr().As16()), ap.Port())
	}
	if Conn(local, remote) != Conn(mapped(local), mapped(remote)) {
		t.Error("127.0.0.1 and ::ffff:127.0.0.1 give different IDs")
	}
	if Conn(local, remote) == Conn(remote, local) {
		t.Error("the two ends of a connection have the same ID")
	}
	// sock.c builds the second word of an IPv4 address as
	// 0xffff0000 | daddr << 32, daddr read from memory (network order).
	a := local.Addr().As4()
	daddr := uint64(binary.LittleEndian.Uint32(a[:]))
	if w0, w1 := addrWords(local.Addr()); w0 != 0 || w1 != 0xffff0000|daddr<<32 {
		t.Errorf("addrWords(%v) = %#x %#x, want 0 %#x", local.Addr(), w0, w1, 0xffff0000|daddr<<32)
	}
}

func TestWaitSinceClipsAWaitThatStartedBefore(t *testing.T) {
	for _, c := range []struct {
		name                                     string
		now, then, waitsNow, waitsThen, pend, at uint64
		want                                     uint64
	}{
		{"no wait pending at the mark", 150, 100, 3, 2, 0, 1000, 50},
		{"pending at the mark, completed since", 700, 100, 3, 2, 400, 1000, 0}, // 600 of which 600 before
		{"pending, completed, part inside", 1300, 100, 3, 2, 400, 1000, 600},   // 1200 - 600
		{"pending at the mark, still pending", 100, 100, 2, 2, 400, 1000, 0},
		{"pending then completed plus another", 1500, 100, 4, 2, 400, 1000, 800},
	} {
		if got := waitSince(c.now, c.then, c.waitsNow, c.waitsThen, c.pend, c.at); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

func TestMarkAndSince(t *testing.T) {
	c := newTestCore(16, 16, 16)
	id := Conn(local, remote)
	e := claim(t, c, id)
	e.RxBytes, e.TxBytes = 100, 200
	start := time.Now()
	e.EstTs, e.ConnectNs = c.mono(start.Add(time.Millisecond)), 12345
	m, ok := c.MarkConn(id, start, time.Time{})
	if !ok {
		t.Fatal("MarkConn: not found")
	}
	e.RxBytes += 10
	e.TxBytes += 20
	e.RdWaitNs += 5000
	e.RdWaits++
	e.Retrans += 2
	u, ok := c.ConnSince(&m)
	if !ok {
		t.Fatal("ConnSince: not ok")
	}
	want := Usage{BytesRead: 10, BytesWritten: 20, ReadWait: 5000, Retransmits: 2, Connect: 12345}
	if u != want {
		t.Errorf("usage %+v, want %+v", u, want)
	}
	if _, ok := c.ConnSince(&m); ok {
		t.Error("second ConnSince of one Mark: ok")
	}
	// Connected before the span: no connect latency.
	m, _ = c.MarkConn(id, start.Add(time.Second), time.Time{})
	if u, _ := c.ConnSince(&m); u.Connect != 0 {
		t.Errorf("connect %v for a connection made before the span", u.Connect)
	}
}

func TestEntryReusedMeanwhile(t *testing.T) {
	c := newTestCore(8, 8, 8)
	id := Conn(local, remote)
	e := claim(t, c, id)
	m, _ := c.MarkConn(id, time.Time{}, time.Time{})
	e.Closed = 1
	other := Conn(remote, local)
	for e.Key != uint64(other) { // the kernel gives the entry to another connection
		claim(t, c, other)
	}
	if _, ok := c.ConnSince(&m); ok {
		t.Error("ConnSince after the entry went to another connection: ok")
	}
	if _, ok := c.MarkConn(id, time.Time{}, time.Time{}); ok {
		t.Error("MarkConn of a connection whose entry was reused: ok")
	}
	if n := c.use[m.idx].active.Load(); n != 0 {
		t.Errorf("%d windows still counted open", n)
	}
}

func TestClosedConnectionIsNotMarked(t *testing.T) {
	c := newTestCore(8, 8, 8)
	id := Conn(local, remote)
	claim(t, c, id).Closed = 99
	if _, ok := c.MarkConn(id, time.Time{}, time.Time{}); ok {
		t.Error("MarkConn of a closed connection: ok")
	}
}

func TestGoroutineTable(t *testing.T) {
	c := newTestCore(8, 8, 8)
	const g = 0xc000001000
	m, ok := c.beginG(g, time.Time{})
	if !ok || *c.pub != 1 {
		t.Fatalf("beginG: %v, published %d", ok, *c.pub)
	}
	s := &c.gslots[m.idx]
	if s.Key != g || s.Since == 0 {
		t.Fatalf("slot %+v", s)
	}
	s.RxBytes += 7
	s.RdWaitNs += 3000
	if _, ok := c.beginG(g, time.Time{}); ok {
		t.Error("second window on the same goroutine: ok")
	}
	u, ok := c.EndGoroutine(&m)
	if !ok || u.BytesRead != 7 || u.ReadWait != 3000 || !u.Shared {
		t.Errorf("EndGoroutine = %+v, %v; want 7 bytes, 3 µs, shared", u, ok)
	}
	if s.Key != 0 || *c.pub != 0 {
		t.Errorf("after End: key %#x, published %d", s.Key, *c.pub)
	}
	if _, ok := c.EndGoroutine(&m); ok {
		t.Error("second EndGoroutine: ok")
	}
	// A full window is refused, not overwritten.
	for i := range c.gslots {
		c.gslots[i].Key = 1
	}
	if _, ok := c.beginG(g, time.Time{}); ok {
		t.Error("beginG with every slot taken: ok")
	}
}

func TestPeersLeaveOutTheBaseline(t *testing.T) {
	c := newTestCore(8, 8, 8)
	a := netip.MustParseAddr("10.0.0.7").As16()
	c.peers[3] = peer{Key: peerKey(a, 5432), Ready: 1, Addr: a, Port: 5432, Connects: 1, Established: 1}
	c.peers[5] = peer{Key: 9, Addr: a, Port: 1, Refused: 4} // claimed, not ready: skipped
	c.forgetPeers()
	if p := c.Peers(nil); len(p) != 0 {
		t.Errorf("peers after forgetPeers: %+v", p)
	}
	c.peers[3].Refused += 2
	p := c.Peers(nil)
	if len(p) != 1 || p[0].Addr != netip.MustParseAddr("10.0.0.7") || p[0].Port != 5432 || p[0].PeerCounts != (PeerCounts{Refused: 2}) {
		t.Errorf("peers %+v, want 10.0.0.7:5432 with 2 refused", p)
	}
}

func TestClosedCoreIsNoop(t *testing.T) {
	c := newTestCore(8, 8, 8)
	id := Conn(local, remote)
	claim(t, c, id)
	m, _ := c.MarkConn(id, time.Time{}, time.Time{})
	c.close()
	if _, ok := c.MarkConn(id, time.Time{}, time.Time{}); ok {
		t.Error("MarkConn after close")
	}
	if _, ok := c.ConnSince(&m); ok {
		t.Error("ConnSince after close")
	}
	if _, ok := c.beginG(1<<20, time.Time{}); ok {
		t.Error("beginG after close")
	}
}

func TestTableAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := newTestCore(64, 64, 64)
	id := Conn(local, remote)
	claim(t, c, id)
	start := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		m, _ := c.MarkConn(Conn(local, remote), start, start)
		c.ConnSince(&m)
		g, _ := c.BeginGoroutine(start)
		c.EndGoroutine(&g)
	})
	if allocs != 0 {
		t.Errorf("a connection window and a goroutine window allocate %v times", allocs)
	}
}

func BenchmarkConnWindow(b *testing.B) {
	c := newTestCore(4096, 64, 64)
	id := Conn(local, remote)
	h := uint64(id)
	c.conns[uint32(h)&c.cmask] = conn{Key: h, Gen: 1}
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		m, _ := c.MarkConn(Conn(local, remote), at, at)
		c.ConnSince(&m)
	}
}

func BenchmarkGoroutineWindow(b *testing.B) {
	c := newTestCore(64, 4096, 64)
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		g, _ := c.BeginGoroutine(at)
		c.EndGoroutine(&g)
	}
}
