package sockspan

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/verdict-obs/verdict/probes"
)

// accum sums the spans of one kind that ended (atomics: End runs on many
// goroutines at once).
type accum struct {
	spans, unmeasured, shared atomic.Uint64
	readWait, writeWait, self atomic.Int64
	rx, tx, retrans, resets   atomic.Uint64
	excluded                  atomic.Int64
}

func (a *accum) load() (s probes.SocketStats, excluded time.Duration) {
	s.Spans = a.spans.Load()
	s.Unmeasured = a.unmeasured.Load()
	s.Shared = a.shared.Load()
	s.ReadWait = time.Duration(a.readWait.Load())
	s.WriteWait = time.Duration(a.writeWait.Load())
	s.Self = time.Duration(a.self.Load())
	s.BytesRead = a.rx.Load()
	s.BytesWritten = a.tx.Load()
	s.Retransmits = a.retrans.Load()
	s.Resets = a.resets.Load()
	return s, time.Duration(a.excluded.Load())
}

// MinRateWindow is the shortest interval rates are computed over.
const MinRateWindow = time.Second

// Snapshot is what the probe measured, per span kind in the order of
// Config.Kinds.
type Snapshot struct {
	Time     time.Time
	Window   time.Duration
	Kernel   bool
	Stats    []probes.SocketStats
	Excluded []time.Duration // per kind: the excluded time (pool wait) of the measured spans
	// ExcludedRate per kind, seconds per second over Window.
	ExcludedRate []float64
}

// snapper turns successive readings of the sums into Snapshots with rates
// over windows of at least MinRateWindow.
type snapper struct {
	mu   sync.Mutex
	base Snapshot // sums at the start of the current rate window
	last Snapshot
}

func (s *snapper) take(c *Core, now time.Time) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(c.cfg.Kinds)
	cur := Snapshot{Time: now, Window: s.last.Window, Kernel: c.Kernel(),
		Stats: make([]probes.SocketStats, n), Excluded: make([]time.Duration, n), ExcludedRate: make([]float64, n)}
	for i, k := range c.cfg.Kinds {
		st, ex := c.acc[k.Kind].load()
		if i < len(s.last.Stats) {
			prev := s.last.Stats[i]
			st.SpanRate, st.UnmeasuredRate, st.WaitRate, st.WaitFraction = prev.SpanRate, prev.UnmeasuredRate, prev.WaitRate, prev.WaitFraction
			st.RetransmitRate, st.ResetRate, st.BytesReadRate, st.BytesWrittenRate = prev.RetransmitRate, prev.ResetRate, prev.BytesReadRate, prev.BytesWrittenRate
			cur.ExcludedRate[i] = s.last.ExcludedRate[i]
		}
		cur.Stats[i], cur.Excluded[i] = st, ex
	}
	switch dt := now.Sub(s.base.Time); {
	case s.base.Time.IsZero():
		s.base = cur
	case dt >= MinRateWindow:
		sec := dt.Seconds()
		cur.Window = dt
		for i := range cur.Stats {
			st, b := &cur.Stats[i], s.base.Stats[i]
			st.SpanRate = float64(st.Spans-b.Spans) / sec
			st.UnmeasuredRate = float64(st.Unmeasured-b.Unmeasured) / sec
			wait := (st.ReadWait + st.WriteWait - b.ReadWait - b.WriteWait).Seconds()
			st.WaitRate = wait / sec
			st.WaitFraction = 0
			if total := wait + (st.Self - b.Self).Seconds(); total > 0 {
				st.WaitFraction = wait / total
			}
			st.RetransmitRate = float64(st.Retransmits-b.Retransmits) / sec
			st.ResetRate = float64(st.Resets-b.Resets) / sec
			st.BytesReadRate = float64(st.BytesRead-b.BytesRead) / sec
			st.BytesWrittenRate = float64(st.BytesWritten-b.BytesWritten) / sec
			cur.ExcludedRate[i] = (cur.Excluded[i] - s.base.Excluded[i]).Seconds() / sec
		}
		s.base = cur
	}
	s.last = cur
	return cur
}

// Snapshot returns what the probe measured so far: the zero Snapshot
// before Start, the last one after Shutdown.
func (c *Core) Snapshot() Snapshot {
	c.mu.Lock()
	live := c.started && !c.shutdown
	c.mu.Unlock()
	if !live {
		c.snap.mu.Lock()
		defer c.snap.mu.Unlock()
		return c.snap.last
	}
	return c.snap.take(c, time.Now())
}
