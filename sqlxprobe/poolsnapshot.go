package sqlxprobe

import (
	"database/sql"
	"sync"
	"time"
)

// PoolSnapshot is the state of an instrumented pool over time: its
// connections now, the cumulative counters of database/sql's DBStats with
// their rates over the last rate window, and a bounded history of samples
// (one per second) from which a reader sees how the pool evolved. It is what
// the judge and user-defined rules read.
//
// A PoolSnapshot is a value: History is a fresh slice each time.
type PoolSnapshot struct {
	// Time is when the pool was read.
	Time time.Time
	// Pool is db.client.connection.pool.name (see WithPoolName); System
	// is db.system.name ("postgresql", "sqlite", ...).
	Pool, System string

	// MaxOpen is the limit on open connections; 0 means no limit.
	MaxOpen int
	// Open, InUse and Idle are the connections now: open in all, handed
	// out to callers, and waiting in the pool (Open = InUse + Idle).
	Open, InUse, Idle int

	// WaitCount and WaitDuration are the requests that waited for a
	// connection, and the total time they waited, since the pool opened.
	WaitCount    int64
	WaitDuration time.Duration
	// Connections closed by the pool since it opened, by reason:
	// SetMaxIdleConns, SetConnMaxIdleTime, SetConnMaxLifetime.
	MaxIdleClosed, MaxIdleTimeClosed, MaxLifetimeClosed int64

	// Window is the interval the rates below cover: from the newest
	// History sample at least PoolRateWindow old (the oldest one while the
	// pool is younger) to Time; zero before the first sample.
	Window time.Duration
	// WaitRate is waits per second; WaitTimeRate is seconds waited per
	// second, i.e. how many callers were waiting for a connection on
	// average.
	WaitRate, WaitTimeRate float64

	// History holds the samples of the last PoolHistory seconds, oldest
	// first. Sampling stops when the pool is closed.
	History []PoolSample
}

// PoolSample is the pool at one instant.
type PoolSample struct {
	Time              time.Time
	Open, InUse, Idle int
	WaitCount         int64
	WaitDuration      time.Duration
}

const (
	// PoolHistory is how many samples (one per second) PoolSnapshot.History
	// holds at most.
	PoolHistory = 60
	// PoolRateWindow is the interval the rates of a PoolSnapshot cover
	// once the pool is that old.
	PoolRateWindow = 10 * time.Second
)

// poolStats samples one pool for its history. It is registered with
// internal/poolreg while the pool is open.
type poolStats struct {
	db           *sql.DB
	pool, system string

	mu   sync.Mutex
	hist [PoolHistory]PoolSample
	n    uint64 // samples ever taken
}

func newPoolStats(db *sql.DB, pool, system string) *poolStats {
	s := &poolStats{db: db, pool: pool, system: system}
	s.Sample(time.Now())
	return s
}

func sampleOf(now time.Time, st sql.DBStats) PoolSample {
	return PoolSample{Time: now, Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle,
		WaitCount: st.WaitCount, WaitDuration: st.WaitDuration}
}

// Sample records the pool at now (poolreg.Source).
func (s *poolStats) Sample(now time.Time) {
	ps := sampleOf(now, s.db.Stats())
	s.mu.Lock()
	s.hist[s.n%PoolHistory] = ps
	s.n++
	s.mu.Unlock()
}

// PoolSnapshot reads the pool now; tracer.Pools finds it through
// internal/poolreg.
func (s *poolStats) PoolSnapshot() PoolSnapshot {
	now := time.Now()
	st := s.db.Stats()
	out := PoolSnapshot{
		Time: now, Pool: s.pool, System: s.system,
		MaxOpen: st.MaxOpenConnections, Open: st.OpenConnections, InUse: st.InUse, Idle: st.Idle,
		WaitCount: st.WaitCount, WaitDuration: st.WaitDuration,
		MaxIdleClosed: st.MaxIdleClosed, MaxIdleTimeClosed: st.MaxIdleTimeClosed, MaxLifetimeClosed: st.MaxLifetimeClosed,
	}
	s.mu.Lock()
	n := min(s.n, PoolHistory)
	out.History = make([]PoolSample, 0, n)
	for i := s.n - n; i < s.n; i++ {
		out.History = append(out.History, s.hist[i%PoolHistory])
	}
	s.mu.Unlock()
	if len(out.History) == 0 {
		return out
	}
	ref := out.History[0]
	for _, h := range out.History {
		if now.Sub(h.Time) < PoolRateWindow {
			break
		}
		ref = h
	}
	if dt := now.Sub(ref.Time); dt > 0 {
		out.Window = dt
		out.WaitRate = float64(out.WaitCount-ref.WaitCount) / dt.Seconds()
		out.WaitTimeRate = (out.WaitDuration - ref.WaitDuration).Seconds() / dt.Seconds()
	}
	return out
}

// PoolSnapshot returns the pool's state over time (see [PoolSnapshot]). It
// costs one DBStats read and a copy of the history. After Close, History
// no longer grows.
func (db *DB) PoolSnapshot() PoolSnapshot {
	return db.shared.pool.PoolSnapshot()
}
