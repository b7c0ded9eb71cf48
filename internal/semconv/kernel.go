package semconv

// Kernel-side span attributes and metrics (eBPF companion). Durations are in
// seconds (float64), counts are int64.
const (
	AttrKernelSyscallCount     = "verdict.kernel.syscall.count"
	AttrKernelSyscallDuration  = "verdict.kernel.syscall.duration"
	AttrKernelOffCPUDuration   = "verdict.kernel.offcpu.duration"
	AttrKernelRunqueueDuration = "verdict.kernel.runqueue.duration"

	MetricKernelSyscallDuration  = "verdict.kernel.syscall.duration"
	MetricKernelOffCPUDuration   = "verdict.kernel.offcpu.duration"
	MetricKernelRunqueueDuration = "verdict.kernel.runqueue.duration"
	MetricKernelEventsLost       = "verdict.kernel.events.lost"
)
