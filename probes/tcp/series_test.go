package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/bpf/sock"
	"github.com/verdict-obs/verdict/internal/semconv"
)

func peerAt(i int, refused uint64) sock.Peer {
	return sock.Peer{Addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), Port: 5432,
		PeerCounts: sock.PeerCounts{Connects: refused, Refused: refused}}
}

// observed collects what the set reports: refused connects per peer
// address.
func observed(t *testing.T, s *seriesSet) map[string]int64 {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	defer mp.Shutdown(context.Background())
	m := mp.Meter("t")
	c, _ := m.Int64ObservableCounter("connects")
	rs, _ := m.Int64ObservableCounter("resets")
	rt, _ := m.Int64ObservableCounter("retrans")
	if _, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s.observe(o, true, c, rs, rt)
		return nil
	}, c, rs, rt); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, dp := range rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Sum[int64]).DataPoints {
		if o, _ := dp.Attributes.Value(semconv.AttrTCPConnectOutcome); o.AsString() != semconv.TCPConnectRefused {
			continue
		}
		a, _ := dp.Attributes.Value(semconv.AttrNetworkPeerAddress)
		out[a.AsString()] = dp.Value
	}
	return out
}

// At most n peers have their own series; the rest are "_OTHER". A folded
// peer that becomes more than twice as busy as the least busy admitted one
// takes its place. No series ever goes down, and the series sum to the
// total.
func TestTopPeers(t *testing.T) {
	var s seriesSet
	s.init(2)
	s.update(reading{kernel: true, peers: []sock.Peer{peerAt(1, 5), peerAt(2, 1), peerAt(3, 1)}})
	got := observed(t, &s)
	want := map[string]int64{"10.0.0.1": 5, "10.0.0.2": 1, Other: 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("first reading: %v, want %v", got, want)
	}
	// 10.0.0.3 becomes busy: it takes 10.0.0.2's place. Its 20 events so
	// far happened while folded: they stay in _OTHER, and its own series
	// counts from now. 10.0.0.2's series stops at its 2.
	s.update(reading{kernel: true, peers: []sock.Peer{peerAt(1, 5), peerAt(2, 2), peerAt(3, 20)}})
	got = observed(t, &s)
	want = map[string]int64{"10.0.0.1": 5, "10.0.0.3": 0, Other: 20}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after promotion: %v, want %v", got, want)
	}
	s.update(reading{kernel: true, peers: []sock.Peer{peerAt(1, 5), peerAt(2, 4), peerAt(3, 30)}})
	got = observed(t, &s)
	want = map[string]int64{"10.0.0.1": 5, "10.0.0.3": 10, Other: 20 + 2}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("later: %v, want %v", got, want)
	}
	// Every event is in exactly one series: these, and 10.0.0.2's stopped
	// one (2).
	var sum int64
	for _, v := range got {
		sum += v
	}
	if sum+2 != 5+4+30 {
		t.Errorf("series sum %d + 2 (stopped series), want %d", sum, 5+4+30)
	}
}

func TestTopPeersZeroFoldsEverything(t *testing.T) {
	var s seriesSet
	s.init(0)
	s.update(reading{kernel: true, peers: []sock.Peer{peerAt(1, 5), peerAt(2, 1)}, other: sock.PeerCounts{Refused: 3}})
	if got := observed(t, &s); fmt.Sprint(got) != fmt.Sprint(map[string]int64{Other: 9}) {
		t.Errorf("%v, want everything in %s", got, Other)
	}
}

// The user-space counterpart: connects that verdict's HTTP client saw.
func TestUserPeers(t *testing.T) {
	var u userPeers
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	u.ConnectDone("tcp", "127.0.0.1:9", refused)
	u.ConnectDone("tcp", "127.0.0.1:9", refused)
	u.ConnectDone("tcp", "127.0.0.1:9", nil)
	u.ConnectDone("tcp", "[::ffff:127.0.0.1]:9", errors.New("i/o timeout"))
	u.ConnectDone("tcp", "127.0.0.1:9", context.Canceled) // the caller gave up: not counted
	u.ConnectDone("unix", "/tmp/x", refused)              // not TCP
	u.ConnectDone("tcp", "not an address", refused)       // unparseable: dropped
	peers, other := u.read(nil)
	if len(peers) != 1 || !other.Zero() {
		t.Fatalf("peers %+v other %+v", peers, other)
	}
	p := peers[0]
	if p.Addr != netip.MustParseAddr("127.0.0.1") || p.Port != 9 ||
		p.PeerCounts != (sock.PeerCounts{Connects: 4, Established: 1, Refused: 2, Failed: 1}) {
		t.Errorf("peer %+v", p)
	}
}
