package judge

import "time"

// Snapshot is the fused view of the process's signals at one moment: what
// every rule reads, built-in or user-written. The tracer builds one about
// once a second from its span stage (every ended span's outcome, duration
// and attributes), the probes' snapshots (Go runtime, eBPF kernel time and
// stop-the-world windows), the database pools and its own pipeline.
//
// Values cover a short sliding window (Window, 5 s by default) and are
// compared with baselines from the longer history before it (see
// [Measure]). Sections whose source is not running have Available false
// (Kernel and STW without eBPF, CPU outside a cgroup with a quota); the
// span-derived shares in [Requests] are zero without the attributes that
// feed them.
//
// A Snapshot is a value: the judge never modifies one it handed to a rule,
// and rules must not modify it (its slices are shared).
type Snapshot struct {
	// Time is when the snapshot was built.
	Time time.Time
	// Window is the length of the window every Measure's Value covers.
	Window time.Duration
	// Interval is the time between evaluations: the step of the
	// per-evaluation histories (Runtime.GoroutineHistory, ...).
	Interval time.Duration
	// History is how far back the baselines reach (it grows from zero at
	// start to the configured baseline period).
	History time.Duration

	// Requests are the process's local root spans: incoming requests
	// (server spans), consumed messages and background roots.
	Requests Requests
	// Operations are the local roots per operation, most frequent first
	// (at most 64).
	Operations []Operation
	// Peers are the downstreams the process calls (HTTP and gRPC client
	// spans), by peer address, most frequent first (at most 64).
	Peers []Peer
	// Queries are the database client spans by query fingerprint, most
	// frequent first (at most 64).
	Queries []Query
	// Pools are the database connection pools, by pool.
	Pools []Pool

	Runtime  Runtime
	Kernel   Kernel
	STW      STW
	CPU      CPU
	Pipeline Pipeline
}

// Measure is a signal's value over the window beside its baseline.
type Measure struct {
	// Value is the signal over the window (a rate, a ratio, a quantile)
	// or its current level.
	Value float64
	// Baseline is the signal's typical value before the window: the
	// median of its per-evaluation values over the history for process-wide
	// signals, the same statistic over the baseline period's samples for
	// per-subject ones. While a subject misbehaves its baseline stops
	// absorbing the window, so an incident does not become the norm.
	Baseline float64
	// HasBaseline says the history was long enough, and held enough
	// samples, for Baseline to mean something.
	HasBaseline bool
}

// Exceeds reports whether Value is at least floor and, when a baseline is
// known, at least ratio times Baseline. Without a baseline it reports
// false unless allowNoBaseline.
func (m Measure) Exceeds(ratio, floor float64, allowNoBaseline bool) bool {
	if m.Value < floor {
		return false
	}
	if !m.HasBaseline {
		return allowNoBaseline
	}
	return m.Value >= ratio*m.Baseline
}

// Ratio returns Value / max(Baseline, floor): how many times the baseline
// the value is, with floor guarding against a zero baseline.
func (m Measure) Ratio(floor float64) float64 {
	b := max(m.Baseline, floor)
	if b <= 0 {
		return 0
	}
	return m.Value / b
}

// Requests summarises the local root spans that ended in the window.
type Requests struct {
	Count int     // local roots that ended in the window
	Rate  Measure // local roots per second
	// Errors counts roots with an error (status Error, error.type, or an
	// HTTP 5xx server response); ErrorRatio is Errors/Count.
	Errors     int
	ErrorRatio Measure
	// Timeouts counts roots whose error was a deadline (error.type
	// timeout, DEADLINE_EXCEEDED, 504, context deadline).
	Timeouts int
	P50, P99 Measure // duration, seconds
	// InFlight is the number of local roots open now; InFlightHistory
	// its per-evaluation values, oldest first, over up to three windows.
	InFlight        Measure
	InFlightHistory []float64
	Anomalies       int // roots marked verdict.anomaly

	// Shares of the roots' time spent in a component (the sum of the
	// component over the roots of the window divided by the sum of their
	// durations), from span attributes: GCPause from
	// verdict.gc.pause.duration (the exact stop-the-world windows with
	// eBPF, the runtime's per-cycle pauses without), Runqueue, OffCPU and Syscall from verdict.kernel.* (eBPF).
	GCPause  Measure
	Runqueue Measure
	OffCPU   Measure
	Syscall  Measure

	// Causes counts, by verdict.cause, the anomalous and failed roots of
	// the window, most frequent first.
	Causes []CauseCount
	// Exemplars are failed or anomalous roots, most recent first.
	Exemplars []Exemplar
}

// CauseCount is how many spans had one verdict.cause, and their mean share.
type CauseCount struct {
	Cause string
	Count int
	Share float64 // mean verdict.cause.share
}

// Operation is one operation of the local roots: an HTTP route ("GET
// /orders/{id}"), an RPC method, or the span name.
type Operation struct {
	Name       string
	Count      int
	Errors     int
	ErrorRatio Measure
	P50, P99   Measure // seconds
	Anomalies  int
	Exemplars  []Exemplar
}

// Peer is one downstream the process calls, seen from its client spans.
type Peer struct {
	// Address is "host:port" (server.address and server.port), the host
	// alone without a port; for gRPC calls without server.address, the
	// address from the dial error, else the RPC service.
	Address  string
	Protocol string // "http" or "grpc"
	Count    int
	Rate     Measure // calls per second
	Errors   int
	// ErrorRatio is Errors/Count.
	ErrorRatio Measure
	// Failures by class over the window (error.type of the client spans).
	Refused      int // connection_refused, or gRPC UNAVAILABLE with a refused dial
	Reset        int // connection_reset, unexpected_eof
	DNSFailures  int // dns_nxdomain, dns_timeout, dns_error
	TLSFailures  int // tls_certificate, tls_handshake_timeout
	Timeouts     int // connect_timeout, timeout, DEADLINE_EXCEEDED
	Unavailable  int // gRPC UNAVAILABLE (refused dials included)
	ServerErrors int // HTTP 5xx responses, gRPC INTERNAL/UNKNOWN/DATA_LOSS
	// TopErrorType is the most frequent error.type of the window.
	TopErrorType string
	P50, P99     Measure // client span duration, seconds
	// Mean duration of each client phase over the spans that had it
	// (http.client.phase.*.duration), seconds; Value 0 when none did.
	DNS, Connect, TLS, ServerWait Measure
	// ServerWaitShare is the share of the client spans' time spent
	// waiting for the server's first byte.
	ServerWaitShare Measure
	Exemplars       []Exemplar
	// Self says the address is one this process listens on (Linux; an IP
	// literal or "localhost"): the calls are served here, by this
	// process's own handlers — a gateway calling its own gRPC server over
	// loopback, say.
	Self bool
}

// Query is one query fingerprint (db.query.text) of the database client
// spans.
type Query struct {
	Fingerprint string
	Summary     string // db.query.summary of the latest span
	System      string // db.system.name
	Pool        string // the Pool.Name it ran on
	Count       int
	Errors      int
	// P50 and P99 are the execution time: the span's duration minus its
	// pool wait (db.client.connection.wait_time), seconds.
	P50, P99  Measure
	Exemplars []Exemplar
}

// Pool is one database connection pool: its spans' pool wait and, when
// the pool is instrumented, its own statistics.
type Pool struct {
	// Name is the pool's name (sqlxprobe.WithPoolName) or, without one,
	// "db.system.name server.address:port".
	Name   string
	System string
	Count  int // operations in the window
	// WaitShare is the pool wait of the operations divided by their
	// duration; WaitP99 the 99th percentile of the wait, seconds.
	WaitShare Measure
	WaitP99   Measure
	// Nested counts operations that took a second pooled connection while
	// their context held a transaction of the same pool (the
	// verdict.db.nested_connection event); NestedOperations names the
	// operations (local roots) they ran under.
	Nested           int
	NestedOperations []string
	NestedExemplars  []Exemplar
	Stats            PoolStats
	Exemplars        []Exemplar
}

// PoolStats are a pool's own statistics (database/sql DBStats over time).
type PoolStats struct {
	Available bool
	MaxOpen   int // 0 means unlimited
	Open      int
	InUse     int
	Idle      int
	// WaitRate is connection requests that had to wait, per second;
	// WaitTime the time they waited, seconds per second.
	WaitRate Measure
	WaitTime Measure
}

// Runtime is the Go runtime's state (package probes/goruntime).
type Runtime struct {
	Available bool
	// GCCPUFraction is the share of the process's CPU time spent in GC.
	GCCPUFraction Measure
	// GCPauseRate is stop-the-world GC pause time per second, s/s.
	GCPauseRate Measure
	// GCRate is GC cycles per second.
	GCRate      Measure
	HeapLive    uint64  // bytes marked live by the last GC
	HeapGoal    uint64  // heap target of the current cycle
	MemoryUsed  uint64  // heap, stacks and runtime memory the process holds
	MemoryLimit int64   // GOMEMLIMIT; math.MaxInt64 when unset
	GOGC        int64   // -1 when off
	AllocRate   Measure // bytes allocated per second
	// Goroutines is the number of live goroutines; GoroutineHistory its
	// per-evaluation values, oldest first, over up to three windows.
	Goroutines       Measure
	GoroutineHistory []float64
	// SchedLatencyP99 is the 99th percentile of the time goroutines
	// waited in the run queue, seconds.
	SchedLatencyP99 Measure
	// MutexWaitRate is time goroutines spent blocked on sync.Mutex and
	// RWMutex, seconds per second.
	MutexWaitRate Measure
	GOMAXPROCS    int
	// AllocSites are the top allocation sites of the latest hotspot
	// analysis, largest first (empty until one completed).
	AllocSites []AllocSite
	// Blocked are the largest groups of parked goroutines of the latest
	// blocking analysis (all classes, most goroutines first), with their
	// growth since the analysis before; LeakSuspects the groups the runtime
	// probe flags as leaking. BlockedAt is when the analysis ran.
	Blocked      []BlockedStack
	LeakSuspects []BlockedStack
	BlockedAt    time.Time
	// LeakSince is non-zero when the suspects come from a leak check
	// against a baseline taken then (goruntime's Probe.CheckLeaks, as a
	// test helper runs at a test's end): every suspect holds more
	// goroutines than at LeakSince, Growth saying how many more. Zero:
	// suspects grew over the runtime probe's leak window.
	LeakSince time.Time
}

// AllocSite is a function that allocates heap memory.
type AllocSite struct {
	Function       string
	File           string
	Line           int
	BytesPerSecond float64
}

// BlockedStack is a group of goroutines parked on the same stack.
type BlockedStack struct {
	Class      string // "network", "channel", "select", "sync", "sleep", ...
	WaitReason string // as the runtime prints it, e.g. "chan receive"
	Count      int
	Growth     int    // change since the previous analysis (leak suspects: over the leak window)
	Stack      string // functions, innermost first, one per line
}

// Kernel is the process's kernel-side time as eBPF measures it (package
// probes/kernel); Available is false without eBPF.
type Kernel struct {
	Available bool
	// Time per second of wall time, summed over the process's threads
	// while they ran goroutines: waiting in the CPU run queue, off CPU
	// (blocked in the kernel), in system calls. s/s.
	Runqueue Measure
	OffCPU   Measure
	Syscall  Measure
	// EventsLost counts kernel events lost since start.
	EventsLost uint64
}

// STW is the exact stop-the-world windows seen by uprobes on the runtime
// (package probes/gcstw); Available is false without eBPF.
type STW struct {
	Available bool
	Rate      Measure       // stop-the-world time per second, s/s
	Count     Measure       // pauses per second
	Longest   time.Duration // longest pause in the window
}

// CPU is the process's CPU time, its threads' run-queue wait, and its
// quota and throttling. Available says a cgroup quota is set (Linux cgroup
// v2 cpu.max and cpu.stat): Quota, Throttled and ThrottledTime need it.
type CPU struct {
	Available bool
	// RunqueueWait is the time the process's threads waited in the CPU
	// run queue, seconds per second (Linux /proc/self/task/*/schedstat:
	// user space, no privileges needed; zero elsewhere).
	RunqueueWait Measure
	Quota        float64 // cores the cgroup may use per period
	// Throttled is the share of scheduler periods in which the cgroup was
	// throttled; ThrottledTime the time it was, s/s.
	Throttled     Measure
	ThrottledTime Measure
	// Usage is the process's CPU time per second (user+system), cores.
	Usage Measure
}

// Pipeline is verdict's own telemetry pipeline.
type Pipeline struct {
	// Dropped is telemetry items dropped per second, all signals and
	// reasons together (verdict.telemetry.dropped).
	Dropped Measure
	// Drops breaks Dropped down by signal and reason, for the pairs that
	// dropped anything in the window.
	Drops []Drop
}

// Drop is the drop rate of one signal for one reason.
type Drop struct {
	Signal string // "traces", "metrics", "logs"
	Reason string // "queue_full", "export_failed", "shutdown", "tail_buffer_full"
	Rate   float64
	Total  uint64 // since start
}
