package stage

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// clock is a settable clock for the stage.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func newTestStage(t testing.TB) (*Stage, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	return New(Config{Now: c.now}), c
}

var idSeq uint64

func ids() (trace.TraceID, trace.SpanID) {
	idSeq++
	var tid trace.TraceID
	var sid trace.SpanID
	h := idSeq * 0x9E3779B97F4A7C15 // random-looking bytes everywhere, as real IDs have
	for i := 0; i < 8; i++ {
		tid[8+i] = byte(h >> (8 * i))
		tid[i] = byte(idSeq>>(8*i)) | 1
		sid[i] = byte((idSeq + 7) >> (8 * i))
	}
	sid[7] |= 1
	return tid, sid
}

func sc(tid trace.TraceID, sid trace.SpanID) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

func serverSpan(tid trace.TraceID, end time.Time, d time.Duration, attrs ...attribute.KeyValue) *Span {
	_, sid := ids()
	return &Span{SC: sc(tid, sid), LocalRoot: true, Kind: trace.SpanKindServer, Name: "GET /orders/{id}",
		Start: end.Add(-d), End: end, Attrs: append([]attribute.KeyValue{
			attribute.String(semconv.AttrHTTPRequestMethod, "GET"),
			attribute.String(semconv.AttrHTTPRoute, "/orders/{id}"),
			attribute.Int(semconv.AttrHTTPResponseStatusCode, 200),
		}, attrs...)}
}

func dbSpan(tid trace.TraceID, end time.Time, d, wait time.Duration) *Span {
	_, sid := ids()
	return &Span{SC: sc(tid, sid), Kind: trace.SpanKindClient, Name: "SELECT orders", Start: end.Add(-d), End: end,
		Attrs: []attribute.KeyValue{
			attribute.String(semconv.AttrDBSystemName, "postgresql"),
			attribute.String(semconv.AttrDBQueryText, "SELECT * FROM orders WHERE id = $1"),
			attribute.String(semconv.AttrDBQuerySummary, "SELECT orders"),
			attribute.String(semconv.AttrServerAddress, "127.0.0.1"),
			attribute.Int(semconv.AttrServerPort, 5432),
			attribute.Float64(semconv.AttrDBConnectionWaitTime, wait.Seconds()),
		}}
}

func clientSpan(tid trace.TraceID, end time.Time, d time.Duration, attrs ...attribute.KeyValue) *Span {
	_, sid := ids()
	return &Span{SC: sc(tid, sid), Kind: trace.SpanKindClient, Name: "GET", Start: end.Add(-d), End: end,
		Attrs: append([]attribute.KeyValue{
			attribute.String(semconv.AttrHTTPRequestMethod, "GET"),
			attribute.String(semconv.AttrServerAddress, "10.0.0.7"),
			attribute.Int(semconv.AttrServerPort, 8080),
		}, attrs...)}
}

func attrMap(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// The root of a request that spent 80 % waiting for the pool says so.
func TestRootLearnsChildrenCause(t *testing.T) {
	st, c := newTestStage(t)
	now := c.now()
	tid, _ := ids()
	// A failed request whose only child waited 80 ms of its 100 ms.
	st.Start(true)
	child := dbSpan(tid, now.Add(-time.Millisecond), 85*time.Millisecond, 80*time.Millisecond)
	out, res := st.End(child, nil)
	if len(out) != 0 || res.Interesting {
		t.Fatalf("an ordinary child span got %v", out)
	}
	root := serverSpan(tid, now, 100*time.Millisecond, attribute.String(semconv.AttrErrorType, "500"), attribute.Int(semconv.AttrHTTPResponseStatusCode, 500))
	root.Attrs = root.Attrs[:2]
	root.Attrs = append(root.Attrs, attribute.Int(semconv.AttrHTTPResponseStatusCode, 500), attribute.String(semconv.AttrErrorType, "500"))
	out, res = st.End(root, nil)
	a := attrMap(out)
	if a[semconv.AttrCause].AsString() != semconv.CausePoolWait {
		t.Fatalf("root cause %v, want %s (attrs %v)", a[semconv.AttrCause].Emit(), semconv.CausePoolWait, out)
	}
	if s := a[semconv.AttrCauseShare].AsFloat64(); s < 0.79 || s > 0.81 {
		t.Errorf("root cause share %v, want 0.8", s)
	}
	if !res.Keep || !res.KeepError {
		t.Errorf("failed root: %+v, want kept for its error", res)
	}
	if st.inflight.Load() != 0 {
		t.Errorf("in flight %d after the root ended", st.inflight.Load())
	}
}

// A failed client span names the failing phase; its root keeps the trace.
func TestErrorCauseFromErrorType(t *testing.T) {
	st, c := newTestStage(t)
	now := c.now()
	tid, _ := ids()
	out, res := st.End(clientSpan(tid, now, 2*time.Millisecond,
		attribute.String(semconv.AttrErrorType, "connection_refused"),
		attribute.Float64(semconv.AttrHTTPClientPhasePrefix+"connect.duration", 0.0015)), nil)
	a := attrMap(out)
	if a[semconv.AttrCause].AsString() != semconv.CauseConnect || a[semconv.AttrCauseShare].AsFloat64() != 0.75 {
		t.Errorf("refused client span: %v", out)
	}
	if !res.Interesting {
		t.Error("failed span not interesting")
	}
	_, res = st.End(serverSpan(tid, now.Add(time.Millisecond), 5*time.Millisecond), nil)
	if !res.Keep || !res.KeepError {
		t.Errorf("root of a trace with a failed child: %+v, want kept", res)
	}
	tid2, _ := ids()
	_, res = st.End(serverSpan(tid2, now.Add(time.Millisecond), 5*time.Millisecond), nil)
	if res.Keep {
		t.Errorf("ordinary root kept: %+v", res)
	}
}

// feed runs load: n roots per tick of d each, for ticks ticks, advancing
// the clock and building a snapshot per tick.
func feed(st *Stage, c *clock, ticks, n int, d func(i int) time.Duration, extra func(tid trace.TraceID, end time.Time)) *judge.Snapshot {
	var snap *judge.Snapshot
	for k := 0; k < ticks; k++ {
		base := c.now()
		for i := 0; i < n; i++ {
			tid, _ := ids()
			end := base.Add(time.Duration(i) * time.Second / time.Duration(n+1))
			if extra != nil {
				extra(tid, end)
			}
			st.End(serverSpan(tid, end, d(i)), nil)
		}
		snap = st.Snapshot(c.add(time.Second), &Readings{})
	}
	return snap
}

func TestAnomalyAgainstBaseline(t *testing.T) {
	st, c := newTestStage(t)
	snap := feed(st, c, 12, 20, func(i int) time.Duration { return time.Duration(8+i%5) * time.Millisecond }, nil)
	if !snap.Requests.P99.HasBaseline {
		t.Fatalf("no baseline after 12 s of load: %+v", snap.Requests)
	}
	tid, _ := ids()
	out, res := st.End(serverSpan(tid, c.now(), 60*time.Millisecond), nil)
	a := attrMap(out)
	if !a[semconv.AttrAnomaly].AsBool() || a[semconv.AttrAnomalyReason].AsString() != semconv.AnomalyLatency {
		t.Fatalf("60 ms against a 12 ms P99: attrs %v, want anomaly latency", out)
	}
	if a[semconv.AttrCause].AsString() != semconv.CauseSelf {
		t.Errorf("cause %v, want self (nothing measured)", a[semconv.AttrCause].Emit())
	}
	if !res.Keep || res.KeepError {
		t.Errorf("anomalous root: %+v, want kept for the anomaly", res)
	}
	if st.Anomalies(ReasonLatency, cSelf) != 1 {
		t.Errorf("anomaly counter = %d", st.Anomalies(ReasonLatency, cSelf))
	}
	tid, _ = ids()
	if out, _ := st.End(serverSpan(tid, c.now(), 20*time.Millisecond), nil); len(out) != 0 {
		t.Errorf("20 ms against a 12 ms P99 (under 3×) flagged: %v", out)
	}
}

// A slow-query regression is visible as the fingerprint's window against
// its own baseline, pool wait excluded; the pool shows the wait.
func TestSnapshotQueriesAndPools(t *testing.T) {
	st, c := newTestStage(t)
	slow := false
	snap := feed(st, c, 20, 20, func(int) time.Duration { return 5 * time.Millisecond }, func(tid trace.TraceID, end time.Time) {
		d := time.Millisecond
		if slow {
			d = 30 * time.Millisecond
		}
		st.End(dbSpan(tid, end.Add(-time.Millisecond), d+3*time.Millisecond, 3*time.Millisecond), nil)
	})
	q := snap.Queries[0]
	if q.Fingerprint != "SELECT * FROM orders WHERE id = $1" || q.Summary != "SELECT orders" || q.Pool != "postgresql://127.0.0.1" {
		t.Fatalf("query %+v", q)
	}
	if !q.P50.HasBaseline || q.P50.Value < 0.0008 || q.P50.Value > 0.0013 {
		t.Errorf("exec P50 %+v, want 1 ms (the 3 ms wait excluded)", q.P50)
	}
	p := snap.Pools[0]
	if p.WaitShare.Value < 0.7 || p.WaitShare.Value > 0.8 {
		t.Errorf("pool wait share %+v, want 0.75", p.WaitShare)
	}
	slow = true
	snap = feed(st, c, 6, 20, func(int) time.Duration { return 35 * time.Millisecond }, func(tid trace.TraceID, end time.Time) {
		st.End(dbSpan(tid, end.Add(-time.Millisecond), 33*time.Millisecond, 3*time.Millisecond), nil)
	})
	q = snap.Queries[0]
	if q.P50.Value < 0.025 || q.P50.Baseline > 0.0013 {
		t.Errorf("after the regression: P50 %+v, want ~30 ms against ~1 ms", q.P50)
	}
	// The baseline did not absorb the incident (its spans were anomalous).
	snap = feed(st, c, 30, 20, func(int) time.Duration { return 35 * time.Millisecond }, func(tid trace.TraceID, end time.Time) {
		st.End(dbSpan(tid, end.Add(-time.Millisecond), 33*time.Millisecond, 3*time.Millisecond), nil)
	})
	if q := snap.Queries[0]; q.P50.Baseline > 0.0013 {
		t.Errorf("30 s into the incident the baseline moved: %+v", q.P50)
	}
}

func TestSnapshotPeers(t *testing.T) {
	st, c := newTestStage(t)
	refuse := func(tid trace.TraceID, end time.Time) {
		st.End(clientSpan(tid, end, time.Millisecond, attribute.String(semconv.AttrErrorType, "connection_refused")), nil)
		_, sid := ids()
		st.End(&Span{SC: sc(tid, sid), Kind: trace.SpanKindClient, Name: "svc.Greeter/Hello", Start: end.Add(-time.Millisecond), End: end,
			Error: true, StatusDesc: `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:50051: connect: connection refused"`,
			Attrs: []attribute.KeyValue{attribute.String(semconv.AttrRPCSystemName, "grpc"), attribute.String(semconv.AttrRPCMethod, "svc.Greeter/Hello"),
				attribute.String(semconv.AttrErrorType, "UNAVAILABLE")}}, nil)
	}
	snap := feed(st, c, 6, 10, func(int) time.Duration { return 3 * time.Millisecond }, refuse)
	byAddr := map[string]judge.Peer{}
	for _, p := range snap.Peers {
		byAddr[p.Address] = p
	}
	h, g := byAddr["10.0.0.7:8080"], byAddr["127.0.0.1:50051"]
	if h.Refused != 50 || h.Protocol != "http" || h.TopErrorType != "connection_refused" || h.ErrorRatio.Value != 1 {
		t.Errorf("HTTP peer %+v", h)
	}
	if g.Refused != 50 || g.Unavailable != 50 || g.Protocol != "grpc" {
		t.Errorf("gRPC peer %+v", g)
	}
	if len(h.Exemplars) == 0 {
		t.Error("no exemplars")
	}
	if got := snap.Requests.Causes; len(got) != 0 {
		t.Errorf("roots succeeded; causes %v", got)
	}
}

// Past the operation limit, new operations share _OTHER; memory stays
// bounded. The figure is logged (10,000 distinct operations).
func TestBoundedOperations(t *testing.T) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	st, c := newTestStage(t)
	now := c.now()
	names := make([]string, 10000)
	for i := range names {
		names[i] = "GET /op/" + strings.Repeat("x", i%7) + itoa(i)
	}
	for _, n := range names {
		tid, _ := ids()
		sp := serverSpan(tid, now, time.Millisecond)
		sp.Name = n
		st.End(sp, nil)
		_, sid := ids()
		st.End(&Span{SC: sc(tid, sid), Kind: trace.SpanKindClient, Start: now.Add(-time.Millisecond), End: now, Attrs: []attribute.KeyValue{
			attribute.String(semconv.AttrDBSystemName, "sqlite"), attribute.String(semconv.AttrDBQueryText, "SELECT "+n)}}, nil)
	}
	snap := st.Snapshot(c.add(time.Second), &Readings{})
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := len(st.ops.subjects()); got != st.cfg.MaxOperations+1 {
		t.Errorf("%d operation subjects, want %d and _OTHER", got, st.cfg.MaxOperations)
	}
	if got := len(st.queries.subjects()); got != st.cfg.MaxQueries+1 {
		t.Errorf("%d query subjects, want %d and _OTHER", got, st.cfg.MaxQueries)
	}
	if len(snap.Operations) > 64 {
		t.Errorf("snapshot lists %d operations", len(snap.Operations))
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("10,000 distinct operations and fingerprints: %d subjects, heap %.1f MiB", len(st.allSubjects()), float64(heap)/(1<<20))
	if heap > 16<<20 {
		t.Errorf("heap grew by %d bytes", heap)
	}
	runtime.KeepAlive(st)
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	return string(b[n:])
}

// Without failures or anomalies, a subject's exemplars are its slowest
// spans of the window; old failures leave the list with the window.
func TestExemplarsSlowestAndRecent(t *testing.T) {
	st, c := newTestStage(t)
	var slowTID trace.TraceID
	k := 0
	snap := feed(st, c, 8, 10, func(int) time.Duration { return 2 * time.Millisecond }, func(tid trace.TraceID, end time.Time) {
		k++
		d := time.Millisecond
		if k == 45 {
			d, slowTID = 9*time.Millisecond, tid
		}
		st.End(clientSpan(tid, end, d), nil)
	})
	p := snap.Peers[0]
	if len(p.Exemplars) == 0 || p.Exemplars[0].TraceID != slowTID {
		t.Errorf("peer exemplars %v, want the slowest span's trace %s first", p.Exemplars, slowTID)
	}
	if len(snap.Requests.Exemplars) == 0 {
		t.Error("no request exemplars")
	}
	// A failure, then a window without: it leaves the exemplars.
	tid, _ := ids()
	st.End(clientSpan(tid, c.now(), time.Millisecond, attribute.String(semconv.AttrErrorType, "connection_reset")), nil)
	snap = feed(st, c, 1, 10, func(int) time.Duration { return 2 * time.Millisecond }, nil)
	if got := snap.Peers[0].Exemplars; len(got) == 0 || got[0].TraceID != tid {
		t.Errorf("exemplars %v, want the failed span first", got)
	}
	snap = feed(st, c, 7, 10, func(int) time.Duration { return 2 * time.Millisecond }, func(tid trace.TraceID, end time.Time) {
		st.End(clientSpan(tid, end, time.Millisecond), nil)
	})
	for _, x := range snap.Peers[0].Exemplars {
		if x.TraceID == tid {
			t.Errorf("a failure older than the window is still an exemplar")
		}
	}
}

// A pool seen in spans takes the statistics of the pool reading of the
// same system, and its name (WithPoolName's).
func TestPoolReadingsJoinSpans(t *testing.T) {
	st, c := newTestStage(t)
	var snap *judge.Snapshot
	for k := 0; k < 7; k++ {
		base := c.now()
		for i := 0; i < 10; i++ {
			tid, _ := ids()
			st.End(dbSpan(tid, base.Add(time.Duration(i)*50*time.Millisecond), 3*time.Millisecond, 2*time.Millisecond), nil)
		}
		snap = st.Snapshot(c.add(time.Second), &Readings{Pools: []PoolReading{{Name: "orders", System: "postgresql", MaxOpen: 4, Open: 4, InUse: 4,
			WaitCount: uint64(10 * k), WaitDuration: time.Duration(k) * 20 * time.Millisecond}}})
	}
	if len(snap.Pools) != 1 {
		t.Fatalf("pools %+v", snap.Pools)
	}
	p := snap.Pools[0]
	if p.Name != "orders" || !p.Stats.Available || p.Stats.MaxOpen != 4 || p.Stats.WaitRate.Value < 9 || p.Count == 0 {
		t.Errorf("pool %+v", p)
	}
	if snap.Queries[0].Pool != "orders" {
		t.Errorf("query's pool %q, want orders", snap.Queries[0].Pool)
	}
	tid, _ := ids()
	st.End(dbSpan(tid, c.now(), time.Millisecond, 0), nil)
	if !st.Affected("orders")(tid) {
		t.Error("a trace that used the pool is not affected by its verdict")
	}
}

// A pool the spans name keeps its name when its own reading is gone (the
// pool was closed) and another pool of the same system is the only
// reading: that pool's name and statistics are not its.
func TestNamedPoolNotAliased(t *testing.T) {
	st, c := newTestStage(t)
	var snap *judge.Snapshot
	for k := 0; k < 3; k++ {
		base := c.now()
		for i := 0; i < 10; i++ {
			tid, _ := ids()
			sp := dbSpan(tid, base.Add(time.Duration(i)*50*time.Millisecond), 3*time.Millisecond, 2*time.Millisecond)
			sp.Attrs = append(sp.Attrs, attribute.String(semconv.AttrDBClientConnectionPoolName, "mine"))
			st.End(sp, nil)
		}
		readings := []PoolReading{{Name: "theirs", System: "postgresql", MaxOpen: 8, Open: 1, InUse: 1}}
		if k < 2 {
			readings = append(readings, PoolReading{Name: "mine", System: "postgresql", MaxOpen: 1, Open: 1, InUse: 1})
		}
		snap = st.Snapshot(c.add(time.Second), &Readings{Pools: readings})
	}
	var mine *judge.Pool
	for i, p := range snap.Pools {
		if p.Name == "theirs" && p.Count > 0 {
			t.Errorf("the spans of pool mine went to theirs: %+v", p)
		}
		if p.Name == "mine" {
			mine = &snap.Pools[i]
		}
	}
	if mine == nil || mine.Count == 0 || !mine.Stats.Available || mine.Stats.MaxOpen != 1 {
		t.Errorf("pool mine %+v, want its spans and its last statistics (MaxOpen 1) for a window after its reading is gone", mine)
	}
	for range 6 { // past the window, the statistics are gone
		snap = st.Snapshot(c.add(time.Second), &Readings{Pools: []PoolReading{{Name: "theirs", System: "postgresql", MaxOpen: 8}}})
	}
	for _, p := range snap.Pools {
		if p.Name == "mine" && p.Stats.Available {
			t.Errorf("statistics of a pool gone for longer than the window: %+v", p)
		}
	}
}

// While the judge has a verdict firing (Readings.Incident), the slots are
// held out of the baselines: after an incident that slowed every request
// 2× (under the anomaly factor, so no slot counted as disturbed by its
// anomalies) the baseline P99 is the normal one, and the next incident is
// judged against it. Without the flag the incident becomes the baseline.
func TestIncidentHeldOutOfBaseline(t *testing.T) {
	run := func(flag bool) *judge.Snapshot {
		st, c := newTestStage(t)
		tick := func(d time.Duration, incident bool) *judge.Snapshot {
			base := c.now()
			for i := range 20 {
				tid, _ := ids()
				st.End(serverSpan(tid, base.Add(time.Duration(i)*time.Second/21), d), nil)
			}
			return st.Snapshot(c.add(time.Second), &Readings{Incident: incident})
		}
		for range 60 {
			tick(10*time.Millisecond, false)
		}
		for k := range 40 {
			// The verdict fires after its debounce, on the third tick.
			tick(20*time.Millisecond, flag && k >= 2)
		}
		var snap *judge.Snapshot
		for range 30 {
			snap = tick(10*time.Millisecond, false)
		}
		return snap
	}
	held, learned := run(true).Requests.P99, run(false).Requests.P99
	t.Logf("baseline P99 after the incident: held out %.1f ms, learned %.1f ms", held.Baseline*1e3, learned.Baseline*1e3)
	if !held.HasBaseline || held.Baseline > 0.0125 {
		t.Errorf("held out: baseline P99 %v, want the normal 10 ms", held)
	}
	if learned.Baseline < 0.015 {
		t.Errorf("without the incident flag the baseline P99 is %v: the test does not show the difference", learned)
	}
}
