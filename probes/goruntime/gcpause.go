package goruntime

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// pauseRingSize is the number of GC cycles the runtime keeps pause
// durations and end times for (len(runtime.MemStats.PauseNs)).
const pauseRingSize = 256

// checkQuantum is the longest a span end trusts the pause cache without
// asking the runtime whether a GC cycle finished since: at most one
// goroutine in the process reads the GC count per quantum, so span ends
// do not contend on the runtime's metrics lock. A GC cycle that ends within
// the last quantum of a span may be missed by that span.
const checkQuantum = 100 * time.Microsecond

// gcPauses caches the runtime's recent GC pauses (one entry per GC cycle:
// its total stop-the-world time and the end of its last pause) so that span
// ends can find the pauses that overlapped them without locks or
// allocations. Writers hold mu and publish through a sequence lock; readers
// retry when a write overlapped their read.
type gcPauses struct {
	mu        sync.Mutex    // serialises refresh and drain
	stats     debug.GCStats // reused buffers
	count     []metrics.Sample
	drainedGC int64 // GC count up to which pauses were recorded as metrics

	// The ring holds GC cycle k (0-based) at slot k % pauseRingSize; the
	// cycles numGC-1 down to numGC-min(numGC, pauseRingSize) are valid.
	seq   atomic.Uint64               // odd while a refresh writes the ring
	numGC atomic.Int64                // GC count the ring reflects
	ends  [pauseRingSize]atomic.Int64 // unix ns
	durs  [pauseRingSize]atomic.Int64 // ns

	lastCheck atomic.Int64 // unix ns of the last GC-count check
}

func newGCPauses() *gcPauses {
	g := &gcPauses{
		count: []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}},
	}
	g.stats.Pause = make([]time.Duration, 0, 2*pauseRingSize+3)
	g.stats.PauseEnd = make([]time.Time, 0, pauseRingSize)
	g.mu.Lock()
	g.refreshLocked()
	g.drainedGC = g.numGC.Load()
	g.mu.Unlock()
	return g
}

// refreshLocked copies the cycles the runtime finished since the last
// refresh into the ring. g.mu held.
func (g *gcPauses) refreshLocked() {
	debug.ReadGCStats(&g.stats)
	num := g.stats.NumGC
	n := int64(min(len(g.stats.Pause), len(g.stats.PauseEnd), pauseRingSize))
	fresh := min(num-g.numGC.Load(), n)
	if fresh <= 0 {
		return
	}
	g.seq.Add(1)
	for i := range fresh { // stats are most recent first
		slot := (num - 1 - i) % pauseRingSize
		g.ends[slot].Store(g.stats.PauseEnd[i].UnixNano())
		g.durs[slot].Store(int64(g.stats.Pause[i]))
	}
	g.numGC.Store(num)
	g.seq.Add(1)
}

// maybeCheck makes sure GC cycles that ended before now are in the ring,
// asking the runtime at most once per checkQuantum process-wide.
func (g *gcPauses) maybeCheck(now int64) {
	last := g.lastCheck.Load()
	if now-last < int64(checkQuantum) || !g.lastCheck.CompareAndSwap(last, now) {
		return
	}
	if !g.mu.TryLock() {
		return // a refresh is under way
	}
	metrics.Read(g.count)
	if int64(g.count[0].Value.Uint64()) != g.numGC.Load() {
		g.refreshLocked()
	}
	g.mu.Unlock()
}

// overlap returns how many cached GC cycles' pauses overlap [start, end]
// (unix ns) and the pause time inside it. The runtime keeps one total and
// one end time per cycle, so a cycle's pause is taken as the interval of
// that length ending at its end time and clipped to the span.
func (g *gcPauses) overlap(start, end int64) (count int, total int64) {
	for i := range 64 {
		s1 := g.seq.Load()
		if s1&1 != 0 {
			// A refresh (under a microsecond, once per GC cycle) is
			// writing; let it finish.
			if i >= 4 {
				runtime.Gosched()
			}
			continue
		}
		count, total = 0, 0
		num := g.numGC.Load()
		for k := num - 1; k >= max(0, num-pauseRingSize); k-- {
			e := g.ends[k%pauseRingSize].Load()
			if e < start {
				break // most recent first
			}
			d := g.durs[k%pauseRingSize].Load()
			b := e - d
			if b > end {
				continue
			}
			lo, hi := max(b, start), min(e, end)
			count++
			if hi > lo {
				total += hi - lo
			}
		}
		if g.seq.Load() == s1 {
			return count, total
		}
	}
	return 0, 0 // not reached unless the writer was descheduled mid-refresh
}
