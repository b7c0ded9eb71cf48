package sqlxprobe

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// secret is a value that must never leave the process: it appears only in
// SQL literals and bound parameters below.
const secret = "s3cr3t-4711"

// everythingExported renders every span (name, attributes, status, events),
// every metric data point's attributes and every log record of h as text.
func everythingExported(t *testing.T, h *harness) string {
	t.Helper()
	var b strings.Builder
	for _, s := range h.ended() {
		fmt.Fprintf(&b, "span %q status %v %q\n", s.Name(), s.Status().Code, s.Status().Description)
		for _, kv := range s.Attributes() {
			fmt.Fprintf(&b, "  %s=%s\n", kv.Key, kv.Value.Emit())
		}
		for _, e := range s.Events() {
			fmt.Fprintf(&b, "  event %q %v\n", e.Name, e.Attributes)
		}
	}
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintf(&b, "metric %s %+v\n", m.Name, m.Data)
		}
	}
	h.logs.mu.Lock()
	b.WriteString(h.logs.buf.String())
	h.logs.mu.Unlock()
	return b.String()
}

// failingQueries fail in the database with the secret in a literal or a
// bound parameter; databases quote the offending value in their messages.
type failingQuery struct {
	query string
	args  []any
}

// TestNoLiteralLeavesTheProcess: whatever a failing statement carries in
// its literals or parameters, no span, metric or slow-query record has it
// (the fingerprint replaces literals; the span status says the error class
// and SQLSTATE, not the database's message, which quotes values).
func TestNoLiteralLeavesTheProcess(t *testing.T) {
	run := func(t *testing.T, h *harness, queries []failingQuery) {
		t.Helper()
		failed := 0
		for _, q := range queries {
			if _, err := h.db.ExecContext(context.Background(), q.query, q.args...); err != nil {
				failed++
				if strings.Contains(err.Error(), secret) {
					t.Logf("the database's own error quotes the value: %v", err)
				}
			}
		}
		if failed != len(queries) {
			t.Fatalf("%d of %d statements failed, want all", failed, len(queries))
		}
		out := everythingExported(t, h)
		if strings.Contains(out, secret) {
			t.Errorf("the secret left the process:\n%s", out)
		}
		errSpans := 0
		for _, s := range h.ended() {
			if s.Status().Code == codes.Error {
				errSpans++
				et, _ := attrOf(s, semconv.AttrErrorType)
				if et.AsString() == "" || !strings.HasPrefix(s.Status().Description, et.AsString()) {
					t.Errorf("span %q: status %q, error.type %q", s.Name(), s.Status().Description, et.AsString())
				}
			}
		}
		if errSpans < len(queries) {
			t.Errorf("%d error spans for %d failed statements", errSpans, len(queries))
		}
	}
	t.Run("postgresql", func(t *testing.T) {
		h, _ := newPostgres(t, WithSlowQueryThreshold(time.Nanosecond))
		table := "secret_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
		h.db.MustExec("DROP TABLE IF EXISTS " + table)
		h.db.MustExec("CREATE TABLE " + table + " (id int PRIMARY KEY, email text UNIQUE, n int CHECK (n < 10))")
		h.db.MustExec("INSERT INTO "+table+" VALUES (1, $1, 1)", secret+"@example.com")
		h.reset()
		run(t, h, []failingQuery{
			{"SELECT $1::int", []any{secret}},
			{"SELECT '" + secret + "'::int", nil},
			{"INSERT INTO " + table + " VALUES (2, $1, 1)", []any{secret + "@example.com"}},
			{"INSERT INTO " + table + " VALUES (3, 'x', $1)", []any{4711}},
			{"SELECT * FROM " + table + " WHERE email = '" + secret, nil},
			{"SELECT to_date($1, 'YYYY-MM-DD')", []any{secret}},
		})
	})
	t.Run("sqlite", func(t *testing.T) {
		h := newSQLite(t, WithSlowQueryThreshold(time.Nanosecond))
		h.db.MustExec("CREATE TABLE s (id INTEGER PRIMARY KEY, email TEXT UNIQUE, n INTEGER CHECK (n < 10))")
		h.db.MustExec("INSERT INTO s VALUES (1, ?, 1)", secret)
		h.reset()
		run(t, h, []failingQuery{
			{"SELECT '" + secret, nil},
			{"INSERT INTO s VALUES (2, ?, 1)", []any{secret}},
			{"SELECT json_extract('" + secret + "', '$')", nil},
		})
	})
}
