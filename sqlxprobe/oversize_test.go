package sqlxprobe

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// bulkInsert is an INSERT of rows rows with their values inlined, about
// 20 bytes a row; seed makes the literals differ from call to call.
func bulkInsert(rows, seed int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO big (id, v) VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "(%d,'v%d-%d')", seed*rows+i, seed, i)
	}
	return b.String()
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// timed runs f and fails the test when it takes longer than limit, a
// liveness bound far above the expected time (the work is linear in the
// statement's size).
func timed(t *testing.T, what string, limit time.Duration, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	f()
	d := time.Since(start)
	if d > limit {
		t.Errorf("%s took %v (bound %v)", what, d, limit)
	}
	return d
}

// Megabyte statements: bounded time, no literal in the span, no metric
// attribute of their size, and nothing retained per statement (the
// analysis cache keeps statements up to 16 KB only).
func TestOversizedQueries(t *testing.T) {
	h := newSQLite(t, WithCommenter(CommentFull))
	h.db.MustExec("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)")
	ctx, span := h.tp.Tracer("test").Start(context.Background(), "parent") // the commenter needs a span
	defer span.End()

	const rows = 50_000 // ~1 MB per statement
	q := bulkInsert(rows, 0)
	if _, err := h.db.ExecContext(ctx, q); err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	var took time.Duration
	const statements = 20
	for i := 1; i <= statements; i++ {
		q := bulkInsert(rows, i)
		took += timed(t, "a 1 MB INSERT", 20*time.Second, func() {
			if _, err := h.db.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		})
	}
	h.reset() // the recorder holds the spans' fingerprints, not verdict
	growth := int64(liveHeap()) - int64(before)
	t.Logf("%d distinct 1 MB INSERTs (%d rows each): %v each on average; live heap grew %.1f MB",
		statements, rows, took/statements, float64(growth)/(1<<20))
	if growth > 8<<20 {
		t.Errorf("live heap grew %d MB after %d distinct 1 MB statements: they are retained", growth>>20, statements)
	}
	if n := h.db.in.nQueries.Load(); n > 10 {
		t.Errorf("%d statements cached", n)
	}

	// The span of one such statement: the fingerprint without literals.
	if _, err := h.db.ExecContext(ctx, bulkInsert(rows, 99)); err != nil {
		t.Fatal(err)
	}
	s := h.ended()[len(h.ended())-1]
	text, _ := attrOf(s, semconv.AttrDBQueryText)
	// Repeated VALUES rows of one shape collapse into one (issue 10).
	if strings.Contains(text.AsString(), "'v99-") || text.AsString() != "INSERT INTO big (id, v) VALUES (?,?)" {
		t.Errorf("db.query.text %.80q…", text.AsString())
	}
	// Metrics: no attribute near the statement's size.
	m := h.metrics(t)[semconv.MetricDBClientOperationDuration]
	for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		for _, kv := range dp.Attributes.ToSlice() {
			if len(kv.Value.Emit()) > 1024 {
				t.Errorf("a series with a %d-byte %s", len(kv.Value.Emit()), kv.Key)
			}
		}
	}
}

// Deep nesting: parentheses a million deep and comments nested a hundred
// thousand deep are fingerprinted in linear time; the database refuses
// them or runs them, and either way the span ends with a clear outcome.
func TestDeeplyNestedQueries(t *testing.T) {
	const depth = 100_000
	parens := "SELECT " + strings.Repeat("(", 10*depth) + "1" + strings.Repeat(")", 10*depth)
	comments := "SELECT 1 " + strings.Repeat("/* a ", depth) + strings.Repeat(" */", depth)
	unbalanced := "SELECT 1 " + strings.Repeat("/*", depth) // never closed
	literal := "SELECT '" + strings.Repeat("x", 4<<20)      // a 4 MB unterminated literal
	for _, c := range []struct {
		name, q string
	}{{"parentheses 1,000,000 deep", parens}, {"comments 100,000 deep", comments}, {"unbalanced comments", unbalanced}, {"4 MB unterminated literal", literal}} {
		t.Run(c.name, func(t *testing.T) {
			var fp string
			d := timed(t, "Fingerprint", 5*time.Second, func() { fp = Fingerprint(c.q) })
			if strings.Contains(fp, "xxxx") {
				t.Errorf("the literal survived: %.60q…", fp)
			}
			t.Logf("Fingerprint of %d bytes: %v, %d bytes out", len(c.q), d, len(fp))
			h := newSQLite(t)
			var err error
			timed(t, "the statement", 20*time.Second, func() { _, err = h.db.Exec(c.q) })
			spans := h.ended()
			if len(spans) == 0 {
				t.Fatal("no span")
			}
			s := spans[len(spans)-1]
			if err != nil {
				et, _ := attrOf(s, semconv.AttrErrorType)
				if s.Status().Code != codes.Error || et.AsString() == "" {
					t.Errorf("failed (%v) but span status %v, error.type %q", err, s.Status(), et.AsString())
				}
				t.Logf("SQLite: %.100v", err)
			}
		})
	}
	t.Run("postgresql parentheses", func(t *testing.T) {
		h, _ := newPostgres(t)
		_, err := h.db.Exec(parens)
		if err == nil {
			t.Fatal("PostgreSQL ran a million nested parentheses")
		}
		s := h.ended()[len(h.ended())-1]
		if et, _ := attrOf(s, semconv.AttrErrorType); s.Status().Code != codes.Error || et.AsString() == "" {
			t.Errorf("span status %v, error.type %q", s.Status(), et.AsString())
		}
		t.Logf("PostgreSQL: %.100v; span status %q", err, s.Status().Description)
	})
}
