package gcstw

import (
	"sync"
	"sync/atomic"
)

// window is a pause in CLOCK_MONOTONIC nanoseconds.
type window struct{ start, end int64 }

// ring keeps the last len(buf) windows in the order they ended. One writer
// (the drain, serialised by the tracer) and many readers.
type ring struct {
	mu     sync.RWMutex
	buf    []window
	n      uint64       // windows ever added
	newest atomic.Int64 // end of the newest window; lock-free fast path
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
}

// overlap sums the parts of the windows that fall inside [start, end].
func (r *ring) overlap(start, end int64) (total int64, count int) {
	if r.newest.Load() < start {
		return 0, 0 // nothing ended after the span began
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	size := uint64(len(r.buf))
	for i := uint64(0); i < size && i < r.n; i++ {
		w := r.buf[(r.n-1-i)%size]
		if w.end < start {
			break // windows are ordered by end: all older ones end earlier
		}
		s, e := max(w.start, start), min(w.end, end)
		if e > s {
			total += e - s
			count++
		}
	}
	return total, count
}
