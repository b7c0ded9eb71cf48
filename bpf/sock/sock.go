package sock

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// Options configures [Open]. A nil *Options means defaults. Sizes are
// rounded up to a power of two.
type Options struct {
	// Conns is how many TCP connections of the process are tracked at once
	// (128 bytes of memory shared with the kernel each). Zero means 4096; at
	// most 65536. A connection that finds no entry is counted in
	// [Stats].ConnDrops and gets no per-connection figures.
	Conns int
	// Goroutines is how many goroutines may be published at once with
	// [Tracer.BeginGoroutine] (128 bytes each). Zero means 1024; at most
	// 65536.
	Goroutines int
	// Peers is how many peers get their own counters (128 bytes each); the
	// events of the others are summed in [Stats].Other. Zero means 1024; at
	// most 65536.
	Peers int
}

const (
	defaultConns      = 4096
	defaultGoroutines = 1024
	defaultPeers      = 1024
	maxEntries        = 1 << 16
	// probeLimit is how many consecutive entries a key may occupy. Must
	// equal PROBE_LIMIT in sock.c.
	probeLimit = 8

	seedConn = 0x7665726469637431
	seedPeer = 0x7665726469637432
)

func roundPow2(n int) int {
	p := probeLimit
	for p < n {
		p <<= 1
	}
	return p
}

func size(n, def int) int {
	if n <= 0 {
		n = def
	}
	return roundPow2(min(n, maxEntries))
}

// ConnID identifies a TCP connection of the process by its local and remote
// addresses and ports, the way the kernel programs file it. Compute it with
// [Conn].
type ConnID uint64

func mix(h, v uint64) uint64 {
	h ^= v
	h *= 0x9E3779B97F4A7C15
	h ^= h >> 29
	return h
}

// addrWords returns a's 16-byte form (IPv4 as ::ffff:a.b.c.d) as two
// little-endian words, as sock.c reads it from the socket.
func addrWords(a netip.Addr) (uint64, uint64) {
	b := a.Unmap().As16() // IPv4 in its v4-mapped 16-byte form
	return binary.LittleEndian.Uint64(b[:8]), binary.LittleEndian.Uint64(b[8:])
}

// Conn returns the ID of the connection between local and remote, as
// net.Conn's LocalAddr and RemoteAddr give them. An IPv4 address and its
// IPv4-mapped IPv6 form are the same. Allocation-free.
func Conn(local, remote netip.AddrPort) ConnID {
	l0, l1 := addrWords(local.Addr())
	r0, r1 := addrWords(remote.Addr())
	ports := uint64(local.Port())<<16 | uint64(remote.Port())
	h := mix(mix(mix(mix(mix(seedConn, l0), l1), r0), r1), ports)
	if h == 0 {
		h = 1
	}
	return ConnID(h)
}

func peerKey(addr [16]byte, port uint16) uint64 {
	a0, a1 := binary.LittleEndian.Uint64(addr[:8]), binary.LittleEndian.Uint64(addr[8:])
	h := mix(mix(mix(seedPeer, a0), a1), uint64(port))
	if h == 0 {
		h = 1
	}
	return h
}

// Usage is what a connection or a goroutine did on its TCP sockets during a
// window (a span, or part of one).
type Usage struct {
	// ReadWait is the time reads found nothing to read and waited for data:
	// from a read that returned EAGAIN to the next read on that socket that
	// returned data (or end of file), counted within the window.
	ReadWait time.Duration
	// WriteWait is the same for writes that found the send buffer full.
	WriteWait time.Duration
	// BytesRead and BytesWritten are the bytes moved through the sockets.
	BytesRead, BytesWritten uint64
	// Retransmits counts TCP segments retransmitted on the connection(s).
	Retransmits uint64
	// Resets counts TCP resets received or sent on the connection(s).
	Resets uint64
	// Connect is the kernel's connect latency (SYN sent to established)
	// when the connection was made after the window's span started
	// ([Tracer.MarkConn]); zero otherwise.
	Connect time.Duration
	// Overlapping is how many other windows were open on the same
	// connection during this one ([Tracer.MarkConn]): zero means the
	// figures above are this window's alone; otherwise they are the
	// connection's, shared by all of them.
	Overlapping int
	// Shared reports, for a goroutine window ([Tracer.BeginGoroutine]),
	// that another window was begun on the same goroutine while this one
	// was open: the figures then include that one's.
	Shared bool
}

// PeerCounts are the TCP events of one peer.
type PeerCounts struct {
	Connects       uint64 // connection attempts (SYN sent)
	Established    uint64 // attempts that completed
	Refused        uint64 // attempts answered with a reset (nothing listens)
	Failed         uint64 // attempts that failed otherwise (timeout, unreachable)
	ResetsReceived uint64 // resets received on established connections
	ResetsSent     uint64 // resets sent
	Retransmits    uint64 // segments retransmitted
}

func (c *PeerCounts) add(o PeerCounts) {
	c.Connects += o.Connects
	c.Established += o.Established
	c.Refused += o.Refused
	c.Failed += o.Failed
	c.ResetsReceived += o.ResetsReceived
	c.ResetsSent += o.ResetsSent
	c.Retransmits += o.Retransmits
}

func (c *PeerCounts) sub(o PeerCounts) {
	c.Connects -= o.Connects
	c.Established -= o.Established
	c.Refused -= o.Refused
	c.Failed -= o.Failed
	c.ResetsReceived -= o.ResetsReceived
	c.ResetsSent -= o.ResetsSent
	c.Retransmits -= o.Retransmits
}

// Zero reports whether no event was counted.
func (c PeerCounts) Zero() bool { return c == PeerCounts{} }

// Peer is one remote end of the process's TCP connections.
type Peer struct {
	// Addr is the remote address (IPv4 unmapped).
	Addr netip.Addr
	// Port is the remote port for connections this process made; 0 for
	// connections it accepted (their remote ports are the clients'
	// ephemeral ports, so clients are counted by address).
	Port uint16
	PeerCounts
}

// Stats counts what could not be tracked since [Open] (and the events of
// peers beyond [Options].Peers).
type Stats struct {
	// SockDrops counts sockets not tracked because the kernel's socket map
	// was full.
	SockDrops uint64
	// ConnDrops counts connections without a per-connection entry (their
	// window in the table was full): their spans get no socket figures.
	ConnDrops uint64
	// PeerDrops counts events of peers without their own entry; they are
	// summed in Other.
	PeerDrops uint64
	// Other is the sum of the events of peers without their own entry.
	Other PeerCounts
}
