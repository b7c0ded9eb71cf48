package tcp_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/probetest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/tcp"
)

const childEnv = "VERDICT_TCP_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "connect" {
		if err := connectChild(os.Getenv("VERDICT_TCP_TEST_ADDR")); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("done")
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// connectChild makes, from another process, the connections the tests
// count: five refused by refuseAddr, and to a listener of its own two that
// move bytes and end with a reset.
func connectChild(refuseAddr string) error {
	for range 5 {
		if c, err := net.Dial("tcp", refuseAddr); err == nil {
			c.Close()
			return fmt.Errorf("%s accepted", refuseAddr)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(s, make([]byte, 100))
			s.(*net.TCPConn).SetLinger(0)
			s.Close()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		c.Write(make([]byte, 100))
		io.Copy(io.Discard, c)
		c.Close()
	}
	return nil
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func peer(s tcp.Snapshot, addr string) (tcp.Peer, bool) {
	ap := netip.MustParseAddrPort(addr)
	for _, p := range s.Peers {
		if p.Address == ap.Addr().String() && p.Port == int(ap.Port()) {
			return p, true
		}
	}
	return tcp.Peer{}, false
}

// Connects to a closed port are refused: the TCP metrics and the snapshot
// count them for that peer, with a rate for the judge. Without eBPF the
// probe counts the connects verdict's HTTP client saw; with it, every
// connect of the process.
func TestRefusedConnectsPerPeer(t *testing.T) {
	e := probetest.Start(t)
	p := e.Tracer.TCP()
	first := p.Snapshot()
	refuse := closedPort(t)
	client := &http.Client{Transport: middleware.NewTransport(&http.Transport{},
		middleware.WithTracerProvider(e.Tracer.TracerProvider()))}
	const viaHTTP, viaDial = 3, 2
	for range viaHTTP {
		if resp, err := client.Get("http://" + refuse + "/"); err == nil {
			resp.Body.Close()
			t.Fatal("GET to a closed port answered")
		}
	}
	want := uint64(viaHTTP)
	if probetest.Kernel() {
		for range viaDial {
			if c, err := net.Dial("tcp", refuse); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
				if c != nil {
					c.Close()
				}
				t.Fatalf("dial a closed port: %v", err)
			}
		}
		want += viaDial
	}
	time.Sleep(time.Until(first.Time.Add(tcp.MinRateWindow)))
	s := p.Snapshot()
	t.Logf("snapshot: kernel %v, window %v, peers %+v, total %+v", s.Kernel, s.Window, s.Peers, s.Total)
	pr, ok := peer(s, refuse)
	if !ok {
		t.Fatalf("no peer %s in the snapshot", refuse)
	}
	if pr.Refused != want || pr.Connects != want || pr.Established != 0 || pr.Failed != 0 {
		t.Errorf("peer %s: %+v, want %d connects, all refused", refuse, pr, want)
	}
	if r := float64(want) / s.Window.Seconds(); pr.RefusedRate < r*0.99 || pr.RefusedRate > r*1.01 {
		t.Errorf("refused rate %.2f/s, want %d over the %v window", pr.RefusedRate, want, s.Window)
	}
	if s.Kernel != probetest.Kernel() {
		t.Errorf("snapshot says kernel %v", s.Kernel)
	}

	// The metric, per peer and outcome.
	ap := netip.MustParseAddrPort(refuse)
	key := attribute.NewSet(attribute.String(semconv.AttrNetworkPeerAddress, ap.Addr().String()),
		attribute.Int(semconv.AttrNetworkPeerPort, int(ap.Port())),
		attribute.String(semconv.AttrTCPConnectOutcome, semconv.TCPConnectRefused))
	dp, ok := probetest.Sum(e.Collect(t), semconv.MetricTCPConnects)[key.Equivalent()]
	if !ok || dp.Value != int64(want) {
		t.Errorf("%s{%s}: %v (present %v), want %d", semconv.MetricTCPConnects, key.Encoded(attribute.DefaultEncoder()), dp.Value, ok, want)
	}

	c, _ := e.Tracer.Status().Component("tcp")
	if probetest.Kernel() && c.State != probes.StateOn ||
		!probetest.Kernel() && (c.State != probes.StateDegraded || !strings.Contains(c.Reason, "CAP_BPF")) {
		t.Errorf("tcp component %+v", c)
	}
}

func TestRefusedConnectsPerPeerUnprivileged(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("already unprivileged")
	}
	probetest.RunUnprivileged(t, "^TestRefusedConnectsPerPeer$")
}

// Another process refused by the same port, and its own connections with
// their resets, never show in this process's TCP health.
func TestSecondProcessNeverAppears(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("the kernel side only (without it nothing of another process can show)")
	}
	e := probetest.Start(t)
	refuse := closedPort(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=connect", "VERDICT_TCP_TEST_ADDR="+refuse)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if c, err := net.Dial("tcp", refuse); err == nil {
		c.Close()
		t.Fatal("dial a closed port: connected")
	}
	s := e.Tracer.TCP().Snapshot()
	t.Logf("peers %+v", s.Peers)
	pr, ok := peer(s, refuse)
	if !ok || pr.Refused != 1 || pr.Connects != 1 {
		t.Errorf("peer %s: %+v; want this process's 1 refused connect, not the child's 5", refuse, pr)
	}
	for _, p := range s.Peers {
		if p.Address+":"+strconv.Itoa(p.Port) != refuse {
			t.Errorf("peer %+v: a connection this process never made or accepted (the child's)", p)
		}
	}
	if s.Total.ResetsReceived != 0 || s.Total.ResetsSent != 0 {
		t.Errorf("resets %+v: the child's", s.Total)
	}
}

// A reset received on an established connection counts for its peer.
func TestResetsReceived(t *testing.T) {
	if !probetest.Kernel() {
		t.Skip("kernel figures only")
	}
	e := probetest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		s, err := ln.Accept()
		if err != nil {
			return
		}
		io.ReadFull(s, make([]byte, 1))
		s.(*net.TCPConn).SetLinger(0)
		s.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{1})
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v, want ECONNRESET", err)
	}
	s := e.Tracer.TCP().Snapshot()
	pr, ok := peer(s, ln.Addr().String())
	if !ok || pr.ResetsReceived != 1 || pr.Established != 1 {
		t.Errorf("peer %s: %+v, want 1 connect established and 1 reset received", ln.Addr(), pr)
	}
	var sent uint64
	for _, p := range s.Peers {
		if p.Port == 0 {
			sent += p.ResetsSent
		}
	}
	if sent != 1 {
		t.Errorf("server side: %d resets sent to clients, want 1; peers %+v", sent, s.Peers)
	}
	ap := netip.MustParseAddrPort(ln.Addr().String())
	key := attribute.NewSet(attribute.String(semconv.AttrNetworkPeerAddress, ap.Addr().String()),
		attribute.Int(semconv.AttrNetworkPeerPort, int(ap.Port())), attribute.String(semconv.AttrNetworkIODirection, "receive"))
	if dp, ok := probetest.Sum(e.Collect(t), semconv.MetricTCPResets)[key.Equivalent()]; !ok || dp.Value != 1 {
		t.Errorf("%s for the peer: %d (present %v), want 1", semconv.MetricTCPResets, dp.Value, ok)
	}
}
