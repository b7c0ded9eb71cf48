package tracertest_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
	"github.com/verdict-obs/verdict/tracer/tracertest"
)

var dbSeq atomic.Int64

// openDB opens an instrumented in-memory SQLite pool of maxOpen
// connections with a table of 100 orders (sqlxprobe's default providers:
// the globals, where tracertest's router is; ctx places the setup's spans
// in the test that runs it, as T.Context does for tests in parallel).
func openDB(tb testing.TB, ctx context.Context, name string, maxOpen int) *sqlxprobe.DB {
	tb.Helper()
	dsn := fmt.Sprintf("file:%s_%d?mode=memory&cache=shared", name, dbSeq.Add(1))
	db, err := sqlxprobe.Open("sqlite", dsn, sqlxprobe.WithPoolName(name))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(maxOpen)
	// Open the first connection outside any span (Conn carries no pool
	// wait), as in a service past its start: sqlxprobe counts a new
	// connection's connect time as pool wait, and on a loaded machine one
	// slow first connect among the first ten statements made
	// db.pool_exhausted fire on a healthy pool (the pool itself reported
	// no wait).
	conn, err := db.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	conn.Close()
	db.MustExecContext(ctx, "CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
	for i := 1; i <= 100; i++ {
		db.MustExecContext(ctx, "INSERT INTO orders (total) VALUES (?)", i)
	}
	return db
}

// exhaust runs workers that each hold the pool's only connection in a
// transaction for hold while the others wait for it: a pool of one
// exhausted by concurrent work, as a slow call inside a transaction does.
func exhaust(tb testing.TB, ctx context.Context, db *sqlxprobe.DB, workers, rounds int, hold time.Duration) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				tx, err := db.BeginTxx(ctx, nil)
				if err != nil {
					tb.Error(err)
					return
				}
				var total int
				if err := tx.GetContext(ctx, &total, "SELECT total FROM orders WHERE id = ?", 1+(w*rounds+i)%100); err != nil {
					tb.Error(err)
				}
				time.Sleep(hold) // "calls the payment provider" inside the transaction
				if err := tx.Commit(); err != nil {
					tb.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// healthy runs the kind of work a passing test does: a few queries on a
// pool large enough, and HTTP requests through verdict's middleware.
func healthy(tb testing.TB, ctx context.Context) {
	db := openDB(tb, ctx, "healthy", 4)
	defer db.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		var total int
		if err := db.GetContext(r.Context(), &total, "SELECT total FROM orders WHERE id = ?", r.PathValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		fmt.Fprintln(w, total)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: middleware.NewHandler(mux), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: middleware.NewTransport(tr), Timeout: 5 * time.Second}
	for i := 1; i <= 20; i++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/orders/%d", ln.Addr(), i), nil)
		resp, err := client.Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			tb.Fatalf("status %d", resp.StatusCode)
		}
	}
}

//go:noinline
func leakyWorker(jobs chan int) {
	for range jobs {
	}
}

// A test that leaks goroutines fails, naming the stack they are parked on.
func TestLeakingTestFails(t *testing.T) {
	t.Parallel()
	jobs := make(chan int)
	defer close(jobs) // the outer test does not leak them
	f := inner(t, "leaks", func(tb testing.TB) {
		tracertest.Start(tb, tracertest.WithLeakGrace(100*time.Millisecond))
		for range 3 {
			go leakyWorker(jobs) // nobody closes jobs: the workers never exit
		}
	})
	mustFail(t, f, "goroutine.leak", "3 goroutines on 1 stacks are still running", "chan receive",
		"tracertest_test.leakyWorker", "created by", "scope:    this test's goroutines")
	t.Logf("the inner test's failure:\n%s", f.errors())
}

// A test that exhausts a pool of one fails with the pool verdict, with an
// example trace whose span shows the pool wait.
func TestPoolExhaustionFails(t *testing.T) {
	t.Parallel()
	f := inner(t, "exhausts", func(tb testing.TB) {
		tr := tracertest.Start(tb)
		db := openDB(tb, tr.Context(), "orders", 1)
		defer db.Close()
		exhaust(tb, tr.Context(), db, 8, 3, 15*time.Millisecond)
	})
	mustFail(t, f, "db.pool_exhausted (orders)", "waiting for a pooled connection", " of 1 connections in use", // in use: as sampled
		"SetMaxOpenConns, now 1", "scope:    this test's spans", "pool.wait.share", "example trace",
		"db.client.connection.wait_time=")
	t.Logf("the inner test's failure:\n%s", f.errors())
}

// A healthy test passes.
func TestHealthyTestPasses(t *testing.T) {
	t.Parallel()
	var spans int
	f := inner(t, "healthy", func(tb testing.TB) {
		tr := tracertest.Start(tb)
		healthy(tb, tr.Context())
		spans = len(tr.Spans())
	})
	mustPass(t, f)
	// 20 requests: client, server and query spans each (the table's
	// setup adds its own).
	if spans < 60 {
		t.Errorf("the test's tracer saw %d spans, want at least 60", spans)
	}
}

// ExpectVerdict passes only when the verdict fires.
func TestExpectVerdict(t *testing.T) {
	t.Parallel()
	fires := inner(t, "fires", func(tb testing.TB) {
		tr := tracertest.Start(tb, tracertest.ExpectVerdict(rules.IDPoolExhausted))
		db := openDB(tb, tr.Context(), "orders", 1)
		defer db.Close()
		exhaust(tb, tr.Context(), db, 8, 3, 15*time.Millisecond)
	})
	mustPass(t, fires)
	// Warning or critical, as the share of time waiting decides.
	if !regexp.MustCompile(`expected verdict fired: (warning|critical) db\.pool_exhausted`).MatchString(fires.logged()) {
		t.Errorf("the expected verdict is not logged:\n%s", fires.logged())
	}
	silent := inner(t, "does-not-fire", func(tb testing.TB) {
		tr := tracertest.Start(tb, tracertest.ExpectVerdict(rules.IDPoolExhausted))
		healthy(tb, tr.Context())
	})
	mustFail(t, silent, "expected verdict db.pool_exhausted did not fire")
}

// AllowRules turns a verdict into a log line; a relaxed copy of a rule
// (WithRule, same ID) replaces the built-in.
func TestAllowAndTuneRules(t *testing.T) {
	t.Parallel()
	allowed := inner(t, "allowed", func(tb testing.TB) {
		tr := tracertest.Start(tb, tracertest.AllowRules(rules.IDPoolExhausted))
		db := openDB(tb, tr.Context(), "orders", 1)
		defer db.Close()
		exhaust(tb, tr.Context(), db, 8, 3, 15*time.Millisecond)
	})
	mustPass(t, allowed)
	if !regexp.MustCompile(`allowed verdict fired: (warning|critical) db\.pool_exhausted`).MatchString(allowed.logged()) {
		t.Errorf("the allowed verdict is not logged:\n%s", allowed.logged())
	}

	relaxed := rules.NewPoolExhausted()
	relaxed.MinCount = 1000 // this test's 72 operations are not enough
	tuned := inner(t, "relaxed", func(tb testing.TB) {
		tr := tracertest.Start(tb, tracertest.WithRule(relaxed))
		db := openDB(tb, tr.Context(), "orders", 1)
		defer db.Close()
		exhaust(tb, tr.Context(), db, 8, 3, 15*time.Millisecond)
	})
	mustPass(t, tuned)

	// A mild exhaustion, diluted by the table's 101 quick setup statements
	// on the same pool: a tightened copy fires on it.
	tight := rules.NewPoolExhausted()
	tight.WaitShare, tight.WaitShareClear, tight.WaitFloor = 0.05, 0.02, 0.002
	tightened := inner(t, "tightened", func(tb testing.TB) {
		tr := tracertest.Start(tb, tracertest.WithRule(tight))
		db := openDB(tb, tr.Context(), "orders", 1)
		defer db.Close()
		exhaust(tb, tr.Context(), db, 3, 2, 20*time.Millisecond)
	})
	mustFail(t, tightened, "db.pool_exhausted")
}

// Two tests in parallel, each judged on its own spans: the one that
// exhausts its pool fails, the healthy one passes although the same pool
// name carries the other's waits.
func TestParallelTestsJudgedOnOwnSpans(t *testing.T) {
	t.Parallel()
	var bad, good *fakeTB
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		bad = inner(t, "exhausts", func(tb testing.TB) {
			tr := tracertest.Start(tb)
			db := openDB(tb, tr.Context(), "shared_name", 1)
			defer db.Close()
			exhaust(tb, tr.Context(), db, 8, 3, 15*time.Millisecond)
		})
	}()
	go func() {
		defer wg.Done()
		good = inner(t, "healthy", func(tb testing.TB) {
			tr := tracertest.Start(tb)
			db := openDB(tb, tr.Context(), "shared_name", 4)
			defer db.Close()
			for i := range 30 {
				var total int
				if err := db.GetContext(tr.Context(), &total, "SELECT total FROM orders WHERE id = ?", 1+i); err != nil {
					tb.Error(err)
				}
			}
		})
	}()
	wg.Wait()
	mustFail(t, bad, "db.pool_exhausted (shared_name)")
	mustPass(t, good)
}

// The three-line use on a real test: a healthy one passes.
func TestStartOnARealTest(t *testing.T) {
	t.Parallel()
	tr := tracertest.Start(t)
	healthy(t, tr.Context())
}
