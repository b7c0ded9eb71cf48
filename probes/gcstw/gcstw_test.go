package gcstw

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/probes"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestNotStarted(t *testing.T) {
	p := New(nil, WithCapacity(-1), WithDrainInterval(0), WithMeterProvider(nil), WithLogger(nil))
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
	if tot, n := r.overlap(0, 100); tot != 0 || n != 0 {
		t.Fatalf("empty ring: %d %d", tot, n)
	}
	for i := int64(0); i < 6; i++ { // windows [10i, 10i+5]; 0 and 1 are evicted
		r.add(window{start: 10 * i, end: 10*i + 5})
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
		if tot, n := r.overlap(tc.start, tc.end); tot != tc.tot || n != tc.n {
			t.Errorf("overlap(%d,%d) = %d,%d; want %d,%d", tc.start, tc.end, tot, n, tc.tot, tc.n)
		}
	}
}
