package sched

import "time"

// Snapshot is the process's view of CPU contention: the capacity it may
// use (GOMAXPROCS, CPUs, the cgroup's quota), how long its threads and
// goroutines waited for a CPU, and how often its cgroup was throttled,
// cumulative and over the last rate window. It is what the judge and
// user-defined rules read.
//
// A Snapshot is a value: the probe never modifies one it has handed out.
type Snapshot struct {
	// Time is when the snapshot was taken; zero before Start.
	Time time.Time
	// Window is the interval the rates and window quantiles cover; zero
	// until the first window (at least MinRateWindow) closed.
	Window time.Duration

	GOMAXPROCS int // runtime.GOMAXPROCS(0) at Time
	CPUs       int // runtime.NumCPU()

	// CgroupVersion is the cgroup version whose CPU controller was found
	// (1 or 2), 0 when none: the Cgroup fields below are then zero.
	CgroupVersion int
	// CPULimit is the cgroup's CPU quota in CPUs; 0 without a quota.
	CPULimit float64
	// Periods, Throttled and ThrottledTime are the cgroup's cumulative
	// quota periods, throttled periods and throttled time; ThrottledRatio
	// is throttled / elapsed periods over the window.
	Periods        uint64
	Throttled      uint64
	ThrottledTime  time.Duration
	ThrottledRatio float64

	// RunQueueTime is how long the process's live threads were runnable
	// but waiting for a CPU (schedstat run_delay), cumulative;
	// RunQueueRate the same per second over the window: the average
	// number of threads waiting for a CPU (compare with CPULimit and
	// GOMAXPROCS).
	RunQueueTime time.Duration
	RunQueueRate float64

	// SchedLatencyP50 and P99: how long runnable goroutines waited for a
	// thread over the window (the runtime's /sched/latencies; the upper
	// bound of the bucket). This is where more busy goroutines than
	// GOMAXPROCS shows.
	SchedLatencyP50, SchedLatencyP99 time.Duration

	// EBPF says spans get their off-CPU and run-queue time from the
	// kernel-time probe; SpanRunQueueRate is then the run-queue time of
	// spans per second (its Snapshot's RunQueueRate).
	EBPF             bool
	SpanRunQueueRate float64
	// Unmeasured is what spans lack and why, as in their
	// verdict.unmeasured attribute; empty with eBPF.
	Unmeasured string
}

// MinRateWindow is the shortest interval the rates cover.
const MinRateWindow = time.Second

// Snapshot returns the current view: the zero Snapshot before Start, the
// last one after Shutdown. It reads a few files (one per thread for
// schedstat) and runtime/metrics; never a stop-the-world.
func (p *Probe) Snapshot() Snapshot {
	r := p.run.Load()
	if r == nil {
		p.lastMu.Lock()
		defer p.lastMu.Unlock()
		return p.last
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.readLocked(time.Now())
	if cur.time.Sub(r.base.time) >= MinRateWindow {
		r.win = r.windowOf(cur)
		r.base = cur
	}
	r.last = cur
	r.snap = r.snapshotOf(cur)
	return r.snap
}
