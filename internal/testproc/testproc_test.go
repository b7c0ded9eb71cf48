package testproc

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"testing"
)

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(8)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p <= 0 || seen[p] {
			t.Fatalf("ports %v: not distinct positive ports", ports)
		}
		seen[p] = true
	}
}

// TestListeningSeesOwnSockets: a loopback and an all-interfaces listener
// of this process are both reported, with their real addresses.
func TestListeningSeesOwnSockets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Listening reads /proc (Linux only)")
	}
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
