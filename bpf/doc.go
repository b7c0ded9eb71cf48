// Package bpf is verdict's kernel mechanism: it loads and attaches the eBPF
// programs and uprobes that observe the process itself, owns their maps and
// readers, resolves the process's own functions through the Go line table,
// and runs the preflight checks that say whether any of it can work here.
//
// It knows nothing of OpenTelemetry; probes turn what it measures into span
// attributes and metrics. Every failure to run wraps [ErrNotSupported] or
// [os.ErrPermission]; [Reason] gives the human part of such an error.
//
// # The public part
//
// What is exported here and in packages [github.com/verdict-obs/verdict/bpf/stw]
// and [github.com/verdict-obs/verdict/bpf/sock] is what verdict's probes
// build on, and what a probe of your own would: the preflight ([Check]),
// kernel time per span ([Timing], used by probes/kernel), the
// stop-the-world tracer (bpf/stw, used by probes/gcstw) and the socket side
// of the process's TCP connections (bpf/sock, used by probes nethttp, grpc,
// sql and tcp), and the bridge between span times and the kernel's clock
// (bpf/monoclock). The machinery behind them, finding functions through the Go
// line table, placing uprobes on entry and RET instructions and reading the
// goroutine key, lives in bpf/internal/gosym, bpf/internal/uprobe and
// bpf/internal/goid; the tracer itself never imports bpf (it reaches eBPF
// through probes/ebpf).
//
// # Preflight
//
// [Check] runs once and caches: Linux on amd64/arm64, kernel BTF, the
// effective capabilities (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN, read
// with capget), kernel.unprivileged_bpf_disabled, the lockdown mode, and,
// when privileged, raw tracepoint, memory-mapped map and ring buffer support.
//
// # Kernel time per span
//
// [Timing] attributes kernel time to spans without a system call or a uprobe
// per span. The goroutine key is the address of the runtime's g: user space
// reads its own with a three-instruction assembly function, and the kernel
// programs find the same value in the registers of a system call (R14 on
// amd64, R28 on arm64) or in the thread's TLS (fsbase-8 on amd64).
// [Timing.Begin] writes the key into a slot of a BPF array map that is
// memory-mapped into the process (open addressing, eight candidate slots per
// key); programs on the BTF-enabled raw tracepoints (tp_btf) sys_enter,
// sys_exit, sched_switch and sched_wakeup, filtered to this process in the
// kernel, add system call
// counts and time by class, off-CPU time blocked inside system calls,
// run-queue wait and involuntary switches to the slot with atomic adds.
// [Timing.End] reads the counters from the mapping. Aggregation happens in
// the kernel, so no event crosses to user space and none can be lost in
// transit; a full table is a counted drop ([Timing.Stats]).
//
// Nested spans on one goroutine share its slot: the innermost open span owns
// the time and its parent resumes when it ends (deltas of the counters,
// kept per span in user space). LoadTiming calibrates before returning: a
// thread-locked goroutine makes 64 getppid calls, and the kernel must have
// attributed exactly those to its key, or Timing refuses to load.
//
// With [TimingOptions.NoSyscalls] only the scheduler programs are attached:
// no system call counts or times, and off-CPU time comes from the goroutine
// in TLS when the thread blocks (amd64).
//
// While no key is published the programs return after one load. Otherwise,
// per system call of this process they cost a register read, a few array
// lookups and a hash lookup (about 130 ns per event here, measured by
// BenchmarkKernelCostPerRequest from the kernel's BPF statistics); other
// processes pay a load and a compare per system call and context switch
// while the programs are attached. Per-thread state refers to a slot by
// index, key and a generation that user space bumps on each claim, so state
// left over from a skipped event never matches a slot claimed later.
//
// # Regenerating
//
// The C sources (sched.c, include/vmlinux.h trimmed by hand to the types
// used, CO-RE) are compiled by bpf2go, pinned as a go tool, for amd64 and
// arm64; the .go and .o outputs are committed. With clang 14, llvm and
// libbpf-dev installed, `go generate ./bpf/...` reproduces them byte for byte
// from any directory.
package bpf
