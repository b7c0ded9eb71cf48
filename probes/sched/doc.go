// Package sched is verdict's named probe "sched": CPU contention, per span
// and for the process.
//
// Per span, the off-CPU and run-queue time of the span's goroutine come
// from the eBPF kernel-time probe (verdict.kernel.offcpu.duration,
// verdict.kernel.runqueue.duration, added by its span hook; package
// probes/kernel). Run-queue time there is the kernel's: the span's thread
// was runnable but had no CPU (more runnable threads than CPUs, or a
// throttled cgroup). A goroutine waiting in the Go scheduler's own run
// queue (more busy goroutines than GOMAXPROCS) is not on a thread, so the
// kernel does not see it: that wait is in the process view, as the
// runtime's /sched/latencies. Without eBPF the probe's span hook adds
// verdict.unmeasured ("kernel: eBPF off: ...") to every span, so that the
// missing fields are said, not silent.
//
// For the process ([Probe.Snapshot] and metrics named in internal/semconv):
//
//   - run-queue wait of the process's threads (the kernel's per-thread
//     schedstat run_delay, summed over /proc/self/task; no eBPF needed):
//     verdict.sched.runqueue.time, and in the Snapshot its rate, to compare
//     with GOMAXPROCS and the CPU limit;
//   - the Go scheduler's latency (/sched/latencies, median and 99th
//     percentile over the window): how long runnable goroutines waited
//     for a thread;
//   - the cgroup's CPU quota and throttling (cgroup v2 cpu.max and
//     cpu.stat nr_periods, nr_throttled, throttled_usec; v1
//     cpu.cfs_quota_us, cpu.cfs_period_us and cpu.stat where the v1 cpu
//     controller is mounted): verdict.sched.cpu.limit,
//     verdict.sched.cpu.periods, verdict.sched.cpu.throttled.periods,
//     verdict.sched.cpu.throttled.time;
//   - with eBPF, the run-queue time of spans per second (the kernel-time
//     probe's Snapshot).
//
// Reading the process view costs a few small file reads per Snapshot or
// collection (one per thread for schedstat), never a stop-the-world.
package sched
