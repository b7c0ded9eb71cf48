package semconv

// Garbage collection and stop-the-world names, one family for the span
// attributes and the metrics, whatever measured them: package probes/gc
// gives a span its figures (exact windows from the eBPF stop-the-world
// probe, or without eBPF the runtime's own figures), and the pause
// histogram is recorded from the same source.
const (
	// AttrGCPauseDuration (seconds) and AttrGCPauseCount: the
	// stop-the-world pauses of the Go runtime that overlapped the span,
	// only their part inside it. With eBPF every stop counts (GC's and
	// others', such as a ReadMemStats: each pauses the request alike);
	// without it, the GC's only (the runtime keeps no times of the others).
	AttrGCPauseDuration = "verdict.gc.pause.duration"
	AttrGCPauseCount    = "verdict.gc.pause.count"
	// AttrGCMarkDuration (seconds): the part of the span during which the
	// GC was marking, between a sweep termination and the next mark
	// termination (write barriers on, assists possible). eBPF only.
	AttrGCMarkDuration = "verdict.gc.mark.duration"
	// AttrGCAssistDuration (seconds): time the span's own goroutine spent
	// in GC assists (runtime.gcAssistAlloc, parked waits for credit
	// included). eBPF only.
	AttrGCAssistDuration = "verdict.gc.assist.duration"

	// MetricGCPauseDuration is a histogram of stop-the-world pause
	// lengths, in seconds, one observation per pause, with the runtime's
	// reason in AttrGCPauseReason ("GC mark termination", "read mem
	// stats", ...).
	MetricGCPauseDuration = "verdict.gc.pause.duration"
	// AttrGCPauseReason is the runtime's reason for a pause (metric
	// attribute). Without eBPF the pauses are the GC's, with the reason
	// GCPauseReasonGC.
	AttrGCPauseReason = "verdict.gc.pause.reason"
	// GCPauseReasonGC is the reason of the GC pauses the runtime reports
	// without telling sweep and mark termination apart.
	GCPauseReasonGC = "GC"
	// MetricGCPauseLost counts pauses whose window was lost: dropped in
	// the kernel (ring buffer full) or seen without a beginning.
	MetricGCPauseLost = "verdict.gc.pause.lost"
	// MetricGCAssistTime (counter, seconds): CPU time the process's
	// goroutines spent in GC assists (the runtime's
	// /cpu/classes/gc/mark/assist:cpu-seconds).
	MetricGCAssistTime = "verdict.gc.assist.time"
)
