package sqlxprobe

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	sqlite "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// waitForWaiters blocks until n operations are waiting for a connection.
func waitForWaiters(t *testing.T, db *DB, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().WaitCount < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d waiters after 10s, want %d", db.Stats().WaitCount, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// testPoolWait: with one connection held, three concurrent queries wait;
// each one's span and the wait histogram show at least the time the
// connection was still held after all three were known to be waiting.
func testPoolWait(t *testing.T, h *harness, query string) {
	h.db.SetMaxOpenConns(1)
	ctx := context.Background()
	holder, err := h.db.Connx(ctx) // takes the only connection
	if err != nil {
		t.Fatal(err)
	}
	h.reset()
	const waiters = 3
	var wg sync.WaitGroup
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int
			errs <- h.db.GetContext(ctx, &n, query)
		}()
	}
	waitForWaiters(t, h.db, waiters)
	const hold = 50 * time.Millisecond
	time.Sleep(hold) // all three are blocked in the pool during this sleep
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	spans := h.ended()
	if len(spans) != waiters {
		t.Fatalf("%d spans, want %d", len(spans), waiters)
	}
	for _, s := range spans {
		v, ok := attrOf(s, semconv.AttrDBConnectionWaitTime)
		if !ok {
			t.Fatalf("span without %s", semconv.AttrDBConnectionWaitTime)
		}
		wait := time.Duration(v.AsFloat64() * float64(time.Second))
		if wait < hold {
			t.Errorf("wait_time %v, want >= %v (the connection was held that long while it waited)", wait, hold)
		}
		if total := s.EndTime().Sub(s.StartTime()); wait > total {
			t.Errorf("wait %v longer than the span %v", wait, total)
		}
	}
	ms := h.metrics(t)
	hist := ms[semconv.MetricDBClientConnectionWaitTime].Data.(metricdata.Histogram[float64])
	var count uint64
	var sum float64
	for _, dp := range hist.DataPoints {
		count += dp.Count
		sum += dp.Sum
	}
	if count < waiters || sum < float64(waiters)*hold.Seconds() {
		t.Errorf("wait histogram count %d sum %.3fs, want >= %d and >= %.3fs", count, sum, waiters, float64(waiters)*hold.Seconds())
	}
	wc := ms[semconv.MetricDBClientConnectionWaitCount].Data.(metricdata.Sum[int64])
	if len(wc.DataPoints) != 1 || wc.DataPoints[0].Value < waiters {
		t.Errorf("wait_count %+v, want >= %d", wc.DataPoints, waiters)
	}
}

func TestSQLitePoolWait(t *testing.T) {
	testPoolWait(t, newSQLite(t), "SELECT 1")
}

func TestNestedBeginReported(t *testing.T) {
	h := newSQLite(t)
	ctx := context.Background()
	tx, err := h.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Depth() != 1 {
		t.Fatalf("depth %d", tx.Depth())
	}
	h.reset()
	inner, err := h.db.BeginTxx(tx.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if inner.Depth() != 2 {
		t.Errorf("nested depth %d, want 2", inner.Depth())
	}
	if err := inner.Rollback(); err != nil {
		t.Fatal(err)
	}
	var begin = h.ended()[0]
	if begin.Name() != "BEGIN" {
		t.Fatalf("first span %q", begin.Name())
	}
	if d, _ := attrOf(begin, semconv.AttrDBTransactionDepth); d.AsInt64() != 2 {
		t.Errorf("BEGIN depth %d, want 2", d.AsInt64())
	}
	var ev bool
	for _, e := range begin.Events() {
		ev = ev || e.Name == semconv.EventDBNestedConnection
	}
	if !ev {
		t.Error("no nested-connection event on the BEGIN span")
	}
	recs := h.logs.records(t)
	if len(recs) != 1 || recs[0]["level"] != "WARN" || !strings.Contains(recs[0]["msg"].(string), "second pooled connection") {
		t.Fatalf("log records %v", recs)
	}
	if recs[0]["trace_id"] != begin.SpanContext().TraceID().String() {
		t.Errorf("log trace_id %v, want %s", recs[0]["trace_id"], begin.SpanContext().TraceID())
	}
	// A pool query with the transaction's context is the same hazard.
	h.reset()
	var n int
	if err := h.db.GetContext(tx.Context(), &n, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if ev := h.ended()[0].Events(); len(ev) != 1 || ev[0].Name != semconv.EventDBNestedConnection {
		t.Errorf("pool query in tx context: events %v", ev)
	}
	// Through the Tx itself it is not.
	h.reset()
	if err := tx.GetContext(tx.Context(), &n, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if ev := h.ended()[0].Events(); len(ev) != 0 {
		t.Errorf("query on the Tx reported: %v", ev)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// After Commit the context no longer carries an open transaction.
	h.reset()
	if err := h.db.GetContext(tx.Context(), &n, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if ev := h.ended()[0].Events(); len(ev) != 0 {
		t.Errorf("reported after commit: %v", ev)
	}
	m := h.metrics(t)[semconv.MetricDBNestedConnection].Data.(metricdata.Sum[int64])
	if m.DataPoints[0].Value != 2 {
		t.Errorf("nested counter %d, want 2", m.DataPoints[0].Value)
	}
}

// With one connection, a nested Begin would wait forever; NestedError
// refuses it at once.
func TestNestedErrorAvoidsDeadlock(t *testing.T) {
	h := newSQLite(t, WithNestedPolicy(NestedError))
	h.db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := h.db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = h.db.BeginTxx(tx.Context(), nil)
	if !errors.Is(err, ErrNestedConnection) {
		t.Fatalf("err %v, want ErrNestedConnection", err)
	}
	var n int
	if err := h.db.GetContext(tx.Context(), &n, "SELECT 1"); !errors.Is(err, ErrNestedConnection) {
		t.Fatalf("pool query: err %v", err)
	}
	if err := h.db.QueryRowxContext(tx.Context(), "SELECT 1").Scan(&n); err == nil {
		t.Fatal("QueryRowx in tx context succeeded under NestedError")
	}
	if ctx.Err() != nil {
		t.Fatal("took until the timeout")
	}
}

func TestSlowQueryLog(t *testing.T) {
	h := newSQLite(t, WithSlowQueryThreshold(time.Nanosecond))
	h.db.MustExec("CREATE TABLE s (a TEXT)")
	h.db.MustExec("INSERT INTO s VALUES ('secret-value')")
	h.reset()
	h.logs.buf.Reset()
	var got []string
	if err := h.db.Select(&got, "SELECT a FROM s WHERE a <> 'other-secret'"); err != nil {
		t.Fatal(err)
	}
	span := h.ended()[0]
	recs := h.logs.records(t)
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r["msg"] != "slow query" || r["fingerprint"] != "SELECT a FROM s WHERE a <> ?" || r["rows"] != float64(1) {
		t.Errorf("record %v", r)
	}
	if r["trace_id"] != span.SpanContext().TraceID().String() {
		t.Errorf("trace_id %v, want %s", r["trace_id"], span.SpanContext().TraceID())
	}
	for _, k := range []string{"duration", "wait"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no %s in %v", k, r)
		}
	}
	if strings.Contains(h.logs.buf.String(), "secret") {
		t.Error("literal leaked into the log")
	}
	// Below the threshold: nothing.
	h2 := newSQLite(t, WithSlowQueryThreshold(time.Hour))
	h2.db.MustExec("SELECT 1")
	if len(h2.logs.records(t)) != 0 {
		t.Error("logged under the threshold")
	}
}

func TestSummarySeriesBounded(t *testing.T) {
	h := newSQLite(t, WithQuerySummarySeries(2))
	ctx := context.Background()
	run := func(q string, n int) {
		for i := 0; i < n; i++ {
			if _, err := h.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	run("CREATE TABLE a (x INT); CREATE TABLE b (x INT); CREATE TABLE c (x INT)", 1) // admitted first
	run("SELECT x FROM a", 1)                                                        // admitted second
	for i := range 64 {                                                              // one summary, many fingerprints:
		run(fmt.Sprintf("SELECT x FROM b WHERE x = %d%s", i, strings.Repeat(" OR x = 1", i%5)), 1) // folded, then promoted
	}
	run("SELECT x FROM c", 3) // folded
	hist := h.metrics(t)[semconv.MetricDBClientOperationDuration].Data.(metricdata.Histogram[float64])
	summaries := map[string]uint64{}
	for _, dp := range hist.DataPoints {
		if v, ok := dp.Attributes.Value(semconv.AttrDBQueryText); ok {
			t.Errorf("metric series carries db.query.text %q", v.AsString())
		}
		v, _ := dp.Attributes.Value(semconv.AttrDBQuerySummary)
		summaries[v.AsString()] += dp.Count
	}
	own := 0
	for k := range summaries {
		if k != semconv.DBQuerySummaryOther {
			own++
		}
	}
	// Two series may have been admitted at some point plus the promoted
	// one: at most n+1 distinct summaries ever got a series, and the rest
	// is under _OTHER.
	if own > 3 || summaries[semconv.DBQuerySummaryOther] == 0 {
		t.Errorf("series %v", summaries)
	}
	if summaries["SELECT c"] != 0 {
		t.Errorf("rare summary got its own series: %v", summaries)
	}
	if summaries["SELECT b"] == 0 {
		t.Errorf("frequent summary never got its own series: %v", summaries)
	}
	keys := h.db.in.series.ownKeys()
	if len(keys) != 2 {
		t.Errorf("own %v", keys)
	}
}

// TestMetricLabelsBounded: a 3.7 KB statement on a table with a 400-byte
// name keeps its whole fingerprint on the span, while the metric series
// carries no db.query.text and no string attribute over 255 bytes.
func TestMetricLabelsBounded(t *testing.T) {
	h := newSQLite(t)
	table := "t_" + strings.Repeat("é", 199) // 400 bytes, 2-byte runes
	h.db.MustExec("CREATE TABLE " + table + " (x INT)")
	var q strings.Builder
	q.WriteString("SELECT x")
	for i := range 250 {
		fmt.Fprintf(&q, ", x AS column_%d", i)
	}
	q.WriteString(" FROM " + table + " WHERE x = 'secret'")
	h.reset()
	rows, err := h.db.Query(q.String())
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	span := h.ended()[0]
	text, _ := attrOf(span, semconv.AttrDBQueryText)
	if len(text.AsString()) < 3500 || !strings.Contains(text.AsString(), table) {
		t.Errorf("span db.query.text %d bytes, want the whole fingerprint", len(text.AsString()))
	}
	hist := h.metrics(t)[semconv.MetricDBClientOperationDuration].Data.(metricdata.Histogram[float64])
	found := false
	for _, dp := range hist.DataPoints {
		for _, kv := range dp.Attributes.ToSlice() {
			if kv.Key == semconv.AttrDBQueryText {
				t.Errorf("metric carries db.query.text")
			}
			if v := kv.Value.Emit(); len(v) > 255 || !utf8.ValidString(v) {
				t.Errorf("metric attribute %s: %d bytes (valid UTF-8: %v)", kv.Key, len(v), utf8.ValidString(v))
			}
			if kv.Key == semconv.AttrDBQuerySummary && strings.HasPrefix(kv.Value.AsString(), "SELECT t_é") {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no series with the truncated summary: %v", hist.DataPoints)
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abc", 2, "ab"}, {"aé", 2, "a"}, {"aé", 3, "aé"}, {"€x", 2, ""}, {"", 0, ""},
	} {
		if got := truncateUTF8(tc.in, tc.n); got != tc.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestCommentFormat(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ts, _ := trace.ParseTraceState("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
	mk := func(mode CommentMode, tags map[string]string) *instr {
		in, err := newInstr("pgx", "", []Option{WithCommenter(mode), WithCommentTags(tags)})
		if err != nil {
			t.Fatal(err)
		}
		return in
	}
	tp := mk(CommentTraceparent, nil)
	if got, want := tp.comment("SELECT * FROM t", sc), "SELECT * FROM t /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/"; got != want {
		t.Errorf("traceparent:\n got %s\nwant %s", got, want)
	}
	if got, want := tp.comment("SELECT 1 ;  ", sc), "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/;"; got != want {
		t.Errorf("semicolon:\n got %s\nwant %s", got, want)
	}
	for _, q := range []string{"SELECT 1 /* mine */", "SELECT 1 -- mine", "/*+ hint */ SELECT 1"} {
		if got := tp.comment(q, sc); got != q {
			t.Errorf("query with a comment changed: %q", got)
		}
	}
	// SQLite's "$a(…" parameter runs to white space: a glued comment
	// would become part of it (found by FuzzSQLCommenter).
	for _, q := range []string{"SELECT $1(", "SELECT @a(", "SELECT :a("} {
		if got := tp.comment(q, sc); Fingerprint(got) != Fingerprint(q) {
			t.Errorf("%q commented as %q reads %q, want %q", q, got, Fingerprint(got), Fingerprint(q))
		}
	}
	if got := tp.comment("SELECT 1", trace.SpanContext{}); got != "SELECT 1" {
		t.Errorf("no span context but changed: %q", got)
	}
	full := mk(CommentFull, map[string]string{"route": "/polls 1000", "application": "it's", "framework": "net/http"})
	want := "SELECT 1 /*application='it\\'s',db_driver='pgx',framework='net%2Fhttp',route='%2Fpolls%201000'," +
		"traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'," +
		"tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/"
	if got := full.comment("SELECT 1", sc); got != want {
		t.Errorf("full:\n got %s\nwant %s", got, want)
	}
	if got := mk(CommentOff, nil).comment("SELECT 1", sc); got != "SELECT 1" {
		t.Errorf("off changed the query: %q", got)
	}
}

// legacyDriver exposes only the mandatory driver.Conn methods of a real
// SQLite connection, so database/sql must take the ErrSkip path (prepare,
// then execute) for every query.
type legacyDriver struct{ d *sqlite.Driver }

func (l legacyDriver) Open(name string) (driver.Conn, error) {
	c, err := l.d.Open(name)
	if err != nil {
		return nil, err
	}
	return legacyConn{c}, nil
}

type legacyConn struct{ c driver.Conn }

func (l legacyConn) Prepare(q string) (driver.Stmt, error) { return l.c.Prepare(q) }
func (l legacyConn) Close() error                          { return l.c.Close() }
func (l legacyConn) Begin() (driver.Tx, error)             { return l.c.Begin() } //nolint:staticcheck // legacy on purpose

var registerLegacy sync.Once

func TestErrSkipIsNotAnError(t *testing.T) {
	registerLegacy.Do(func() { sql.Register("sqlite-legacy", legacyDriver{&sqlite.Driver{}}) })
	h := newHarness(t, "sqlite-legacy", "file:legacy?mode=memory&cache=shared", WithDBSystem("sqlite"), WithCommenter(CommentTraceparent))
	h.db.MustExec("CREATE TABLE l (a INT)")
	h.db.MustExec("INSERT INTO l VALUES (?)", 7)
	h.reset()
	var a int
	if err := h.db.Get(&a, "SELECT a FROM l WHERE a = ?", 7); err != nil || a != 7 {
		t.Fatalf("get: %v %d", err, a)
	}
	spans := h.ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 (the ErrSkip fallback is part of the call)", len(spans))
	}
	if spans[0].Status().Code.String() == "Error" {
		t.Errorf("ErrSkip recorded as error: %v", spans[0].Status())
	}
	if v, _ := attrOf(spans[0], semconv.AttrDBResponseReturnedRows); v.AsInt64() != 1 {
		t.Errorf("rows %d", v.AsInt64())
	}
}

func TestFingerprintAllocs(t *testing.T) {
	short := "SELECT id, name FROM users WHERE email = 'a@b.c' AND id IN (1, 2, 3)"
	long := strings.Repeat("SELECT a, b, c FROM t WHERE x = 'some string' AND y = 12345 OR z IN (1,2,3) -- c\n", 50)
	for _, q := range []string{short, long, "", "SELECT 1"} {
		if n := testing.AllocsPerRun(100, func() { _ = Fingerprint(q) }); n > 1 {
			t.Errorf("Fingerprint(len %d): %.1f allocs, want <= 1", len(q), n)
		}
	}
}

// slowConnector takes delay to open each connection, like a remote
// database's dial, TLS and authentication.
type slowConnector struct {
	drv   *sqlite.Driver
	dsn   string
	delay time.Duration
}

func (c slowConnector) Connect(context.Context) (driver.Conn, error) {
	time.Sleep(c.delay)
	return c.drv.Open(c.dsn)
}

func (c slowConnector) Driver() driver.Driver { return c.drv }

// TestConnectIsNotPoolWait: a query that opens a new connection (the pool
// had room) waited for nothing: the connection's set-up is in the span,
// not in db.client.connection.wait_time.
func TestConnectIsNotPoolWait(t *testing.T) {
	const delay = 50 * time.Millisecond
	h := newHarnessWith(t, func(o ...Option) (*DB, error) {
		return NewDB(slowConnector{drv: &sqlite.Driver{}, dsn: "file:connectwait?mode=memory&cache=shared", delay: delay}, "sqlite", o...)
	})
	var n int
	if err := h.db.GetContext(context.Background(), &n, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	spans := h.ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	if d := spans[0].EndTime().Sub(spans[0].StartTime()); d < delay {
		t.Errorf("span %v shorter than the connection's set-up %v", d, delay)
	}
	if v, ok := attrOf(spans[0], semconv.AttrDBConnectionWaitTime); ok {
		if w := time.Duration(v.AsFloat64() * float64(time.Second)); w >= delay/2 {
			t.Errorf("wait_time %v counts the connection's set-up (%v) as pool wait", w, delay)
		}
	}
}
