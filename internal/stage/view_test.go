package stage

import (
	"testing"
	"time"
)

// A local root's breakdown holds its children's components: the pool
// wait and the query time of its database span.
func TestBreakdownOfLocalRoot(t *testing.T) {
	st, c := newTestStage(t)
	now := c.add(0)
	tid, _ := ids()
	st.Start(true)
	st.End(dbSpan(tid, now.Add(-time.Millisecond), 30*time.Millisecond, 20*time.Millisecond), nil)
	_, res := st.End(serverSpan(tid, now, 40*time.Millisecond), nil)
	bd := res.Breakdown
	if got, want := time.Duration(bd[cPoolWait]), 20*time.Millisecond; got != want {
		t.Errorf("pool wait %s, want %s", got, want)
	}
	if got, want := time.Duration(bd[cDBQuery]), 10*time.Millisecond; got != want {
		t.Errorf("query %s, want %s", got, want)
	}
	// A child is not a local root: it has no breakdown.
	if _, res := st.End(dbSpan(tid, now, time.Millisecond, 0), nil); res.Breakdown != [NumCauses]int64{} {
		t.Errorf("child with a breakdown: %v", res.Breakdown)
	}
}

// Histograms count the window's roots per operation in the sketch's
// buckets, and the bounds bracket the durations.
func TestHistograms(t *testing.T) {
	st, c := newTestStage(t)
	for i := range 10 {
		tid, _ := ids()
		st.Start(true)
		st.End(serverSpan(tid, c.add(100*time.Millisecond), time.Duration(1+i%2)*time.Millisecond), nil)
	}
	st.Snapshot(c.add(time.Second), &Readings{})
	hs := st.Histograms(8)
	if len(hs) != 1 || hs[0].Name != "GET /orders/{id}" || hs[0].Count != 10 {
		t.Fatalf("histograms %+v", hs)
	}
	var n uint64
	for i, v := range hs[0].Window {
		if v == 0 {
			continue
		}
		n += v
		lo, hi := BucketBounds(i)
		if lo > 0.002 || hi < 0.001 {
			t.Errorf("bucket %d [%g, %g) holds %d spans of 1-2 ms", i, lo, hi, v)
		}
	}
	if n != 10 {
		t.Errorf("window holds %d spans, want 10", n)
	}
	if lo, hi := BucketBounds(NumBuckets - 1); lo <= 0 || hi <= lo {
		t.Errorf("last bucket [%g, %g)", lo, hi)
	}
}
