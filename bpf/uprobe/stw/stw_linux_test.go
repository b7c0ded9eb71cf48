//go:build linux && (amd64 || arm64)

package stw

import (
	"errors"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"testing"

	"github.com/cilium/ebpf/features"

	"github.com/verdict-obs/verdict/bpf"
)

// requirePrivilege skips when eBPF is really unavailable, except under CI.
func requirePrivilege(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, os.ErrPermission) || errors.Is(err, bpf.ErrNotSupported) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("privileged test cannot run under CI=true: %v", err)
		}
		t.Skipf("needs root/CAP_BPF+CAP_PERFMON and uprobe support: %v", err)
	}
	t.Fatal(err)
}

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

func TestWindowsFromRuntimeGC(t *testing.T) {
	tr, err := Open(nil)
	requirePrivilege(t, err)
	defer tr.Close()

	pausesBefore := gcPauses()
	before := MonotonicNow()
	const gcs = 3
	for range gcs {
		runtime.GC()
	}
	after := MonotonicNow()
	runtimeLB := lowerBounds(pausesBefore, gcPauses())
	pauses := uint64(len(runtimeLB))

	var got []Window
	if _, err := tr.Drain(func(w Window) { got = append(got, w) }); err != nil {
		t.Fatal(err)
	}
	var gc int
	var durs []int64
	for _, w := range got {
		if w.Start < before || w.End > after || w.End < w.Start {
			t.Errorf("window %+v outside [%d, %d] or reversed", w, before, after)
		}
		if w.Reason.IsGC() {
			gc++
			durs = append(durs, w.Duration())
		}
	}
	// The runtime's own count of GC pauses is the oracle.
	if uint64(gc) != pauses {
		t.Errorf("got %d GC windows, the runtime recorded %d GC pauses", gc, pauses)
	}
	// Our windows start earlier (before sched.lock) and end later (after
	// the wake-ups) than the runtime's timing, so sorted, each is at least
	// the lower bound of the matching runtime bucket.
	slices.Sort(durs)
	for i := range min(len(durs), len(runtimeLB)) {
		if durs[i] < runtimeLB[i] {
			t.Errorf("pause %d: ours %dns < runtime's bucket lower bound %dns", i, durs[i], runtimeLB[i])
		}
	}
	t.Logf("GC pauses (ns, sorted): ours %v, runtime lower bounds %v", durs, runtimeLB)
	// Each GC cycle stops the world twice (sweep termination, mark termination).
	if gc < 2*gcs {
		t.Fatalf("got %d GC windows (%v), want >= %d", gc, got, 2*gcs)
	}
	st := tr.Stats()
	if st.Windows < uint64(2*gcs) || st.Lost != 0 || st.Foreign != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, a := range tr.Attached() {
		t.Logf("%s %s offsets %v emulated %v multi %v", a.Symbol, a.Placement, a.Offsets, a.Emulated, a.Multi)
	}
}

// TestOneLink checks that where the kernel has uprobe_multi links, both
// probes share one: Close then waits for one RCU grace period instead of
// several per probed instruction (~100 ms each, which made Close take
// ~200 ms).
func TestOneLink(t *testing.T) {
	if err := features.HaveBPFLinkUprobeMulti(); err != nil {
		requirePrivilege(t, classify(err))
	}
	tr, err := Open(nil)
	requirePrivilege(t, err)
	defer tr.Close()
	att := tr.Attached()
	if len(att) != 2 {
		t.Fatalf("attached %+v, want 2 probes", att)
	}
	for _, a := range att {
		if !a.Multi {
			t.Errorf("%s (%s) is not on the shared uprobe_multi link", a.Symbol, a.Placement)
		}
	}
}
