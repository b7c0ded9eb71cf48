package sqlxprobe

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/poolreg"
)

// A real pool of one connection: a transaction holds it while a query
// waits; the snapshot shows the connection in use, then the wait, and the
// pool is listed for the tracer until Close.
func TestPoolSnapshot(t *testing.T) {
	db, err := Open("sqlite", "file:poolsnap?mode=memory&cache=shared", WithPoolName("orders"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	db.MustExec("CREATE TABLE t (a INT)")
	if !slices.Contains(poolreg.All(), poolreg.Source(db.shared.pool)) {
		t.Fatal("open pool not registered")
	}
	s0 := db.PoolSnapshot()
	if s0.Pool != "orders" || s0.System != "sqlite" || s0.MaxOpen != 1 || len(s0.History) == 0 {
		t.Fatalf("snapshot of a new pool: %+v", s0)
	}

	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := db.PoolSnapshot(); s.InUse != 1 || s.Idle != 0 || s.Open != 1 {
		t.Errorf("with a transaction open: in use %d, idle %d, open %d; want 1, 0, 1", s.InUse, s.Idle, s.Open)
	}
	done := make(chan error)
	go func() {
		var n int
		done <- db.GetContext(ctx, &n, "SELECT count(*) FROM t")
	}()
	// database/sql counts the wait when the connection is handed over.
	const hold = 50 * time.Millisecond
	time.Sleep(hold)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := db.PoolSnapshot()
	t.Logf("after one wait: %+v", s)
	if s.WaitCount != 1 || s.WaitDuration <= 0 || s.InUse != 0 || s.Idle != 1 {
		t.Errorf("wait count %d, wait %v, in use %d, idle %d; want 1, > 0, 0, 1", s.WaitCount, s.WaitDuration, s.InUse, s.Idle)
	}
	if s.Window <= 0 {
		t.Fatalf("no rate window: %+v", s)
	}
	// Younger than PoolRateWindow: the rates run from the first sample.
	ref := s.History[0]
	if s.Window != s.Time.Sub(ref.Time) {
		t.Errorf("window %v, want %v (from the first sample)", s.Window, s.Time.Sub(ref.Time))
	}
	if want := (s.WaitDuration - ref.WaitDuration).Seconds() / s.Window.Seconds(); s.WaitTimeRate != want {
		t.Errorf("WaitTimeRate = %v, want %v", s.WaitTimeRate, want)
	}
	if want := float64(s.WaitCount-ref.WaitCount) / s.Window.Seconds(); s.WaitRate != want {
		t.Errorf("WaitRate = %v, want %v", s.WaitRate, want)
	}

	// The sampler adds to the history once per interval.
	deadline := time.Now().Add(10 * poolreg.Interval)
	for len(db.PoolSnapshot().History) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("history did not grow within 10 sampling intervals")
		}
		time.Sleep(poolreg.Interval / 10)
	}
	h := db.PoolSnapshot().History
	if !h[len(h)-1].Time.After(h[0].Time) {
		t.Errorf("history not in time order: %+v", h)
	}

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(poolreg.All(), poolreg.Source(db.shared.pool)) {
		t.Error("closed pool still registered")
	}
}

// The history keeps the last PoolHistory samples, oldest first.
func TestPoolHistoryBounded(t *testing.T) {
	db, err := Open("sqlite", "file:poolhist?mode=memory&cache=shared")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	base := time.Now()
	for i := range 2 * PoolHistory {
		db.shared.pool.Sample(base.Add(time.Duration(i) * time.Second))
	}
	h := db.PoolSnapshot().History
	if len(h) != PoolHistory || !h[0].Time.Equal(base.Add(PoolHistory*time.Second)) || !h[len(h)-1].Time.Equal(base.Add((2*PoolHistory-1)*time.Second)) {
		t.Errorf("history of %d samples from %v to %v", len(h), h[0].Time.Sub(base), h[len(h)-1].Time.Sub(base))
	}
}
