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

	// The kernel-time histograms are recorded once per request: per entry
	// span (server or consumer, or a local root), with the time of the
	// spans it enclosed on its goroutine, split by AttrSpanName.
	MetricKernelSyscallDuration  = "verdict.kernel.syscall.duration"
	MetricKernelOffCPUDuration   = "verdict.kernel.offcpu.duration"
	MetricKernelRunqueueDuration = "verdict.kernel.runqueue.duration"
	MetricKernelEventsLost       = "verdict.kernel.events.lost"
)

// AttrSpanName is the metric attribute holding the name of the span a
// measurement belongs to (as the OpenTelemetry Collector's span metrics
// name it); span names are low-cardinality by convention, and verdict
// bounds them further (ValueOther past a limit).
const AttrSpanName = "span.name"
