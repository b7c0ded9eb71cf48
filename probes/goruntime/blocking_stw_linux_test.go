//go:build linux && (amd64 || arm64)

package goruntime

import (
	"testing"
	"time"

	"github.com/verdict-obs/verdict/bpf/stw"
	"github.com/verdict-obs/verdict/internal/testutil"
)

// stops runs f and returns the stop-the-world windows the uprobes saw
// meanwhile, by reason.
func stops(t *testing.T, tr *stw.Tracer, f func()) map[stw.Reason][]time.Duration {
	t.Helper()
	if _, err := tr.Drain(func(stw.Window) {}); err != nil {
		t.Fatal(err)
	}
	f()
	out := map[stw.Reason][]time.Duration{}
	if _, err := tr.Drain(func(w stw.Window) { out[w.Reason] = append(out[w.Reason], time.Duration(w.Duration())) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sum(ds []time.Duration) (s time.Duration) {
	for _, d := range ds {
		s += d
	}
	return s
}

// TestBlockingAnalysisStops (issue 11 point 5): measured with the
// stop-the-world uprobes, with 10,000 parked goroutines, the default
// analysis never stops the world for a goroutine dump ("all goroutines
// stack trace"); it stops it only for the concurrent profile's two short
// stops. WithGoroutineDump does take the dump (its pause is logged beside
// the profile's, same run).
func TestBlockingAnalysisStops(t *testing.T) {
	tr, err := stw.Open(nil)
	testutil.RequirePrivilege(t, err)
	defer tr.Close()

	ch := make(chan struct{})
	const parked = 10000
	done := make(chan struct{}, parked)
	for range parked {
		go func() { parkOnChannel(ch); done <- struct{}{} }()
	}
	defer func() {
		close(ch)
		for range parked {
			<-done
		}
	}()

	b := newBlockAnalyzer(3, DefaultStackDumpLimit, DefaultLeakWindow, DefaultLeakMinGrowth)
	var res Blocking
	waitParked(t, b, "parkOnChannel", parked)
	profile := stops(t, tr, func() { res, _ = b.round(time.Now()) })
	if res.Truncated || res.Counts[BlockChannel] < parked {
		t.Errorf("profile analysis: truncated %v, %d channel waits, want %d", res.Truncated, res.Counts[BlockChannel], parked)
	}
	if n := len(profile[stw.ReasonAllGoroutines]); n != 0 {
		t.Errorf("the default analysis stopped the world %d times for a goroutine dump (%v)", n, sum(profile[stw.ReasonAllGoroutines]))
	}
	prof := append(profile[stw.ReasonGoroutineProf], profile[stw.ReasonGoroutineProfCl]...)
	if len(prof) < 2 {
		t.Errorf("profile stops: %v, want the profile's two", profile)
	}

	d := newBlockAnalyzer(3, 64<<20, DefaultLeakWindow, DefaultLeakMinGrowth)
	d.useDump = true
	d.buf = make([]byte, 16<<20)
	dump := stops(t, tr, func() { d.round(time.Now()) })
	t.Logf("%d parked goroutines: profile stops %d times, %v in all (longest %v); the goroutine dump (WithGoroutineDump) stops %d times, %v",
		parked, len(prof), sum(prof), longest(prof), len(dump[stw.ReasonAllGoroutines]), sum(dump[stw.ReasonAllGoroutines]))
	if len(dump[stw.ReasonAllGoroutines]) != 1 {
		t.Errorf("WithGoroutineDump: %v, want one all-goroutines stop", dump)
	}
}

func longest(ds []time.Duration) (m time.Duration) {
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}
