package harness

import (
	"math"
	"sync/atomic"
	"time"
)

// Latencies are kept in a log-linear histogram: bucket i > 0 holds
// (g^(i-1), g^i] µs with g = 1.02, so a percentile is within 2 %.
const (
	histBuckets = 1200
	histGrowth  = 1.02
)

var logGrowth = math.Log(histGrowth)

// hist is a concurrent latency histogram.
type hist struct {
	n      [histBuckets]atomic.Uint64
	count  atomic.Uint64
	errors atomic.Uint64
	max    atomic.Int64
}

func bucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	i := int(math.Ceil(math.Log(us) / logGrowth))
	return min(i, histBuckets-1)
}

func (h *hist) add(d time.Duration, ok bool) {
	if !ok {
		h.errors.Add(1)
		return
	}
	h.n[bucket(d)].Add(1)
	h.count.Add(1)
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// merge adds o's counts to h (o must be quiescent).
func (h *hist) merge(o *hist) {
	for i := range o.n {
		if c := o.n[i].Load(); c > 0 {
			h.n[i].Add(c)
		}
	}
	h.count.Add(o.count.Load())
	h.errors.Add(o.errors.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// quantile returns the upper bound of the bucket holding the q-quantile
// (0 when empty).
func (h *hist) quantile(q float64) time.Duration {
	total := h.count.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.n {
		seen += h.n[i].Load()
		if seen >= rank {
			d := time.Duration(math.Pow(histGrowth, float64(i)) * float64(time.Microsecond))
			if m := time.Duration(h.max.Load()); d > m {
				d = m
			}
			return d
		}
	}
	return time.Duration(h.max.Load())
}
