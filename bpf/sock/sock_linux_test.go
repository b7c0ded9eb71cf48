//go:build linux && (amd64 || arm64)

package sock

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/testutil"
)

// childEnv selects a helper mode when the test binary re-executes itself.
const childEnv = "VERDICT_SOCK_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		goleak.VerifyTestMain(m)
	case "connect":
		if err := connectChild(os.Getenv("VERDICT_SOCK_TEST_ADDR")); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("done")
		os.Exit(0)
	default:
		os.Exit(2)
	}
}

// connectChild makes the kinds of connections the tests count, from another
// process: five connects refused by refuseAddr, a connection to a listener
// of its own that moves bytes both ways, and one ended with a reset.
func connectChild(refuseAddr string) error {
	for range 5 {
		if c, err := net.Dial("tcp", refuseAddr); err == nil {
			c.Close()
			return fmt.Errorf("dial %s: connected, want refused", refuseAddr)
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
			go func() {
				buf := make([]byte, 10000)
				io.ReadFull(s, buf)
				s.Write(buf)
				s.(*net.TCPConn).SetLinger(0)
				s.Close() // a reset
			}()
		}
	}()
	for range 2 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		c.Write(make([]byte, 10000))
		io.ReadFull(c, make([]byte, 10000))
		io.Copy(io.Discard, c)
		c.Close()
	}
	return nil
}

func TestOpenCalibrates(t *testing.T) {
	tr := requireTracer(t, nil)
	if s := tr.Stats(); s != (Stats{}) {
		t.Errorf("stats after Open: %+v, want zero", s)
	}
	if p := tr.Peers(nil); len(p) != 0 {
		t.Errorf("peers after Open (calibration's own connection must not show): %+v", p)
	}
}

// pair returns both ends of a new loopback connection, each tracked.
func pair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	// One byte each way: a connection this process accepted is tracked
	// from its first read or write.
	b := []byte{1}
	if _, err := client.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, b); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write(b); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, b); err != nil {
		t.Fatal(err)
	}
	return client, server
}

func idOf(c net.Conn) ConnID {
	return Conn(c.LocalAddr().(*net.TCPAddr).AddrPort(), c.RemoteAddr().(*net.TCPAddr).AddrPort())
}

func mustMark(t *testing.T, tr *Tracer, c net.Conn, spanStart time.Time) Mark {
	t.Helper()
	m, ok := tr.MarkConn(idOf(c), spanStart, time.Time{})
	if !ok {
		t.Fatalf("MarkConn(%v -> %v): not tracked (stats %+v)", c.LocalAddr(), c.RemoteAddr(), tr.Stats())
	}
	return m
}

// A server that reads what a slow client sends: the server's reads wait
// for the data, and both ends count the bytes exactly.
func TestConnReadWait(t *testing.T) {
	tr := requireTracer(t, nil)
	client, server := pair(t)
	sm, cm := mustMark(t, tr, server, time.Time{}), mustMark(t, tr, client, time.Time{})
	const chunks, gap = 5, 20 * time.Millisecond
	go func() {
		for range chunks {
			time.Sleep(gap)
			client.Write(make([]byte, 100))
		}
	}()
	t0 := time.Now()
	if _, err := io.ReadFull(server, make([]byte, chunks*100)); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	su, ok := tr.ConnSince(&sm)
	cu, ok2 := tr.ConnSince(&cm)
	if !ok || !ok2 {
		t.Fatal("ConnSince: connection entry reused")
	}
	t.Logf("server %+v (read took %v); client %+v", su, took, cu)
	if su.BytesRead != chunks*100 || cu.BytesWritten != chunks*100 || su.BytesWritten != 0 || cu.BytesRead != 0 {
		t.Errorf("bytes: server read %d wrote %d, client wrote %d read %d; want %d each way once",
			su.BytesRead, su.BytesWritten, cu.BytesWritten, cu.BytesRead, chunks*100)
	}
	// The reads waited for every chunk: most of the time the read took,
	// and never more.
	if su.ReadWait > took || su.ReadWait < took/2 {
		t.Errorf("server read wait %v for reads that took %v waiting on a client that sent every %v", su.ReadWait, took, gap)
	}
	if su.Overlapping != 0 || cu.Overlapping != 0 {
		t.Errorf("overlapping windows: %d, %d; want 0", su.Overlapping, cu.Overlapping)
	}
	if m := (Mark{}); func() bool { _, ok := tr.ConnSince(&m); return ok }() {
		t.Error("ConnSince of the zero Mark: ok")
	}
}

// A client that writes more than the socket buffers hold to a server that
// reads late: the writes wait for room. The client writes through its raw
// connection, as net.Conn.Write does (write(2) until EAGAIN, then the
// poller), so that the server starts reading only once a write has
// returned EAGAIN: on a loaded machine a writer that starts late may
// otherwise find the reader already draining and never wait, its write
// slow for want of CPU, not of room.
func TestConnWriteWait(t *testing.T) {
	tr := requireTracer(t, nil)
	client, server := pair(t)
	cm := mustMark(t, tr, client, time.Time{})
	const size = 16 << 20
	const late = 50 * time.Millisecond
	rc, err := client.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	full := make(chan struct{})
	wrote := make(chan time.Duration, 1)
	go func() {
		t0 := time.Now()
		buf, blocked := make([]byte, size), false
		rc.Write(func(fd uintptr) bool {
			for len(buf) > 0 {
				n, err := unix.Write(int(fd), buf)
				if err == unix.EAGAIN {
					if !blocked {
						blocked = true
						close(full)
					}
					return false // wait until writable, then called again
				}
				if err != nil {
					t.Error(err)
					return true
				}
				buf = buf[n:]
			}
			return true
		})
		if !blocked {
			close(full)
		}
		wrote <- time.Since(t0)
	}()
	<-full
	time.Sleep(late)
	if _, err := io.ReadFull(server, make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	took := <-wrote
	u, ok := tr.ConnSince(&cm)
	if !ok {
		t.Fatal("ConnSince: not ok")
	}
	t.Logf("client %+v (write took %v)", u, took)
	if u.BytesWritten != size {
		t.Errorf("bytes written %d, want %d", u.BytesWritten, size)
	}
	if u.WriteWait < late || u.WriteWait > took {
		t.Errorf("write wait %v for a write that took %v, blocked for %v at least", u.WriteWait, took, late)
	}
}

// A wait that began before the window (an idle keep-alive connection whose
// reader waits for the next response) counts only from the window's start.
func TestConnWindowClipsEarlierWait(t *testing.T) {
	tr := requireTracer(t, nil)
	client, server := pair(t)
	read := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(client, make([]byte, 10)) // waits from now
		read <- err
	}()
	time.Sleep(40 * time.Millisecond)
	marked := time.Now()
	m := mustMark(t, tr, client, time.Time{})
	time.Sleep(10 * time.Millisecond)
	server.Write(make([]byte, 10))
	if err := <-read; err != nil {
		t.Fatal(err)
	}
	window := time.Since(marked)
	u, _ := tr.ConnSince(&m)
	t.Logf("%+v within a window of %v", u, window)
	if u.ReadWait <= 0 || u.ReadWait > window {
		t.Errorf("read wait %v, want within the window of %v (the 40 ms before it left out)", u.ReadWait, window)
	}
	if u.BytesRead != 10 {
		t.Errorf("bytes read %d, want 10", u.BytesRead)
	}
}

// Two windows open on one connection at once are told so.
func TestConnOverlappingWindows(t *testing.T) {
	tr := requireTracer(t, nil)
	client, _ := pair(t)
	a := mustMark(t, tr, client, time.Time{})
	b := mustMark(t, tr, client, time.Time{})
	ub, _ := tr.ConnSince(&b)
	c := mustMark(t, tr, client, time.Time{})
	ua, _ := tr.ConnSince(&a)
	uc, _ := tr.ConnSince(&c)
	if ua.Overlapping != 2 || ub.Overlapping != 1 || uc.Overlapping != 1 {
		t.Errorf("overlapping: a %d (b and c began during it), b %d (a open), c %d (a open); want 2, 1, 1",
			ua.Overlapping, ub.Overlapping, uc.Overlapping)
	}
}

// A connection made after the span started reports the kernel's connect
// latency; one made before does not.
func TestConnConnectLatency(t *testing.T) {
	tr := requireTracer(t, nil)
	before := time.Now()
	client, _ := pair(t)
	m := mustMark(t, tr, client, before)
	u, _ := tr.ConnSince(&m)
	if u.Connect <= 0 || u.Connect > time.Since(before) {
		t.Errorf("connect latency %v, want > 0 and within the span", u.Connect)
	}
	m = mustMark(t, tr, client, time.Now())
	if u, _ := tr.ConnSince(&m); u.Connect != 0 {
		t.Errorf("connection made before the span: connect %v, want 0", u.Connect)
	}
}

func TestMarkUnknownConnection(t *testing.T) {
	tr := requireTracer(t, nil)
	id := Conn(netip.MustParseAddrPort("10.1.2.3:4"), netip.MustParseAddrPort("10.5.6.7:8"))
	if _, ok := tr.MarkConn(id, time.Time{}, time.Time{}); ok {
		t.Error("MarkConn of a connection that does not exist: ok")
	}
}

// closedPort returns a loopback address where nothing listens.
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

func peerOf(peers []Peer, addr string) (Peer, bool) {
	ap := netip.MustParseAddrPort(addr)
	for _, p := range peers {
		if p.Addr == ap.Addr() && p.Port == ap.Port() {
			return p, true
		}
	}
	return Peer{}, false
}

// Connects refused by a closed port are counted for that peer, exactly; a
// second process refused by the same port, and its own connections, never
// show.
func TestRefusedConnectsPerPeerNotOtherProcesses(t *testing.T) {
	testutil.RequireRoot(t, "load eBPF and run a second process")
	tr := requireTracer(t, nil)
	refuse := closedPort(t)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=connect", "VERDICT_SOCK_TEST_ADDR="+refuse)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "done") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	const ours = 3
	for range ours {
		c, err := net.Dial("tcp", refuse)
		if err == nil {
			c.Close()
			t.Fatal("dial a closed port: connected")
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial a closed port: %v, want ECONNREFUSED", err)
		}
	}
	peers := tr.Peers(nil)
	t.Logf("peers: %+v; stats %+v", peers, tr.Stats())
	p, ok := peerOf(peers, refuse)
	if !ok {
		t.Fatalf("no peer %s", refuse)
	}
	if p.Refused != ours || p.Connects != ours || p.Established != 0 || p.Failed != 0 {
		t.Errorf("peer %s: %+v; want %d connects, all refused (the child's 5 are not ours)", refuse, p.PeerCounts, ours)
	}
	for _, p := range peers {
		if p.Port != 0 && netip.AddrPortFrom(p.Addr, p.Port).String() != refuse {
			t.Errorf("peer %v:%d: a connection this process never made (the child's)", p.Addr, p.Port)
		}
		if p.Port == 0 {
			t.Errorf("peer %v (clients): this process accepted no connection", p.Addr)
		}
	}
}

// A reset ends a connection: received by the client, sent by the server,
// both in the peers and in the client's window.
func TestResets(t *testing.T) {
	tr := requireTracer(t, nil)
	client, server := pair(t)
	m := mustMark(t, tr, client, time.Time{})
	server.SetLinger(0)
	server.Close()
	_, err := client.Read(make([]byte, 1))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the peer's abortive close: %v, want ECONNRESET", err)
	}
	u, _ := tr.ConnSince(&m)
	if u.Resets != 1 {
		t.Errorf("client window: %d resets, want 1", u.Resets)
	}
	peers := tr.Peers(nil)
	cp, ok := peerOf(peers, client.RemoteAddr().String())
	if !ok || cp.ResetsReceived != 1 || cp.Connects != 1 || cp.Established != 1 {
		t.Errorf("client's peer %v: %+v, want 1 connect, 1 established, 1 reset received", client.RemoteAddr(), cp)
	}
	var sent uint64
	for _, p := range peers {
		if p.Port == 0 && p.Addr == netip.MustParseAddr("127.0.0.1") {
			sent = p.ResetsSent
		}
	}
	if sent != 1 {
		t.Errorf("server side (peer 127.0.0.1, clients): %d resets sent, want 1; peers %+v", sent, peers)
	}
}

// A SYN dropped by a listener whose accept queue is full is retransmitted
// by the kernel after a second: counted for that peer.
func TestSYNRetransmitCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the kernel's 1 s SYN retransmission timer")
	}
	tr := requireTracer(t, nil)
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil { // room for one connection
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
	first, err := net.Dial("tcp", addr) // fills the accept queue
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	c, err := net.DialTimeout("tcp", addr, 1500*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("second connect to a full accept queue completed")
	}
	p, ok := peerOf(tr.Peers(nil), addr)
	t.Logf("%v; peer %+v", err, p)
	if !ok || p.Retransmits < 1 || p.Connects != 2 || p.Established != 1 {
		t.Errorf("peer %s: %+v; want 2 connects, 1 established, >= 1 retransmission", addr, p.PeerCounts)
	}
	if p.Failed != 0 || p.Refused != 0 {
		t.Errorf("a connect abandoned by its caller counted as failed or refused: %+v", p.PeerCounts)
	}
}

// A published goroutine gets its own socket calls, on any connection; a
// second window on the same goroutine is refused and marks the first
// shared.
func TestGoroutineWindow(t *testing.T) {
	tr := requireTracer(t, nil)
	client, server := pair(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	m, ok := tr.BeginGoroutine(time.Time{})
	if !ok {
		t.Fatal("BeginGoroutine: false")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		server.Write(make([]byte, 300))
	}()
	t0 := time.Now()
	client.Write(make([]byte, 200))
	io.ReadFull(client, make([]byte, 300))
	took := time.Since(t0)
	if _, ok := tr.BeginGoroutine(time.Time{}); ok {
		t.Error("second BeginGoroutine on the same goroutine: ok")
	}
	u, ok := tr.EndGoroutine(&m)
	if !ok {
		t.Fatal("EndGoroutine: not ok")
	}
	t.Logf("%+v (took %v)", u, took)
	if u.BytesWritten != 200 || u.BytesRead != 300 || u.ReadWait <= 0 || u.ReadWait > took || !u.Shared {
		t.Errorf("goroutine window %+v; want 200 written, 300 read, a read wait within %v, shared", u, took)
	}
	// Published no more: nothing counts.
	client.Write(make([]byte, 10))
	m2, _ := tr.BeginGoroutine(time.Time{})
	u2, _ := tr.EndGoroutine(&m2)
	if u2.BytesWritten != 0 || u2.Shared {
		t.Errorf("fresh window: %+v, want nothing", u2)
	}
}

func TestCloseIsIdempotentAndReleases(t *testing.T) {
	testutil.RequirePrivilege(t, bpf.Check().Err)
	before := fds(t)
	tr, err := Open(nil)
	testutil.RequirePrivilege(t, err)
	client, server := pair(t)
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, ok := tr.MarkConn(idOf(client), time.Time{}, time.Time{}); ok {
		t.Error("MarkConn after Close: ok")
	}
	if _, ok := tr.BeginGoroutine(time.Time{}); ok {
		t.Error("BeginGoroutine after Close: ok")
	}
	if p := tr.Peers(nil); len(p) != 0 || tr.Stats() != (Stats{}) {
		t.Error("Peers or Stats after Close: not empty")
	}
	client.Close()
	server.Close()
	if after := fds(t); after != before {
		t.Errorf("file descriptors: %d before Open, %d after Close", before, after)
	}
}

func fds(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestSocketEventRate moves bytes through one loopback connection in small
// writes as fast as two goroutines can (each write and each read is one
// kernel event) and checks that the kernel counted every byte. 2 s, or
// 0.5 s with -short.
func TestSocketEventRate(t *testing.T) {
	tr := requireTracer(t, nil)
	d := 2 * time.Second
	if testing.Short() {
		d = 500 * time.Millisecond
	}
	client, server := pair(t)
	cm, sm := mustMark(t, tr, client, time.Time{}), mustMark(t, tr, server, time.Time{})
	var reads uint64
	got := make(chan uint64, 1)
	go func() {
		buf := make([]byte, 64)
		var n uint64
		for {
			k, err := server.Read(buf)
			n += uint64(k)
			reads++
			if err != nil {
				got <- n
				return
			}
		}
	}()
	var sent, writes uint64
	b := make([]byte, 16)
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		for range 1000 {
			client.Write(b)
		}
		sent += 1000 * 16
		writes += 1000
	}
	client.CloseWrite()
	n := <-got
	elapsed := time.Since(start)
	cu, _ := tr.ConnSince(&cm)
	su, _ := tr.ConnSince(&sm)
	rate := float64(writes+reads) / elapsed.Seconds()
	t.Logf("%d writes, %d reads in %v: %.2fM socket events/s; kernel: client wrote %d, server read %d (sent %d, received %d); %+v",
		writes, reads, elapsed, rate/1e6, cu.BytesWritten, su.BytesRead, sent, n, tr.Stats())
	if cu.BytesWritten != sent || su.BytesRead != n || n != sent {
		t.Errorf("kernel counted %d written and %d read, user space %d sent and %d received", cu.BytesWritten, su.BytesRead, sent, n)
	}
}

// TestKernelEventRateWithSockets is bpf's TestKernelEventRate with the
// socket programs attached beside the kernel-time programs: every system
// call still counted, none lost. 5 s, or 1 s with -short.
func TestKernelEventRateWithSockets(t *testing.T) {
	requireTracer(t, nil)
	tm, err := bpf.LoadTiming(nil)
	testutil.RequirePrivilege(t, err)
	defer tm.Close()
	d := 5 * time.Second
	if testing.Short() {
		d = time.Second
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	span := [8]byte{1}
	tm.Begin([16]byte{1}, span)
	var n uint64
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		for range 1000 {
			unix.RawSyscall(unix.SYS_GETSOCKNAME, ^uintptr(0), 0, 0)
		}
		n += 1000
	}
	elapsed := time.Since(start)
	c, _ := tm.End(span)
	rate := float64(2*n) / elapsed.Seconds()
	t.Logf("%d getsockname in %v: %.2fM kernel events/s with the socket programs attached; counted %d; lost %+v",
		n, elapsed, rate/1e6, c.Syscalls[bpf.SyscallNetwork], tm.Stats())
	if got := c.Syscalls[bpf.SyscallNetwork]; got != n {
		t.Errorf("kernel counted %d syscalls, made %d", got, n)
	}
	if s := tm.Stats(); s.Lost() != 0 {
		t.Errorf("lost: %+v", s)
	}
}
