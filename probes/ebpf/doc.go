// Package ebpf is verdict's eBPF companion as one probe named "ebpf": the
// kernel-time probe (package [github.com/verdict-obs/verdict/probes/kernel]:
// system calls, off-CPU and run-queue time per span), the
// stop-the-world probe (package
// [github.com/verdict-obs/verdict/probes/gcstw]: the exact GC and runtime
// pauses that interrupted each span) and the socket tracer (package
// [github.com/verdict-obs/verdict/bpf/sock], the part named "sockets": the
// process's TCP connections seen from the kernel, which the probes nethttp,
// grpc, sql and tcp read through [Probe.Sockets]), loaded, shown and stopped
// together.
//
// [Probe.Start] starts both parts and fails only when neither can run; a
// part that cannot start leaves the probe [probes.StateDegraded]. The
// reasons in [Probe.Status] are the parts' own: when both parts are off for
// the same reason ("missing CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN),
// kernel.unprivileged_bpf_disabled=2"), that reason alone; otherwise each
// part's status ("kernel: off: ..."). Start's error reads as that reason and
// wraps the parts' errors, so errors.Is finds [os.ErrPermission] or
// [errors.ErrUnsupported].
//
// After Start, [Probe.Kernel], [Probe.STW] and [Probe.Sockets] hand out
// the running parts (for their Snapshot and, for the named probes gc,
// sched, nethttp, grpc, sql and tcp, their mechanism), and [Probe.SpanHook]
// the hook that calls the started parts for every span. The
// stop-the-world windows reach spans through package probes/gc, the one
// source of a span's GC figures.
//
// The tracer runs this probe by itself unless eBPF is off
// (tracer.WithEBPF, VERDICT_EBPF); build one with [New] to run it under
// another span pipeline.
package ebpf
