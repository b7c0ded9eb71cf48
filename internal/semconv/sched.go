package semconv

// Scheduling names of package probes/sched: the process's view of CPU
// contention. Durations are in seconds. GOMAXPROCS is go.processor.limit
// (package probes/goruntime); per-span run-queue and off-CPU time are
// verdict.kernel.* (package probes/kernel).
const (
	// MetricSchedRunqueueTime (counter, s): time the process's threads
	// were runnable but waiting for a CPU (the kernel's per-thread
	// schedstat run_delay, summed over the live threads). Its rate is the
	// average number of the process's threads waiting for a CPU.
	MetricSchedRunqueueTime = "verdict.sched.runqueue.time"
	// MetricSchedCPULimit (gauge, {cpu}): the cgroup's CPU quota in CPUs
	// (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us);
	// absent when the cgroup has no quota.
	MetricSchedCPULimit = "verdict.sched.cpu.limit"
	// MetricSchedCPUPeriods and MetricSchedCPUThrottledPeriods (counters,
	// {period}): enforcement periods of the cgroup's quota that elapsed,
	// and those in which the cgroup was throttled (cpu.stat nr_periods,
	// nr_throttled).
	MetricSchedCPUPeriods          = "verdict.sched.cpu.periods"
	MetricSchedCPUThrottledPeriods = "verdict.sched.cpu.throttled.periods"
	// MetricSchedCPUThrottledTime (counter, s): time the cgroup's threads
	// were throttled (cpu.stat throttled_usec, v1 throttled_time).
	MetricSchedCPUThrottledTime = "verdict.sched.cpu.throttled.time"
)
