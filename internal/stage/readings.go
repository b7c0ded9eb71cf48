package stage

import (
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// Readings are what the tracer's probes report at one tick, as an adapter
// fills them: levels and cumulative counters; the stage turns counters
// into rates over its own ticks. A source that is not running leaves its
// Available false.
type Readings struct {
	Runtime RuntimeReading
	Kernel  KernelReading
	STW     STWReading
	CPU     CPUReading
	Pools   []PoolReading
	Drops   []DropReading
	// Incident: the judge has a verdict firing. The slots of the window
	// and those until the incident ends are held out of the subjects'
	// baselines (as slots with many anomalies are, at most a baseline
	// period in a row), so that an incident does not become the normal
	// the next one is judged against. The caller bounds how long one
	// verdict holds the baselines (the tracer: half a baseline period).
	Incident bool
}

// RuntimeReading comes from probes/goruntime's Snapshot (its rates are over
// its own sampling window, about one tick).
type RuntimeReading struct {
	Available     bool
	GCCPUFraction float64
	GCPauseTotal  time.Duration // pauses of the rate window
	RateWindow    time.Duration
	GCCycles      uint64 // cumulative
	AllocRate     float64
	SchedP99      time.Duration
	MutexWaitRate float64
	Goroutines    uint64
	HeapLive      uint64
	HeapGoal      uint64
	MemoryUsed    uint64
	MemoryLimit   int64
	GOGC          int64
	GOMAXPROCS    int
	AllocSites    []judge.AllocSite
	Blocked       []judge.BlockedStack // largest groups first; Growth filled by the stage
	BlockedAt     time.Time
	LeakSuspects  []judge.BlockedStack
	LeakSince     time.Time // baseline of a leak check; zero: the leak window
}

// KernelReading is the eBPF kernel-time probe's process totals.
type KernelReading struct {
	Available                 bool
	Runqueue, OffCPU, Syscall time.Duration // cumulative
	EventsLost                uint64
}

// STWReading is the stop-the-world probe's totals, of GC pauses only.
type STWReading struct {
	Available bool
	Total     time.Duration // cumulative
	Count     uint64        // cumulative
	Longest   time.Duration // longest pause since the previous reading
}

// CPUReading is the cgroup's CPU quota and throttling, and the process's
// CPU time.
type CPUReading struct {
	Available     bool // a quota is set
	Quota         float64
	Periods       uint64        // cumulative nr_periods
	Throttled     uint64        // cumulative nr_throttled
	ThrottledTime time.Duration // cumulative
	Usage         time.Duration // the process's CPU time, cumulative (0: unknown)
	// RunDelay is the run-queue wait of the process's threads alive now,
	// cumulative (0: unknown); it can fall when threads exit.
	RunDelay time.Duration
}

// PoolReading is one pool's own statistics (database/sql DBStats). Name
// is its pool name, System its db.system.name: spans find their pool by
// name (db.client.connection.pool.name, else sqlxprobe's default
// "system://host" or "system"), else as the only pool of their system.
type PoolReading struct {
	Name, System               string
	MaxOpen, Open, InUse, Idle int
	WaitCount                  uint64        // cumulative
	WaitDuration               time.Duration // cumulative
}

// DropReading is the cumulative drop count of one signal for one reason.
type DropReading struct {
	Signal, Reason string
	Total          uint64
}
