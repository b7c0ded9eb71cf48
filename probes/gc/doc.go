// Package gc is verdict's named probe "gc": what the garbage collector did
// to each span, and to the process, with eBPF when it can and from the Go
// runtime's own figures when it cannot.
//
// Per span (the [Probe] is the span hook; package tracer registers it
// after the probe "ebpf"):
//
//   - verdict.gc.pause.duration and verdict.gc.pause.count: the
//     stop-the-world pauses that overlapped the span, only their part
//     inside it. With eBPF they are the exact windows of the stop-the-world
//     probe (package probes/gcstw, whose uprobes end each window where the
//     world restarts: see bpf/stw), every stop whatever its reason; without
//     it, the runtime's per-cycle GC figures (package probes/goruntime,
//     [goruntime.Probe.GCPauses]). This probe is their one source: the
//     stop-the-world probe and the runtime probe add no pause attribute of
//     their own under the tracer.
//   - verdict.gc.mark.duration (eBPF): the part of the span during which the
//     GC was marking, from the end of a sweep termination to the start of
//     the next mark termination (allocation then costs assists, and write
//     barriers are on).
//   - verdict.gc.assist.duration (eBPF): time the span's own goroutine spent
//     in GC assists (runtime.gcAssistAlloc, parked waits for credit
//     included), measured by the kernel-time probe's slot of the span's
//     goroutine (see bpf/gcassist) and added by its span hook. The probes
//     are attached while the runtime says assists take at least 1 % of the
//     process's CPU (kernel.WithGCAssistThreshold) and stand by otherwise:
//     each assist call then costs a single-stepped uprobe (~10 µs here),
//     more than most assists take.
//   - verdict.unmeasured: what of the above is missing and why, e.g.
//     "gc.mark,gc.assist: eBPF off: disabled by VERDICT_EBPF=off".
//
// For the process, as metrics: verdict.gc.pause.duration, one observation
// per pause with its reason (recorded by the stop-the-world probe with
// eBPF, by this probe from the runtime's /sched/pauses/total/gc histogram
// without), and verdict.gc.assist.time, the process's CPU time in assists
// (runtime/metrics /cpu/classes/gc/mark/assist:cpu-seconds). [Probe.Snapshot]
// holds the same for the judge.
//
// Which figure is right: checked against the execution trace (bpf/stw's
// TestWindowsMatchExecutionTrace), the uprobe windows start with the
// trace's stop-the-world ranges and end where the world restarts; the
// trace and the runtime's histogram end theirs after the threads that
// restart the world were woken, late by milliseconds on a busy machine
// (goroutines ran hundreds of times in between), and the runtime's figure
// for a mark termination is taken before the end of it. The uprobe
// windows are therefore what spans get when eBPF runs.
package gc
