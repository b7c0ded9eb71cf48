package tcp

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/verdict-obs/verdict/bpf/sock"
)

// MinRateWindow is the shortest interval rates are computed over.
const MinRateWindow = time.Second

// MaxSnapshotPeers is how many peers a Snapshot lists by themselves; the
// others are summed in Snapshot.Other.
const MaxSnapshotPeers = 64

// Snapshot is the TCP health of the process: per peer, the connects,
// refusals, failures, resets and retransmissions since Start, and the same
// per second over the last window. It is what the judge and user-defined
// rules read (a peer refusing connections: Peers[i].RefusedRate). A
// Snapshot is a value: the probe never modifies one it handed out.
type Snapshot struct {
	// Time is when the snapshot was taken; zero before Start.
	Time time.Time
	// Window is the interval the rates were computed over (at least
	// MinRateWindow; zero until the first window closed).
	Window time.Duration
	// Kernel is false while eBPF is off: then only the connects that
	// verdict's HTTP client middleware made are counted (their outcome),
	// and no resets or retransmissions.
	Kernel bool
	// Peers are the peers with events, those with the most refused and
	// failed connects, resets and retransmissions in the window first
	// (then the most events since Start), at most MaxSnapshotPeers.
	Peers []Peer
	// Other sums the peers not listed (and, from the kernel, the peers it
	// had no room for); its Address is "_OTHER".
	Other Peer
	// Total sums every peer.
	Total Peer
}

// Peer is one remote end of the process's TCP connections.
type Peer struct {
	// Address is the remote IP address ("_OTHER" for Snapshot.Other,
	// empty for Snapshot.Total).
	Address string
	// Port is the remote port of connections the process made; 0 for the
	// connections it accepted (the clients, counted by address).
	Port int

	Connects       uint64 // connection attempts
	Established    uint64 // attempts that completed
	Refused        uint64 // attempts answered with a reset: nothing listens
	Failed         uint64 // attempts that timed out or found no route
	ResetsReceived uint64 // resets received on established connections
	ResetsSent     uint64 // resets sent
	Retransmits    uint64 // segments retransmitted

	// Per second over Snapshot.Window.
	ConnectRate, RefusedRate, FailedRate, ResetRate, RetransmitRate float64
}

func fromCounts(addr string, port int, c sock.PeerCounts) Peer {
	return Peer{Address: addr, Port: port, Connects: c.Connects, Established: c.Established,
		Refused: c.Refused, Failed: c.Failed, ResetsReceived: c.ResetsReceived,
		ResetsSent: c.ResetsSent, Retransmits: c.Retransmits}
}

func (p *Peer) counts() sock.PeerCounts {
	return sock.PeerCounts{Connects: p.Connects, Established: p.Established, Refused: p.Refused,
		Failed: p.Failed, ResetsReceived: p.ResetsReceived, ResetsSent: p.ResetsSent, Retransmits: p.Retransmits}
}

func (p *Peer) rates(base sock.PeerCounts, sec float64) {
	d := diff(p.counts(), base)
	p.ConnectRate = float64(d.Connects) / sec
	p.RefusedRate = float64(d.Refused) / sec
	p.FailedRate = float64(d.Failed) / sec
	p.ResetRate = float64(d.ResetsReceived+d.ResetsSent) / sec
	p.RetransmitRate = float64(d.Retransmits) / sec
}

// snapper turns readings into Snapshots with rates over windows of at
// least MinRateWindow.
type snapper struct {
	mu       sync.Mutex
	baseTime time.Time
	base     map[peerKey]sock.PeerCounts // counts at the start of the window
	baseSum  sock.PeerCounts
	rates    map[peerKey]Peer // rates of the last closed window
	sumRates Peer
	last     Snapshot
}

func (s *snapper) take(r reading, now time.Time) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]Peer, 0, len(r.peers))
	var total sock.PeerCounts
	for _, p := range r.peers {
		all = append(all, fromCounts(p.Addr.String(), int(p.Port), p.PeerCounts))
		add(&total, p.PeerCounts)
	}
	add(&total, r.other)

	closeWindow := !s.baseTime.IsZero() && now.Sub(s.baseTime) >= MinRateWindow
	if s.baseTime.IsZero() || closeWindow {
		var sec float64
		if closeWindow {
			sec = now.Sub(s.baseTime).Seconds()
		}
		rates := make(map[peerKey]Peer, len(r.peers))
		base := make(map[peerKey]sock.PeerCounts, len(r.peers))
		for i, p := range r.peers {
			k := peerKey{p.Addr, p.Port}
			if closeWindow {
				all[i].rates(s.base[k], sec)
				rates[k] = all[i]
			}
			base[k] = p.PeerCounts
		}
		if closeWindow {
			t := fromCounts("", 0, total)
			t.rates(s.baseSum, sec)
			s.sumRates = t
			s.last.Window = now.Sub(s.baseTime)
		}
		s.rates, s.base, s.baseSum, s.baseTime = rates, base, total, now
	} else {
		for i, p := range r.peers {
			if rp, ok := s.rates[peerKey{p.Addr, p.Port}]; ok {
				all[i].ConnectRate, all[i].RefusedRate, all[i].FailedRate = rp.ConnectRate, rp.RefusedRate, rp.FailedRate
				all[i].ResetRate, all[i].RetransmitRate = rp.ResetRate, rp.RetransmitRate
			}
		}
	}

	badness := func(p Peer) float64 { return p.RefusedRate + p.FailedRate + p.ResetRate + p.RetransmitRate }
	slices.SortFunc(all, func(a, b Peer) int {
		if c := cmp.Compare(badness(b), badness(a)); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Refused+b.Failed+b.ResetsReceived+b.ResetsSent+b.Retransmits,
			a.Refused+a.Failed+a.ResetsReceived+a.ResetsSent+a.Retransmits); c != 0 {
			return c
		}
		return cmp.Compare(b.Connects, a.Connects)
	})
	snap := Snapshot{Time: now, Window: s.last.Window, Kernel: r.kernel}
	other := r.other
	var otherRates Peer
	for i, p := range all {
		if i < MaxSnapshotPeers {
			snap.Peers = append(snap.Peers, p)
			continue
		}
		add(&other, p.counts())
		otherRates.ConnectRate += p.ConnectRate
		otherRates.RefusedRate += p.RefusedRate
		otherRates.FailedRate += p.FailedRate
		otherRates.ResetRate += p.ResetRate
		otherRates.RetransmitRate += p.RetransmitRate
	}
	snap.Other = fromCounts(Other, 0, other)
	snap.Other.ConnectRate, snap.Other.RefusedRate, snap.Other.FailedRate = otherRates.ConnectRate, otherRates.RefusedRate, otherRates.FailedRate
	snap.Other.ResetRate, snap.Other.RetransmitRate = otherRates.ResetRate, otherRates.RetransmitRate
	snap.Total = fromCounts("", 0, total)
	snap.Total.ConnectRate, snap.Total.RefusedRate, snap.Total.FailedRate = s.sumRates.ConnectRate, s.sumRates.RefusedRate, s.sumRates.FailedRate
	snap.Total.ResetRate, snap.Total.RetransmitRate = s.sumRates.ResetRate, s.sumRates.RetransmitRate
	s.last = snap
	return snap
}

// Snapshot returns the TCP health so far (see [Snapshot]): the zero
// Snapshot before Start, the last one after Shutdown. Snapshot calls closer
// together than MinRateWindow keep the previous rates. It reads memory
// shared with the kernel (no system call) and allocates the peer list.
func (p *Probe) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.started || p.shutdown {
		p.snap.mu.Lock()
		defer p.snap.mu.Unlock()
		return p.snap.last
	}
	return p.snap.take(p.readLocked(), time.Now())
}
