package gcstw

import (
	"sync"
	"time"

	"github.com/verdict-obs/verdict/bpf/stw"
)

// Snapshot is what the stop-the-world probe measured: every pause of the
// process since Start (a pause stops every goroutine, so it is the
// process's, not a span's), the pauses of the last rate window, and the most
// recent ones. It is what the judge and user-defined rules read.
//
// A Snapshot is a value: the probe never modifies one it has handed out
// (Recent is a fresh slice each time).
type Snapshot struct {
	// Time is when the snapshot was taken; zero before Start.
	Time time.Time
	// Window is the interval the Window* fields cover: from the previous
	// window's end to a Snapshot call at least MinRateWindow later.
	// Snapshot calls closer together return the previous window's values;
	// zero until the first window closed.
	Window time.Duration

	Pauses       uint64        // pauses since Start
	PauseTime    time.Duration // their total length
	LongestPause time.Duration // the longest of them

	WindowPauses       uint64        // pauses that ended in the window
	WindowPauseTime    time.Duration // their total length
	WindowLongestPause time.Duration // the longest of them
	// StoppedFraction is WindowPauseTime / Window: the share of the
	// window during which the world was stopped.
	StoppedFraction float64

	// Recent holds the last pauses, oldest first: at most RecentPauses.
	Recent []Pause

	// Lost counts pauses whose window was lost: dropped in the kernel (ring
	// buffer full) or seen without a beginning.
	Lost uint64
	// Foreign counts probe hits from other processes running the same
	// executable; it stays 0 (the PID filter keeps them out).
	Foreign uint64
}

// Pause is one stop-the-world pause.
type Pause struct {
	// Start is when the runtime began stopping the world, End when it had
	// started it again (read with the monotonic clock, shown as wall time).
	Start, End time.Time
	// Reason is why the runtime stopped the world ("GC mark termination",
	// "read mem stats", ...); GC says whether it belongs to a GC cycle.
	Reason string
	GC     bool
}

// Duration is the length of the pause.
func (p Pause) Duration() time.Duration { return p.End.Sub(p.Start) }

const (
	// RecentPauses is how many pauses Snapshot.Recent holds at most.
	RecentPauses = 32
	// MinRateWindow is the shortest interval the Window fields cover.
	MinRateWindow = time.Second
)

// pauseStats accumulates the windows as they are drained. One writer (the
// drain, serialised by the stw tracer) and the Snapshot readers.
type pauseStats struct {
	mu      sync.Mutex
	pauses  uint64
	total   int64 // ns
	longest int64

	baseTime   time.Time // start of the current window
	basePauses uint64
	baseTotal  int64
	winLongest int64 // longest pause since baseTime
	closed     Snapshot

	recent  [RecentPauses]stw.Window
	nRecent uint64
}

func (s *pauseStats) add(w stw.Window) {
	d := w.Duration()
	s.mu.Lock()
	s.pauses++
	s.total += d
	s.longest = max(s.longest, d)
	s.winLongest = max(s.winLongest, d)
	s.recent[s.nRecent%RecentPauses] = w
	s.nRecent++
	s.mu.Unlock()
}

// snapshot returns the Snapshot at now, closing the window when it is long
// enough. wall converts a monotonic reading to wall time.
func (s *pauseStats) snapshot(now time.Time, wall func(int64) time.Time, st stw.Stats) Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.closed
	cur.Time = now
	cur.Pauses = s.pauses
	cur.PauseTime = time.Duration(s.total)
	cur.LongestPause = time.Duration(s.longest)
	cur.Lost = st.Lost + st.Unmatched
	cur.Foreign = st.Foreign
	switch dt := now.Sub(s.baseTime); {
	case s.baseTime.IsZero():
		s.baseTime = now
	case dt >= MinRateWindow:
		cur.Window = dt
		cur.WindowPauses = s.pauses - s.basePauses
		cur.WindowPauseTime = time.Duration(s.total - s.baseTotal)
		cur.WindowLongestPause = time.Duration(s.winLongest)
		cur.StoppedFraction = cur.WindowPauseTime.Seconds() / dt.Seconds()
		s.baseTime, s.basePauses, s.baseTotal, s.winLongest = now, s.pauses, s.total, 0
	}
	s.closed = cur
	s.closed.Recent = nil
	n := min(s.nRecent, RecentPauses)
	cur.Recent = make([]Pause, 0, n)
	for i := s.nRecent - n; i < s.nRecent; i++ {
		w := s.recent[i%RecentPauses]
		cur.Recent = append(cur.Recent, Pause{Start: wall(w.Start), End: wall(w.End), Reason: w.Reason.String(), GC: w.Reason.IsGC()})
	}
	return cur
}

// Snapshot returns what the probe measured so far (see [Snapshot]); it
// first drains the pauses waiting in the kernel's ring buffer. Before Start
// it is the zero Snapshot; after Shutdown, the last one taken.
func (p *Probe) Snapshot() Snapshot {
	r := p.run.Load()
	if r == nil {
		p.lastMu.Lock()
		defer p.lastMu.Unlock()
		return p.last
	}
	return r.snapshot()
}

func (r *running) snapshot() Snapshot {
	if r.tr.Pending() {
		r.drain()
	}
	return r.stats.snapshot(time.Now(), r.wall, r.tr.Stats())
}

// wall converts a CLOCK_MONOTONIC reading to wall-clock time.
func (r *running) wall(mono int64) time.Time { return r.clock.Time(mono) }
