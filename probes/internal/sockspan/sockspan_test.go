package sockspan

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newCore(t *testing.T, records int) (*Core, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r))
	t.Cleanup(func() { mp.Shutdown(context.Background()) })
	c, err := New(Config{Name: "test", Scope: "test", Meter: mp, OffWhy: "disabled by test", Records: records,
		Kinds: []Kind{{Kind: netspan.HTTPServer, Metric: "test.server.wait"}, {Kind: netspan.DB, Metric: "test.db.wait", Goroutine: true}}})
	if err != nil {
		t.Fatal(err)
	}
	return c, r
}

func sc(i byte) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{7: i}, TraceFlags: trace.FlagsSampled})
}

func unmeasured(attrs []attribute.KeyValue) string {
	for _, kv := range attrs {
		if kv.Key == semconv.AttrUnmeasured {
			return kv.Value.AsString()
		}
	}
	return ""
}

// Without the kernel side (eBPF off) the probe runs degraded: every span it
// has a record for ends with one verdict.unmeasured attribute saying why,
// and spans it has no record for get nothing.
func TestDegraded(t *testing.T) {
	c, reader := newCore(t, 4)
	ctx := context.Background()
	if st := c.Status(); st.State != probes.StateOff || st.Reason != ReasonNotStarted {
		t.Errorf("before Start: %v", st)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); !errors.Is(err, probes.ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	if st := c.Status(); st.State != probes.StateDegraded || !strings.Contains(st.Reason, "eBPF off: disabled by test") {
		t.Errorf("status %v", st)
	}
	h := c.SpanHook()
	now := time.Now()
	r := c.Open(netspan.HTTPServer, sc(1), now)
	if r == nil {
		t.Fatal("no record")
	}
	got := h.SpanEnd(sc(1), now, now.Add(time.Millisecond), nil)
	if v := unmeasured(got); v != semconv.UnmeasuredSocketTCP+": eBPF off: disabled by test" || len(got) != 1 {
		t.Errorf("span end: %v", got)
	}
	if got := h.SpanEnd(sc(9), now, now, nil); len(got) != 0 {
		t.Errorf("a span without a record got %v", got)
	}
	// SQLite: its own reason, eBPF or not.
	r = c.Open(netspan.DB, sc(2), now)
	r.Flags |= netspan.FlagNoSocket
	r.Reason = "socket,tcp: SQLite runs in the process, no socket"
	if v := unmeasured(h.SpanEnd(sc(2), now, now, nil)); !strings.Contains(v, "SQLite") {
		t.Errorf("SQLite span: %q", v)
	}
	if c.Open(netspan.GRPCClient, sc(3), now) != nil {
		t.Error("a record for a kind the probe does not measure")
	}

	// A full table is counted, not a crash.
	for i := range 4 {
		if c.Open(netspan.HTTPServer, sc(byte(10+i)), now) == nil {
			t.Fatalf("record %d: table full early", i)
		}
	}
	if c.Open(netspan.HTTPServer, sc(20), now) != nil {
		t.Error("a record beyond the table")
	}
	for i := range 4 {
		h.SpanEnd(sc(byte(10+i)), now, now, nil)
	}
	if c.Open(netspan.HTTPServer, sc(21), now) == nil {
		t.Error("records not freed when their spans ended")
	}

	snap := c.Snapshot()
	if snap.Kernel || snap.Stats[0].Unmeasured != 6 || snap.Stats[1].Unmeasured != 1 || snap.Stats[0].Spans != 0 {
		t.Errorf("snapshot %+v", snap)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == semconv.MetricSocketUnmeasured {
				for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
					v, _ := dp.Attributes.Value(semconv.AttrUnmeasuredReason)
					counts[v.AsString()] = dp.Value
				}
			}
		}
	}
	if counts[semconv.UnmeasuredReasonEBPFOff] != 5 || counts[semconv.UnmeasuredReasonNoSocket] != 1 || counts[semconv.UnmeasuredReasonTableFull] != 1 {
		t.Errorf("%s by reason: %v", semconv.MetricSocketUnmeasured, counts)
	}

	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// A span open across Shutdown ends without attributes.
	if got := h.SpanEnd(sc(21), now, now, nil); len(got) != 0 {
		t.Errorf("span ended after Shutdown: %v", got)
	}
	if c.Open(netspan.HTTPServer, sc(22), now) != nil {
		t.Error("a record after Shutdown")
	}
	if err := c.Start(ctx); !errors.Is(err, probes.ErrShutDown) {
		t.Errorf("Start after Shutdown: %v", err)
	}
	if st := c.Status(); st.State != probes.StateOff || st.Reason != ReasonShutDown {
		t.Errorf("after Shutdown: %v", st)
	}
}

func TestTable(t *testing.T) {
	tab := newTable(3)
	ids := []trace.SpanID{{1}, {2}, {3}}
	for _, id := range ids {
		if tab.open(id) == nil {
			t.Fatal("open failed with room")
		}
	}
	if tab.open(trace.SpanID{4}) != nil {
		t.Error("open beyond capacity")
	}
	if i := tab.take(trace.SpanID{9}); i >= 0 {
		t.Error("take of an unknown span")
	}
	i := tab.take(ids[1])
	if i < 0 {
		t.Fatal("take of an open span failed")
	}
	if tab.take(ids[1]) >= 0 {
		t.Error("second take of the same span")
	}
	tab.release(i)
	if tab.open(trace.SpanID{5}) == nil {
		t.Error("released record not reused")
	}
	for _, id := range []trace.SpanID{ids[0], ids[2], {5}} {
		if i := tab.take(id); i < 0 {
			t.Errorf("take %v failed", id)
		} else {
			tab.release(i)
		}
	}
	if n := tab.inUse.Load(); n != 0 {
		t.Errorf("%d records in use after all ended", n)
	}
	if tab.take(ids[0]) != -1 {
		t.Error("take on an empty table")
	}
}

func TestDegradedAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c, _ := newCore(t, 16)
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Shutdown(context.Background())
	h := c.SpanHook()
	buf := make([]attribute.KeyValue, 0, 16)
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		c.Open(netspan.HTTPServer, sc(1), now)
		h.SpanEnd(sc(1), now, now, buf[:0])
		h.SpanEnd(sc(2), now, now, buf[:0]) // no record
	})
	if allocs != 0 {
		t.Errorf("open + end (degraded) allocate %v times", allocs)
	}
}
