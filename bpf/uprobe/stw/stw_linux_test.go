//go:build linux && (amd64 || arm64)

package stw

import (
	"errors"
	"os"
	"runtime"
	"testing"

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

func TestWindowsFromRuntimeGC(t *testing.T) {
	tr, err := Open(nil)
	requirePrivilege(t, err)
	defer tr.Close()

	before := MonotonicNow()
	const gcs = 3
	for range gcs {
		runtime.GC()
	}
	after := MonotonicNow()

	var got []Window
	if _, err := tr.Drain(func(w Window) { got = append(got, w) }); err != nil {
		t.Fatal(err)
	}
	var gc int
	for _, w := range got {
		if w.Start < before || w.End > after || w.End < w.Start {
			t.Errorf("window %+v outside [%d, %d] or reversed", w, before, after)
		}
		if w.Reason.IsGC() {
			gc++
		}
	}
	// Each GC cycle stops the world twice (sweep termination, mark termination).
	if gc < 2*gcs {
		t.Fatalf("got %d GC windows (%v), want >= %d", gc, got, 2*gcs)
	}
	st := tr.Stats()
	if st.Windows < uint64(2*gcs) || st.Lost != 0 || st.Foreign != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, a := range tr.Attached() {
		t.Logf("%s %s offsets %v emulated %v", a.Symbol, a.Placement, a.Offsets, a.Emulated)
	}
}
