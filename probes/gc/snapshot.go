package gc

import "time"

// Snapshot is what the gc probe saw of the process's garbage collector:
// cumulative figures since Start (or since the process started, where the
// runtime counts that way) and the same over the last rate window. It is
// what the judge and user-defined rules read.
//
// A Snapshot is a value: the probe never modifies one it has handed out.
type Snapshot struct {
	// Time is when the snapshot was taken; zero before Start.
	Time time.Time
	// Window is the interval the Window* fields and fractions cover: from
	// the previous window's end to a reading at least MinRateWindow later;
	// zero until the first window closed.
	Window time.Duration

	// Exact says the pauses are the eBPF stop-the-world probe's windows
	// (every stop, whatever its reason); false: the runtime's GC pauses,
	// each recorded as the middle of its histogram bucket.
	Exact bool
	// Unmeasured is what spans lack and why, as in their
	// verdict.unmeasured attribute; empty when nothing is missing.
	Unmeasured string

	Cycles       uint64        // GC cycles completed since the process started
	Pauses       uint64        // stop-the-world pauses since Start
	PauseTime    time.Duration // their total length
	LongestPause time.Duration // the longest of them (without eBPF: its bucket's upper bound)

	WindowPauses    uint64        // pauses in the window
	WindowPauseTime time.Duration // their total length

	// AssistTime is the CPU time the process's goroutines spent in GC
	// assists since the process started; AssistFraction its share of the
	// process's CPU time over the window, GCCPUFraction the share of all
	// GC work (assists, background and idle marking, pauses).
	AssistTime     time.Duration
	AssistFraction float64
	GCCPUFraction  float64
}

// MinRateWindow is the shortest interval the Window fields cover.
const MinRateWindow = time.Second

// Snapshot returns what the probe measured so far: the zero Snapshot
// before Start, the last one after Shutdown. It reads runtime/metrics (no
// stop-the-world, no allocation beyond the returned value).
func (p *Probe) Snapshot() Snapshot {
	r := p.run.Load()
	if r == nil {
		p.lastMu.Lock()
		defer p.lastMu.Unlock()
		return p.last
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updateLocked(time.Now())
	return r.snap
}
