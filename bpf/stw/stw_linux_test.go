//go:build linux && (amd64 || arm64)

package stw

import (
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/cilium/ebpf/features"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// gcPauses is the number of GC stop-the-world pauses the runtime itself
// has recorded (it times them from stopTheWorldWithSema to
// startTheWorldWithSema, like the probes).
func gcPauses() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// lowerBounds lists, for every pause recorded between two readings, the
// lower bound (ns) of its histogram bucket, ascending.
func lowerBounds(before, after *metrics.Float64Histogram) []int64 {
	var lb []int64
	for i, c := range after.Counts {
		for range c - before.Counts[i] {
			lb = append(lb, int64(max(after.Buckets[i], 0)*1e9))
		}
	}
	return lb
}

// TestWindowsFromRuntimeGC: every runtime.GC() shows both its pauses
// (sweep and mark termination) as windows inside the call, and the
// windows agree with the runtime's own count of GC pauses. Only what the
// mechanism guarantees is asserted: a background GC may be stopping the
// world when the test starts or ends (its window then starts before the
// first runtime.GC, and the runtime may or may not have recorded it when
// the histogram is read), so the counts may differ by the pauses that
// straddle either reading; and a background cycle may stop the world
// after the last runtime.GC returned, before the windows are drained.
func TestWindowsFromRuntimeGC(t *testing.T) {
	tr, err := Open(nil)
	testutil.RequirePrivilege(t, err)
	defer tr.Close()

	pausesBefore := gcPauses()
	before := MonotonicNow()
	const gcs = 3
	var inside [gcs][2]int64 // [start, end] of each runtime.GC call
	for i := range gcs {
		inside[i][0] = MonotonicNow()
		runtime.GC()
		inside[i][1] = MonotonicNow()
	}
	runtimeLB := lowerBounds(pausesBefore, gcPauses())
	pauses := len(runtimeLB)
	after := MonotonicNow()

	var got []Window
	if _, err := tr.Drain(func(w Window) { got = append(got, w) }); err != nil {
		t.Fatal(err)
	}
	var gc, gcEnded int
	var durs []int64
	for _, w := range got {
		if w.End < w.Start {
			t.Errorf("window %+v reversed", w)
		}
		if !w.Reason.IsGC() {
			continue
		}
		gc++
		durs = append(durs, w.Duration())
		// A background cycle (the test allocates, more so under -race) may
		// stop the world after the last reading: not counted.
		if w.End >= before && w.End <= after {
			gcEnded++
		}
	}
	// Each call runs a whole cycle of its own: two GC windows inside it.
	for i, c := range inside {
		n := 0
		for _, w := range got {
			if w.Reason.IsGC() && w.Start >= c[0] && w.End <= c[1] {
				n++
			}
		}
		if n < 2 {
			t.Errorf("runtime.GC() #%d: %d GC windows inside the call, want >= 2 (windows %+v)", i, n, got)
		}
	}
	// The runtime records a pause when the world restarts; one pause may
	// straddle each of the two readings (before/after are taken just after
	// the runtime's first reading and just after its second).
	if d := gcEnded - pauses; d < -2 || d > 2 {
		t.Errorf("%d GC windows ended after the first reading, the runtime recorded %d GC pauses", gcEnded, pauses)
	}
	slices.Sort(durs)
	t.Logf("GC pauses (ns, sorted): ours %v, runtime lower bounds %v", durs, runtimeLB)
	st := tr.Stats()
	if st.Windows < uint64(2*gcs) || st.Lost != 0 || st.Foreign != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, a := range tr.attached() {
		t.Logf("%s %s offsets %v emulated %v multi %v", a.Symbol, a.Placement, a.Offsets, a.Emulated, a.Multi)
	}
}

// TestOneLink checks that where the kernel has uprobe_multi links, both
// probes share one: Close then waits for one RCU grace period instead of
// several per probed instruction (~100 ms each, which made Close take
// ~200 ms).
func TestOneLink(t *testing.T) {
	if err := features.HaveBPFLinkUprobeMulti(); err != nil {
		testutil.RequirePrivilege(t, classify(err))
	}
	tr, err := Open(nil)
	testutil.RequirePrivilege(t, err)
	defer tr.Close()
	att := tr.attached()
	if len(att) != 2 {
		t.Fatalf("attached %+v, want 2 probes", att)
	}
	for _, a := range att {
		if !a.Multi {
			t.Errorf("%s (%s) is not on the shared uprobe_multi link", a.Symbol, a.Placement)
		}
	}
}
