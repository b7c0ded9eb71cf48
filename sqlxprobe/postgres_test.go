package sqlxprobe

import (
	"context"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/internal/pgtest"
	"github.com/verdict-obs/verdict/internal/semconv"
)

func newPostgres(t *testing.T, opts ...Option) (*harness, *pgtest.Server) {
	t.Helper()
	srv := pgtest.Require(t)
	return newHarness(t, "postgres", srv.DSN, opts...), srv
}

func dollar(q string) string { return sqlx.Rebind(sqlx.DOLLAR, q) }

func TestPostgresEveryMethod(t *testing.T) {
	h, srv := newPostgres(t)
	exerciseAPI(t, h, "postgresql", dollar)
	h.reset()
	var one int
	if err := h.db.Get(&one, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	s := h.ended()[0]
	if v, _ := attrOf(s, semconv.AttrServerAddress); v.AsString() != "127.0.0.1" {
		t.Errorf("server.address %q", v.AsString())
	}
	if v, _ := attrOf(s, semconv.AttrServerPort); v.AsInt64() != int64(srv.Port) {
		t.Errorf("server.port %d, want %d", v.AsInt64(), srv.Port)
	}
	h.db.SetMaxOpenConns(7)
	ms := h.metrics(t)
	for _, name := range []string{semconv.MetricDBClientOperationDuration, semconv.MetricDBClientConnectionCount, semconv.MetricDBClientConnectionWaitTime} {
		if _, ok := ms[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
	// Pool gauges mirror sql.DBStats.
	stats := h.db.Stats()
	var open int64
	for _, dp := range ms[semconv.MetricDBClientConnectionCount].Data.(metricdata.Sum[int64]).DataPoints {
		open += dp.Value
		if _, ok := dp.Attributes.Value(semconv.AttrDBClientConnectionState); !ok {
			t.Error("connection count without state")
		}
	}
	if open != int64(stats.OpenConnections) {
		t.Errorf("connection count %d, DBStats.OpenConnections %d", open, stats.OpenConnections)
	}
	if dp := ms[semconv.MetricDBClientConnectionMax].Data.(metricdata.Sum[int64]).DataPoints; len(dp) != 1 || dp[0].Value != 7 {
		t.Errorf("connection max %+v, want 7", dp)
	}
}

// The server sees the traceparent of the query's own span: the query reads
// its own text from pg_stat_activity, and log_statement=all logs it.
func TestPostgresTraceparentSeenByServer(t *testing.T) {
	h, srv := newPostgres(t, WithCommenter(CommentTraceparent))
	ctx := context.Background()
	var seen string
	const q = "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() AND 'marker-1' <> ''"
	if err := h.db.GetContext(ctx, &seen, q); err != nil {
		t.Fatal(err)
	}
	span := h.ended()[0]
	sc := span.SpanContext()
	want := "traceparent='00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01'"
	if !strings.Contains(seen, want) {
		t.Fatalf("server saw %q, want it to contain %s", seen, want)
	}
	if !strings.HasPrefix(seen, q+" /*") {
		t.Errorf("comment not appended after the statement: %q", seen)
	}
	if !strings.Contains(srv.Log(), want) {
		t.Errorf("server log lacks %s", want)
	}
	if v, _ := attrOf(span, semconv.AttrDBQueryText); strings.Contains(v.AsString(), "marker-1") {
		t.Errorf("literal in db.query.text: %q", v.AsString())
	}

	// A query with its own comment is left alone.
	h.reset()
	const own = "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() /* mine */"
	if err := h.db.GetContext(ctx, &seen, own); err != nil {
		t.Fatal(err)
	}
	if seen != own {
		t.Errorf("query with a comment changed: %q", seen)
	}
}

func TestPostgresPreparedStatementSafe(t *testing.T) {
	h, _ := newPostgres(t, WithCommenter(CommentFull), WithPreparedStatementSafe(true), WithCommentTags(map[string]string{"application": "verdict-test"}))
	ctx := context.Background()
	var seen string
	// With arguments the statement is prepared by the driver: unchanged.
	if err := h.db.GetContext(ctx, &seen, "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid() AND $1 = 1", 1); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(seen, "traceparent") {
		t.Errorf("statement with arguments was commented: %q", seen)
	}
	// Without arguments it is not prepared: commented, full mode.
	if err := h.db.GetContext(ctx, &seen, "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(seen, "/*application='verdict-test',db_driver='postgres',traceparent='00-") {
		t.Errorf("full comment missing: %q", seen)
	}
	// Explicit Prepare: unchanged.
	st, err := h.db.PreparexContext(ctx, "SELECT query FROM pg_stat_activity WHERE pid = pg_backend_pid()")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.GetContext(ctx, &seen); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(seen, "traceparent") {
		t.Errorf("prepared statement was commented: %q", seen)
	}
}

func TestPostgresPoolWait(t *testing.T) {
	h, _ := newPostgres(t)
	testPoolWait(t, h, "SELECT 1")
}
