package gcstw

import (
	"sync"
	"sync/atomic"

	"github.com/verdict-obs/verdict/bpf/stw"
)

// window is a pause in CLOCK_MONOTONIC nanoseconds.
type window struct {
	start, end int64
	reason     stw.Reason
}

// ring keeps the last len(buf) windows in the order they ended. One writer
// (the drain, serialised by the tracer) and many readers.
type ring struct {
	mu     sync.RWMutex
	buf    []window
	n      uint64       // windows ever added
	newest atomic.Int64 // end of the newest window; lock-free fast path
	// marking is true while the newest GC window is a sweep termination:
	// a mark phase is under way, so a span that began after every window
	// may still overlap it.
	marking atomic.Bool
}

func newRing(capacity int) *ring {
	r := &ring{buf: make([]window, capacity)}
	r.newest.Store(-1 << 63)
	return r
}

func (r *ring) add(w window) {
	r.mu.Lock()
	r.buf[r.n%uint64(len(r.buf))] = w
	r.n++
	r.mu.Unlock()
	if w.end > r.newest.Load() {
		r.newest.Store(w.end)
	}
	switch w.reason {
	case stw.ReasonGCSweepTerm:
		r.marking.Store(true)
	case stw.ReasonGCMarkTerm:
		r.marking.Store(false)
	}
}

// span is what overlapped a span: the parts of the pauses inside it and of
// the GC mark phases (from the end of a sweep termination to the start of
// the next mark termination, or to the span's end while marking goes on).
type span struct {
	pauseTime, gcPauseTime int64
	pauses, gcPauses       int
	markTime               int64
	marks                  int
}

// overlap sums the parts of the windows, and of the mark phases between
// them, that fall inside [start, end].
func (r *ring) overlap(start, end int64) (s span) {
	if r.newest.Load() < start && !r.marking.Load() {
		return s // nothing ended after the span began, and no GC marks
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	size := uint64(len(r.buf))
	// markEnd is where the mark phase that precedes the next older sweep
	// termination ends: the newer mark termination's start or, while
	// marking goes on, the span's end. pending says that phase still
	// waits for its sweep termination.
	markEnd, pending := end, r.marking.Load()
	for i := uint64(0); i < size && i < r.n; i++ {
		w := r.buf[(r.n-1-i)%size]
		if w.end < start && !(pending && markEnd > start) {
			break // windows are ordered by end: all older ones end earlier
		}
		switch w.reason {
		case stw.ReasonGCMarkTerm:
			markEnd, pending = w.start, true
		case stw.ReasonGCSweepTerm:
			if pending {
				if lo, hi := max(w.end, start), min(markEnd, end); hi > lo {
					s.markTime += hi - lo
					s.marks++
				}
				pending = false
			}
		}
		lo, hi := max(w.start, start), min(w.end, end)
		if hi > lo {
			s.pauseTime += hi - lo
			s.pauses++
			if w.reason.IsGC() {
				s.gcPauseTime += hi - lo
				s.gcPauses++
			}
		}
	}
	return s
}
