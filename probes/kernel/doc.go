// Package kernel is the eBPF probe that gives every span its kernel-side
// time: system calls (count and time, by class), time blocked off-CPU inside
// system calls, run-queue wait and involuntary context switches of the
// goroutine that runs the span.
//
// The [Probe] is a [probes.Probe] (the tracer starts and stops it) whose
// SpanHook opts it into the tracer's span pipeline (the tracer then calls it
// for every sampled span). On
// SpanStart it publishes "this goroutine works for this span" into memory
// shared with the kernel programs (no system call); on SpanEnd it reads what
// the kernel attributed, withdraws the goroutine, and returns the span
// attributes verdict.kernel.syscall.count, verdict.kernel.syscall.duration,
// verdict.kernel.offcpu.duration and verdict.kernel.runqueue.duration
// (seconds), plus the file/network split and involuntary switches. The same
// durations feed histograms; kernel events that could not be attributed are
// counted in verdict.kernel.events.lost.
//
// Cost: while the probe runs, the kernel's raw system call tracepoints are
// enabled, and every system call of every process on the host goes through
// them (about 150 ns here, most of it the tracepoint machinery itself); the
// probe's own work adds about 100 ns per system call of a goroutine with an
// open span. [WithoutSyscallTracing] drops the system call attributes and
// that cost, keeping off-CPU and run-queue time.
//
// [Probe.Snapshot] sums the same counters over every span that ended, with
// their rates over the last window and the drops, for the judge and rules.
//
// What the kernel cannot see is not reported: a goroutine parked by the Go
// runtime (channel, mutex, time.Sleep, network wait in the netpoller) makes
// no system call and has no thread, so that time is nobody's off-CPU time.
//
// Start fails, leaving the process untouched, when eBPF cannot run here:
// the error wraps [bpf.ErrNotSupported] or [os.ErrPermission] and
// [Probe.Status] gives the reason ("missing CAP_BPF and CAP_PERFMON (or
// CAP_SYS_ADMIN), kernel.unprivileged_bpf_disabled=2"). Until Start
// succeeds, and after Shutdown, the hook methods do nothing.
package kernel
