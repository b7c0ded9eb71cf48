package tracertest

import (
	"context"
	"fmt"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/goruntime"
)

// A process has one flight recorder: the tests that ask for it share one
// runtime probe running it, started by the first and shut down by the
// last. Its goroutines carry the label semconv.LabelShared, not a test's,
// so no test's checks count them.
var flight struct {
	mu    sync.Mutex
	users int
	probe *goruntime.Probe
}

// acquireFlight returns the shared probe with the flight recorder running,
// or why it cannot run; release it with releaseFlight.
func acquireFlight() (*goruntime.Probe, error) {
	flight.mu.Lock()
	defer flight.mu.Unlock()
	if flight.users == 0 {
		p, err := goruntime.New(goruntime.WithoutMetrics(), goruntime.WithHotspots(0, 0), goruntime.WithBlocking(0, 0),
			goruntime.WithoutGCPauseAttribution(), goruntime.WithSampleInterval(time.Minute), goruntime.WithFlightRecorder(0, 0))
		if err != nil {
			return nil, err
		}
		// Started on a goroutine of its own so that the probe's goroutines
		// inherit the shared label, not the calling test's.
		errc := make(chan error, 1)
		go pprof.Do(context.Background(), pprof.Labels(semconv.LabelShared, "flight"), func(ctx context.Context) {
			errc <- p.Start(ctx)
		})
		if err := <-errc; err != nil {
			return nil, err
		}
		if st := p.Status(); st.State != probes.StateOn {
			_ = p.Shutdown(context.Background())
			return nil, fmt.Errorf("flight recorder: %s", st.Reason)
		}
		flight.probe = p
	}
	flight.users++
	return flight.probe, nil
}

func releaseFlight() {
	flight.mu.Lock()
	defer flight.mu.Unlock()
	flight.users--
	if flight.users == 0 && flight.probe != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = flight.probe.Shutdown(ctx)
		flight.probe = nil
	}
}
