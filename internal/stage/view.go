package stage

import (
	"math"
	"slices"
)

// NumChildCauses: the causes [0, NumChildCauses) of a [Result.Breakdown]
// are its local trace's children's (client phases, pool wait, query
// time); the others are the root's own (kernel time, GC) and "self".
const NumChildCauses = cAccumulated

// NumBuckets is the number of buckets of a [Histogram].
const NumBuckets = nBuckets

// BucketBounds returns the lower and upper bound of bucket i of a
// [Histogram], seconds (the last bucket has no upper bound: +Inf).
func BucketBounds(i int) (lo, hi float64) {
	if i >= nBuckets-1 {
		return bucketLow(nBuckets - 1), posInf
	}
	return bucketLow(i), bucketLow(i + 1)
}

var posInf = math.Inf(1)

// Histogram is the latency distribution of one operation (local roots):
// over the judge's window and over its baseline, in the stage's log
// buckets (two per octave, [BucketBounds]).
type Histogram struct {
	Name             string
	Window, Baseline [NumBuckets]uint64
	Count, Errors    int64 // window
}

// Histograms returns the histograms of the operations seen in the window
// or the baseline, busiest (in the window) first, at most max of them. It
// reads the windows as of the latest Snapshot and is safe to call
// concurrently with span ends and Snapshot (for a status page).
func (st *Stage) Histograms(max int) []Histogram {
	st.snapMu.Lock()
	defer st.snapMu.Unlock()
	tick := st.snap.lastTick + 1
	var out []Histogram
	for _, s := range st.ops.subjects() {
		win, base := st.window(s, tick), st.baseline(s)
		if win.count == 0 && base.count == 0 {
			continue
		}
		h := Histogram{Name: s.name, Count: win.count, Errors: win.errors}
		for i := range nBuckets {
			h.Window[i] = uint64(win.sk[i])
			h.Baseline[i] = uint64(base.sk[i])
		}
		out = append(out, h)
	}
	slices.SortStableFunc(out, func(a, b Histogram) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		var na, nb uint64
		for i := range nBuckets {
			na += a.Baseline[i]
			nb += b.Baseline[i]
		}
		return int(int64(nb) - int64(na))
	})
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}
