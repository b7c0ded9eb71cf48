package stage

import (
	"math"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// gcFeed takes one evaluation a second; at each, share is the runtime's
// GC CPU share and cycle says whether a GC cycle ended in that second
// (the runtime's share moves only then).
type gcFeed struct {
	st *Stage
	c  *clock
	rt RuntimeReading
}

func newGCFeed(t *testing.T, share float64) *gcFeed {
	st, c := newTestStage(t)
	f := &gcFeed{st: st, c: c, rt: RuntimeReading{Available: true, GCCPUFraction: share, GCCycles: 3, RateWindow: time.Second, GOMAXPROCS: 2}}
	st.Snapshot(c.now(), &Readings{Runtime: f.rt})
	return f
}

func (f *gcFeed) step(cycle bool, share float64) judge.Measure {
	if cycle {
		f.rt.GCCycles++
		f.rt.GCCPUFraction = share
	}
	return f.st.Snapshot(f.c.add(time.Second), &Readings{Runtime: f.rt}).Runtime.GCCPUFraction
}

// The GC's CPU share is a figure per GC cycle that ended, over the time
// since the previous one (the runtime computes it only then): repeated
// every evaluation, the start-up's figure became the baseline a GC-pressure
// fault had to double (the demo's GC fault missed its verdict).
func TestGCCPUShareOverTime(t *testing.T) {
	// Start-up at 15 %, then a quiet service: a cycle every 5 s, 4 % of
	// the CPU over each interval. Then GC pressure: a cycle a second at
	// 22 %.
	f := newGCFeed(t, 0.153)
	var m judge.Measure
	for i := 1; i <= 20; i++ {
		m = f.step(i%5 == 0, 0.04)
	}
	if !m.HasBaseline || m.Baseline != 0.04 {
		t.Errorf("after 20 quiet seconds: %+v, want a baseline of 0.04 (the start-up's 0.153 is one second of it)", m)
	}
	for range 4 {
		m = f.step(true, 0.22)
	}
	if !m.Exceeds(2, 0.15, false) {
		t.Errorf("GC pressure: %+v, want over the floor 0.15 and twice the baseline", m)
	}
	// The pressure ends and the service goes quiet (no cycle for 5 s):
	// until a cycle says otherwise, the last figure holds (so that other
	// rules do not blame the CPU for the GC's work too early).
	for range 5 {
		m = f.step(false, 0)
	}
	if math.Abs(m.Value-0.22) > 1e-9 {
		t.Errorf("5 s after the last cycle: value %v, want the last figure 0.22", m.Value)
	}
	// The next cycle's figure, over those quiet seconds, replaces them.
	m = f.step(true, 0.03)
	if math.Abs(m.Value-0.03) > 1e-9 {
		t.Errorf("after a cycle at 3 %% ending 6 quiet seconds: value %v, want 0.03", m.Value)
	}
	// A start-up figure repeated through a long quiet start is replaced by
	// the first cycle's, over that time: the fault then doubles it.
	f = newGCFeed(t, 0.153)
	for range 20 {
		f.step(false, 0)
	}
	f.step(true, 0.02)
	for range 4 {
		m = f.step(true, 0.22)
	}
	if !m.HasBaseline || m.Baseline != 0.02 || !m.Exceeds(2, 0.15, false) {
		t.Errorf("after a quiet start: %+v, want a baseline of 0.02 and the fault over twice it", m)
	}
}
