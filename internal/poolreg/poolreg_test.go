package poolreg

import (
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type counter struct{ n atomic.Int64 }

func (c *counter) Sample(time.Time) { c.n.Add(1) }

// The sampler runs while a source is registered, samples each about once
// per Interval, and stops (goleak checks) when the last one leaves.
func TestRegisterSampleUnregister(t *testing.T) {
	a, b := &counter{}, &counter{}
	ua := Register(a)
	ub := Register(b)
	if got := All(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("All = %v", got)
	}
	deadline := time.Now().Add(10 * Interval)
	for a.n.Load() == 0 || b.n.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not sampled within 10 intervals")
		}
		time.Sleep(Interval / 10)
	}
	ua()
	ua() // idempotent
	if got := All(); len(got) != 1 || got[0] != b {
		t.Fatalf("after unregistering a: %v", got)
	}
	ub()
	if got := All(); len(got) != 0 {
		t.Fatalf("after unregistering both: %v", got)
	}
	// Registering again starts a new sampler.
	c := &counter{}
	uc := Register(c)
	uc()
}
