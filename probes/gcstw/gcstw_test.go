package gcstw

import (
	"context"
	"github.com/verdict-obs/verdict/bpf/stw"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mustNew(tb testing.TB, opts ...Option) *Probe {
	tb.Helper()
	p, err := New(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestNotStarted(t *testing.T) {
	p := mustNew(t, nil, WithCapacity(-1), WithDrainInterval(0), WithMeterProvider(nil), WithLogger(nil))
	if st := p.Status(); st.State != probes.StateOff || st.Name != "gcstw" {
		t.Fatalf("status %v", st)
	}
	if got := p.SpanEnd(trace.SpanContext{}, time.Now().Add(-time.Hour), time.Now(), nil); got != nil {
		t.Fatalf("SpanEnd before Start: %v", got)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestRingOverlap(t *testing.T) {
	r := newRing(4)
	if s := r.overlap(0, 100); s != (span{}) {
		t.Fatalf("empty ring: %+v", s)
	}
	for i := int64(0); i < 6; i++ { // windows [10i, 10i+5]; 0 and 1 are evicted
		r.add(window{start: 10 * i, end: 10*i + 5, reason: stw.ReasonReadMemStats})
	}
	for _, tc := range []struct {
		start, end, tot int64
		n               int
	}{
		{0, 100, 20, 4}, // only the 4 retained: 20,30,40,50
		{22, 43, 3 + 5 + 3, 3},
		{46, 49, 0, 0},
		{56, 99, 0, 0},
		{53, 60, 2, 1},
	} {
		if s := r.overlap(tc.start, tc.end); s.pauseTime != tc.tot || s.pauses != tc.n || s.gcPauses != 0 || s.marks != 0 {
			t.Errorf("overlap(%d,%d) = %+v; want %d,%d", tc.start, tc.end, s, tc.tot, tc.n)
		}
	}
}

// TestRingMarkPhases: the mark phase runs from the end of a sweep
// termination to the start of the next mark termination, or on while no
// mark termination followed; a span gets the part inside it.
func TestRingMarkPhases(t *testing.T) {
	r := newRing(8)
	r.add(window{start: 100, end: 110, reason: stw.ReasonGCSweepTerm}) // mark 110..200
	r.add(window{start: 150, end: 152, reason: stw.ReasonReadMemStats})
	r.add(window{start: 200, end: 205, reason: stw.ReasonGCMarkTerm})
	r.add(window{start: 300, end: 310, reason: stw.ReasonGCSweepTerm}) // marking from 310 on
	for _, tc := range []struct {
		start, end      int64
		mark            int64
		marks, gcPauses int
	}{
		{0, 1000, 90 + 690, 2, 3},
		{120, 130, 10, 1, 0}, // inside the first mark phase, no window in it
		{180, 250, 20, 1, 1}, // its end and the mark termination
		{206, 299, 0, 0, 0},  // between cycles
		{400, 450, 50, 1, 0}, // marking goes on after every window
		{105, 111, 1, 1, 1},  // the sweep termination's tail, then marking
	} {
		s := r.overlap(tc.start, tc.end)
		if s.markTime != tc.mark || s.marks != tc.marks || s.gcPauses != tc.gcPauses {
			t.Errorf("overlap(%d,%d) = %+v; want mark %d in %d phases, %d GC pauses", tc.start, tc.end, s, tc.mark, tc.marks, tc.gcPauses)
		}
	}
}
