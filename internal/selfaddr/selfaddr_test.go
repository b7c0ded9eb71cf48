package selfaddr

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const childEnv = "VERDICT_SELFADDR_CHILD"

// TestMain checks that no goroutine outlives the tests; as a child, it
// listens on loopback, prints the address and waits to be killed.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(l.Addr())
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func needLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the listening sockets are read from /proc (Linux only)")
	}
}

// TestListeningSeesOwnSockets: a loopback and an all-interfaces listener
// of this process are both reported, with their real addresses.
func TestListeningSeesOwnSockets(t *testing.T) {
	needLinux(t)
	lo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Close()
	any4, err := net.Listen("tcp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer any4.Close()
	got, err := Listening(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.AddrPort]bool{
		netip.MustParseAddrPort(lo.Addr().String()):   false,
		netip.MustParseAddrPort(any4.Addr().String()): false,
	}
	for _, ap := range got {
		if _, ok := want[ap]; ok {
			want[ap] = true
		}
	}
	for ap, found := range want {
		if !found {
			t.Errorf("listener %v not reported; got %v", ap, got)
		}
	}
}

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0035":                         "0.0.0.0:53",
		"00000000000000000000000001000000:0016": "[::1]:22",
		"00000000000000000000000000000000:01BB": "[::]:443",
		"0000000000000000FFFF00000100007F:0050": "127.0.0.1:80",
	} {
		got, err := parseProcAddr(in)
		if err != nil || got.String() != want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "zz:1", "0100007F", "0100007F:zz", "01007F:0050"} {
		if _, err := parseProcAddr(bad); err == nil {
			t.Errorf("parseProcAddr(%q): no error", bad)
		}
	}
}

// TestIsOwnListenerNotAnothers: this process's loopback listener is its
// own under its address and "localhost"; a loopback listener of another
// process, a closed port and names are not.
func TestIsOwnListenerNotAnothers(t *testing.T) {
	needLinux(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"=1")
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { child.Process.Kill(); child.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		t.Fatalf("child: %q, %v", line, err)
	}
	other := strings.TrimSpace(line)

	m := New()
	now := time.Now()
	for addr, want := range map[string]bool{
		l.Addr().String():                       true,
		fmt.Sprintf("localhost:%d", port):       true,
		fmt.Sprintf("LOCALHOST:%d", port):       true,
		other:                                   false, // another process's listener
		fmt.Sprintf("127.0.0.2:%d", port):       false, // bound to 127.0.0.1 only
		fmt.Sprintf("orders.internal:%d", port): false,
		fmt.Sprintf("[::1]:%d", port):           false, // IPv4 only
		"127.0.0.1":                             false,
		"127.0.0.1:0":                           false,
		"127.0.0.1:99999":                       false,
		"":                                      false,
	} {
		if got := m.Is(now, addr); got != want {
			t.Errorf("Is(%q) = %v, want %v", addr, got, want)
		}
	}
	if err := m.Err(); err != nil {
		t.Errorf("Err() = %v", err)
	}
}

// TestIsWildcardListener: a listener on all interfaces serves loopback and
// this host's interface addresses, not an address elsewhere.
func TestIsWildcardListener(t *testing.T) {
	m := &Matcher{refresh: time.Second,
		listen: func() ([]netip.AddrPort, error) {
			return []netip.AddrPort{netip.MustParseAddrPort("[::]:8080"), netip.MustParseAddrPort("10.0.0.5:9090")}, nil
		},
		ifaces: func() ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fe80::1")}, nil
		},
	}
	now := time.Now()
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "10.0.0.5:8080": true, "[fe80::1%eth0]:8080": true,
		"10.0.0.6:8080": false, "10.0.0.5:9090": true, "127.0.0.1:9090": false, "10.0.0.5:9091": false,
	} {
		if got := m.Is(now, addr); got != want {
			t.Errorf("Is(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestIsRereadsAfterRefresh: a listener opened later is seen once the
// refresh period has passed, not before; a failed read matches nothing
// and is reported.
func TestIsRereadsAfterRefresh(t *testing.T) {
	var ls []netip.AddrPort
	var readErr error
	reads := 0
	m := &Matcher{refresh: 10 * time.Second,
		listen: func() ([]netip.AddrPort, error) { reads++; return ls, readErr },
		ifaces: func() ([]netip.Addr, error) { return nil, nil },
	}
	t0 := time.Now()
	if m.Is(t0, "127.0.0.1:7000") {
		t.Fatal("matched with no listener")
	}
	ls = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:7000")}
	if m.Is(t0.Add(5*time.Second), "127.0.0.1:7000") {
		t.Error("re-read before the refresh period")
	}
	if !m.Is(t0.Add(10*time.Second), "127.0.0.1:7000") {
		t.Error("not re-read after the refresh period")
	}
	m.Is(t0.Add(11*time.Second), "orders.internal:7000") // a name: no read
	if reads != 2 {
		t.Errorf("%d reads, want 2", reads)
	}
	readErr = errors.New("no /proc")
	ls = nil
	if m.Is(t0.Add(30*time.Second), "127.0.0.1:7000") || m.Err() == nil {
		t.Errorf("a failed read: matched or no error (%v)", m.Err())
	}
}
