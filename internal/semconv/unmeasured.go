package semconv

// AttrUnmeasured is the one span attribute that says which of verdict's
// span fields are missing because they could not be measured, and why: a
// field that is absent without it was not applicable, and a zero always
// means zero.
//
// Its value is "<group>[,<group>]: <reason>", for example
// "kernel,socket,tcp: eBPF off: missing CAP_BPF and CAP_PERFMON", where a
// group names a family of fields (UnmeasuredKernel is verdict.kernel.*,
// UnmeasuredGC* the parts of verdict.gc.*). Each span hook appends its own
// attribute; the tracer's span pipeline joins them into one, the values
// separated by "; ".
const AttrUnmeasured = "verdict.unmeasured"

// Groups of fields in AttrUnmeasured values.
const (
	UnmeasuredKernel   = "kernel"    // verdict.kernel.*: system calls, off-CPU, run queue
	UnmeasuredGCPause  = "gc.pause"  // verdict.gc.pause.*: exact stop-the-world windows
	UnmeasuredGCAssist = "gc.assist" // verdict.gc.assist.duration of the span's goroutine
	UnmeasuredGCMark   = "gc.mark"   // verdict.gc.mark.duration: the mark phase in the span
)

// UnmeasuredSeparator joins the values of several AttrUnmeasured
// attributes into one.
const UnmeasuredSeparator = "; "
