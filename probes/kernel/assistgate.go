package kernel

import (
	"runtime/metrics"
	"sync"
	"time"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/gcassist"
)

// DefaultGCAssistThreshold is the share of the process's CPU (the runtime's
// /cpu/classes/gc/mark/assist over /cpu/classes/total) that GC assists must
// reach for the assist probes to be attached; see [WithGCAssistThreshold].
const DefaultGCAssistThreshold = 0.01

// Stand-by timing of the GC assist probes: how often the runtime's assist
// share is read, and how long it must stay under the threshold before
// attached probes are detached.
const (
	assistTick = time.Second
	assistHold = 10 * time.Second
)

// assistGate attaches the GC assist probes while assists take a share of
// the CPU worth measuring per span, and detaches them while they do not.
//
// Why: each runtime.gcAssistAlloc call pays two uprobe hits, the one on its
// return single-stepped (~10 µs here), and a service that allocates
// steadily calls it on many requests during every mark phase, mostly to
// take background credit without assisting at all. Measured on the soak
// harness's service (examples/soak, 6,000 req/s): the probes made the
// assists cost far more than the assists themselves (22 ms of assist in
// 20 s of load) and nearly doubled P99. The runtime counts assist time per
// process for free (updated at the end of each GC cycle), so it is read
// once a second; while assists are under the threshold, spans carry no
// verdict.gc.assist.duration and the process's assist time stays in the
// gc probe's metric and Snapshot.
type assistGate struct {
	threshold float64
	hold      time.Duration

	prevAssist, prevTotal float64
	lowSince              time.Time // zero while the share is at or above the threshold
}

// step takes the runtime's cumulative assist and total CPU seconds at now
// and says whether the probes should be attached, given whether they are.
func (g *assistGate) step(now time.Time, assist, total float64, attached bool) bool {
	da, dt := assist-g.prevAssist, total-g.prevTotal
	g.prevAssist, g.prevTotal = assist, total
	if dt > 0 && da/dt >= g.threshold {
		g.lowSince = time.Time{}
		return true
	}
	if g.lowSince.IsZero() {
		g.lowSince = now
	}
	return attached && now.Sub(g.lowSince) < g.hold
}

// assistState holds the attached probes and the gate's goroutine.
type assistState struct {
	mu       sync.Mutex
	probes   *gcassist.Probes // nil while detached
	attaches uint64           // how many times the probes were attached
	stop     chan struct{}    // nil when no gate runs
	done     chan struct{}
}

// attached reports whether the probes are attached now.
func (a *assistState) attached() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.probes != nil
}

// set attaches or detaches the probes on tm. A failed attach leaves them
// detached; the gate tries again at its next tick.
func (a *assistState) set(tm *bpf.Timing, on bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case on && a.probes == nil:
		ga, err := gcassist.Attach(tm)
		if err != nil {
			return err
		}
		a.probes = ga
		a.attaches++
	case !on && a.probes != nil:
		err := a.probes.Close()
		a.probes = nil
		return err
	}
	return nil
}

// run is the gate's loop: it reads the runtime's assist share every tick
// and attaches or detaches the probes on tm until stop is closed.
func (a *assistState) run(tm *bpf.Timing, g *assistGate, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	samples := []metrics.Sample{
		{Name: "/cpu/classes/gc/mark/assist:cpu-seconds"},
		{Name: "/cpu/classes/total:cpu-seconds"},
	}
	read := func() (float64, float64) {
		metrics.Read(samples)
		if samples[0].Value.Kind() != metrics.KindFloat64 || samples[1].Value.Kind() != metrics.KindFloat64 {
			return 0, 0
		}
		return samples[0].Value.Float64(), samples[1].Value.Float64()
	}
	g.prevAssist, g.prevTotal = read()
	t := time.NewTicker(assistTick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			assist, total := read()
			cur := a.attached()
			if want := g.step(now, assist, total, cur); want != cur {
				_ = a.set(tm, want) // a failed attach is retried at the next tick
			}
		}
	}
}

// startGate starts the gate's goroutine.
func (a *assistState) startGate(tm *bpf.Timing, g *assistGate) {
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	go a.run(tm, g, a.stop, a.done)
}

// close stops the gate and detaches the probes. Idempotent.
func (a *assistState) close() error {
	if a.stop != nil {
		close(a.stop)
		<-a.done
		a.stop = nil
	}
	return a.set(nil, false)
}
