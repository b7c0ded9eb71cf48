package tcp

import (
	"net/netip"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/bpf/sock"
	"github.com/verdict-obs/verdict/internal/semconv"
)

// Other is the network.peer.address of the series that sums the peers
// without their own.
const Other = "_OTHER"

type peerKey struct {
	addr netip.Addr
	port uint16
}

// tracked is one peer the series set knows.
type tracked struct {
	own bool
	// now is the peer's latest counts; since is its counts when it got
	// its own series (its series reports now - since) or, while folded
	// into Other, when it was folded.
	now, since sock.PeerCounts
	// ownBase is what its own series reported before it was last folded
	// (a series only grows, across a demotion and a later admission).
	ownBase sock.PeerCounts
	opts    *peerOpts // attribute sets of its own series
}

type peerOpts struct {
	established, refused, failed metric.ObserveOption
	resetsRx, resetsTx, retrans  metric.ObserveOption
}

// seriesSet bounds the cardinality of the TCP metrics: at most n peers have
// their own series, the others are summed under network.peer.address
// "_OTHER". Every series only grows: a peer's own series reports its
// events since it got the series, Other the events of each peer while it
// was folded into it, plus the kernel's overflow.
//
// Admission: peers are admitted while there is room. After that, a folded
// peer whose events since it was folded exceed twice the events of the
// least busy admitted peer (since its admission) takes its place; the
// demoted peer's series stops (it is no longer reported).
type seriesSet struct {
	n      int
	peers  map[peerKey]*tracked
	own    int
	frozen sock.PeerCounts // events counted in Other by peers since admitted
	other  peerOpts
	kother sock.PeerCounts // the kernel's overflow
}

func (s *seriesSet) init(n int) {
	s.n = n
	s.peers = make(map[peerKey]*tracked)
	s.other = makeOpts(attribute.String(semconv.AttrNetworkPeerAddress, Other))
}

func makeOpts(peer ...attribute.KeyValue) peerOpts {
	set := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append(append([]attribute.KeyValue(nil), peer...), kv...)...))
	}
	return peerOpts{
		established: set(attribute.String(semconv.AttrTCPConnectOutcome, semconv.TCPConnectEstablished)),
		refused:     set(attribute.String(semconv.AttrTCPConnectOutcome, semconv.TCPConnectRefused)),
		failed:      set(attribute.String(semconv.AttrTCPConnectOutcome, semconv.TCPConnectFailed)),
		resetsRx:    set(attribute.String(semconv.AttrNetworkIODirection, "receive")),
		resetsTx:    set(attribute.String(semconv.AttrNetworkIODirection, "transmit")),
		retrans:     set(),
	}
}

func peerAttrs(k peerKey) []attribute.KeyValue {
	a := []attribute.KeyValue{attribute.String(semconv.AttrNetworkPeerAddress, k.addr.String())}
	if k.port != 0 {
		a = append(a, attribute.Int(semconv.AttrNetworkPeerPort, int(k.port)))
	}
	return a
}

func events(c sock.PeerCounts) uint64 {
	return c.Connects + c.ResetsReceived + c.ResetsSent + c.Retransmits
}

func diff(a, b sock.PeerCounts) sock.PeerCounts {
	return sock.PeerCounts{
		Connects: a.Connects - b.Connects, Established: a.Established - b.Established,
		Refused: a.Refused - b.Refused, Failed: a.Failed - b.Failed,
		ResetsReceived: a.ResetsReceived - b.ResetsReceived, ResetsSent: a.ResetsSent - b.ResetsSent,
		Retransmits: a.Retransmits - b.Retransmits,
	}
}

func add(a *sock.PeerCounts, b sock.PeerCounts) {
	a.Connects += b.Connects
	a.Established += b.Established
	a.Refused += b.Refused
	a.Failed += b.Failed
	a.ResetsReceived += b.ResetsReceived
	a.ResetsSent += b.ResetsSent
	a.Retransmits += b.Retransmits
}

// update takes a new reading: new peers are admitted while there is room,
// then a folded peer much busier than the least busy admitted one takes its
// place.
func (s *seriesSet) update(r reading) {
	s.kother = r.other
	for _, p := range r.peers {
		k := peerKey{p.Addr, p.Port}
		t := s.peers[k]
		if t == nil {
			t = &tracked{}
			s.peers[k] = t
			if s.own < s.n {
				s.admit(k, t, sock.PeerCounts{})
			}
		}
		t.now = p.PeerCounts
	}
	if s.own < s.n || s.own == 0 {
		return
	}
	var busiest, least *tracked
	var busiestKey peerKey
	for k, t := range s.peers {
		e := events(diff(t.now, t.since))
		if t.own {
			if least == nil || e < events(diff(least.now, least.since)) {
				least = t
			}
		} else if busiest == nil || e > events(diff(busiest.now, busiest.since)) {
			busiest, busiestKey = t, k
		}
	}
	if busiest != nil && least != nil && events(diff(busiest.now, busiest.since)) > 2*events(diff(least.now, least.since)) {
		least.own = false
		add(&least.ownBase, diff(least.now, least.since))
		least.since = least.now // folded from now on
		s.own--
		add(&s.frozen, diff(busiest.now, busiest.since)) // what Other already reported of it
		s.admit(busiestKey, busiest, busiest.now)
	}
}

func (s *seriesSet) admit(k peerKey, t *tracked, at sock.PeerCounts) {
	t.own = true
	t.since = at
	if t.opts == nil {
		o := makeOpts(peerAttrs(k)...)
		t.opts = &o
	}
	s.own++
}

// observe reports every own series and Other. Without the kernel only the
// connect outcomes are known.
func (s *seriesSet) observe(o metric.Observer, kernel bool, connects, resets, retrans metric.Int64Observable) {
	other := s.frozen
	add(&other, s.kother)
	for _, t := range s.peers {
		c := diff(t.now, t.since)
		if !t.own {
			add(&other, c)
			continue
		}
		add(&c, t.ownBase)
		observeCounts(o, kernel, connects, resets, retrans, c, t.opts)
	}
	observeCounts(o, kernel, connects, resets, retrans, other, &s.other)
}

func observeCounts(o metric.Observer, kernel bool, connects, resets, retrans metric.Int64Observable, c sock.PeerCounts, opts *peerOpts) {
	o.ObserveInt64(connects, int64(c.Established), opts.established)
	o.ObserveInt64(connects, int64(c.Refused), opts.refused)
	o.ObserveInt64(connects, int64(c.Failed), opts.failed)
	if !kernel {
		return
	}
	o.ObserveInt64(resets, int64(c.ResetsReceived), opts.resetsRx)
	o.ObserveInt64(resets, int64(c.ResetsSent), opts.resetsTx)
	o.ObserveInt64(retrans, int64(c.Retransmits), opts.retrans)
}
