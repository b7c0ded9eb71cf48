package semconv

// Kernel-side span attributes and metrics (eBPF companion). Durations are in
// seconds (float64), counts are int64.
const (
	AttrKernelSyscallCount     = "verdict.kernel.syscall.count"
	AttrKernelSyscallDuration  = "verdict.kernel.syscall.duration"
	AttrKernelOffCPUDuration   = "verdict.kernel.offcpu.duration"
	AttrKernelRunqueueDuration = "verdict.kernel.runqueue.duration"

	// AttrKernelSyscallFileDuration and AttrKernelSyscallNetworkDuration
	// split AttrKernelSyscallDuration by class: file I/O calls (read, write,
	// openat, fsync, ...; read/write on sockets count here, the class is
	// decided by syscall number) and socket calls (connect, accept4,
	// sendto, recvmsg, ...).
	AttrKernelSyscallFileDuration    = "verdict.kernel.syscall.file.duration"
	AttrKernelSyscallNetworkDuration = "verdict.kernel.syscall.network.duration"
	// AttrKernelInvoluntarySwitches counts preemptions of the thread while
	// it ran the span's goroutine.
	AttrKernelInvoluntarySwitches = "verdict.kernel.context_switches.involuntary"

	MetricKernelSyscallDuration  = "verdict.kernel.syscall.duration"
	MetricKernelOffCPUDuration   = "verdict.kernel.offcpu.duration"
	MetricKernelRunqueueDuration = "verdict.kernel.runqueue.duration"
	MetricKernelEventsLost       = "verdict.kernel.events.lost"
)
