package sockspan

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
)

// startKernel starts the eBPF composite and a core reading its socket
// tracer, or skips without the privileges (fails under CI=true).
func startKernel(t *testing.T) *Core {
	t.Helper()
	mp := sdkmetric.NewMeterProvider()
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	e, err := ebpf.New(ebpf.WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = e.Start(ctx)
	testutil.RequirePrivilege(t, err)
	t.Cleanup(func() { e.Shutdown(ctx) })
	if e.Sockets() == nil {
		t.Fatalf("ebpf started without its socket part: %v", e.Status())
	}
	c, err := New(Config{Name: "test", Scope: "test", Meter: mp, EBPF: e,
		Kinds: []Kind{{Kind: netspan.HTTPServer, Metric: "test.server.wait"}, {Kind: netspan.DB, Metric: "test.db.wait", Goroutine: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Shutdown(ctx) })
	if st := c.Status(); st.State != probes.StateOn {
		t.Fatalf("status %v", st)
	}
	return c
}

func loopback(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func addrs(c net.Conn) (l, r *net.TCPAddr) {
	return c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
}

// With the kernel side, each way a span can lack its figures has its
// reason, and a span on a tracked connection gets every figure.
func TestKernelReasonsAndFigures(t *testing.T) {
	c := startKernel(t)
	h := c.SpanHook()
	client, server := loopback(t)
	now := time.Now()
	end := func(i byte) []attribute.KeyValue { return h.SpanEnd(sc(i), now, time.Now(), nil) }

	c.Open(netspan.HTTPServer, sc(1), now) // never told its connection
	if v := unmeasured(end(1)); !strings.Contains(v, "the span got no connection") {
		t.Errorf("no connection: %q", v)
	}
	r := c.Open(netspan.HTTPServer, sc(2), now)
	r.Flags |= netspan.FlagConn | netspan.FlagNoTCP
	if v := unmeasured(end(2)); !strings.Contains(v, "not a TCP connection") {
		t.Errorf("not TCP: %q", v)
	}
	r = c.Open(netspan.HTTPServer, sc(3), now)
	l, rm := addrs(client)
	rm.Port++ // nobody's connection
	r.Flags |= netspan.FlagConn
	c.Conn(r, l.AddrPort(), rm.AddrPort(), now)
	if v := unmeasured(end(3)); !strings.Contains(v, "not tracked") {
		t.Errorf("unknown connection: %q", v)
	}
	r = c.Open(netspan.DB, sc(4), now) // a goroutine that does no TCP I/O
	r.Flags |= netspan.FlagGoroutine
	c.Goroutine(r, now)
	if v := unmeasured(end(4)); !strings.Contains(v, "no TCP I/O") {
		t.Errorf("goroutine without I/O: %q", v)
	}

	// A tracked connection: every figure, no unmeasured.
	client.Write([]byte("hello"))
	io.ReadFull(server, make([]byte, 5))
	r = c.Open(netspan.HTTPServer, sc(5), now)
	r.Flags |= netspan.FlagConn
	l, rm = addrs(server)
	c.Conn(r, l.AddrPort(), rm.AddrPort(), time.Now())
	go func() { time.Sleep(5 * time.Millisecond); client.Write([]byte("world")) }()
	io.ReadFull(server, make([]byte, 5))
	got := map[attribute.Key]attribute.Value{}
	for _, kv := range end(5) {
		got[kv.Key] = kv.Value
	}
	if _, ok := got[semconv.AttrUnmeasured]; ok || got[semconv.AttrSocketReadBytes].AsInt64() != 5 || got[semconv.AttrSocketReadWait].AsFloat64() <= 0 ||
		!hasAll(got, semconv.AttrSocketWriteWait, semconv.AttrSocketWriteBytes, semconv.AttrTCPRetransmits, semconv.AttrTCPResets, semconv.AttrSelfDuration) {
		t.Errorf("tracked connection: %v", got)
	}
	if s := c.Snapshot(); !s.Kernel || s.Stats[0].Spans != 1 || s.Stats[0].Unmeasured != 3 || s.Stats[1].Unmeasured != 1 {
		t.Errorf("snapshot %+v", s)
	}
}

func hasAll(m map[attribute.Key]attribute.Value, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[attribute.Key(k)]; !ok {
			return false
		}
	}
	return true
}

// The whole per-span path with the kernel side: record, connection window,
// attributes at the end. No allocation.
func TestKernelSpanAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := startKernel(t)
	h := c.SpanHook()
	_, server := loopback(t)
	server.Write([]byte{1}) // tracked from its first write
	l, rm := addrs(server)
	la, ra := l.AddrPort(), rm.AddrPort()
	buf := make([]attribute.KeyValue, 0, 16)
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		r := c.Open(netspan.HTTPServer, sc(1), now)
		r.Flags |= netspan.FlagConn
		c.Conn(r, la, ra, now)
		c.Reads(r, true, now)
		if out := h.SpanEnd(sc(1), now, now, buf[:0]); len(out) < 7 {
			t.Fatalf("attributes %v", out)
		}
	})
	if allocs != 0 {
		t.Errorf("a measured span allocates %v times", allocs)
	}
}
