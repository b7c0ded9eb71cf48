package semconv

// Exact GC stop-the-world windows observed by uprobes on the runtime's
// stop/start-the-world functions, attributed to overlapping spans.
const (
	AttrGCSTWDuration = "verdict.gc.stw.duration" // seconds inside the span
	AttrGCSTWCount    = "verdict.gc.stw.count"

	// MetricGCSTWDuration is a histogram of stop-the-world pause lengths,
	// in seconds, one observation per pause.
	MetricGCSTWDuration = "verdict.gc.stw.duration"
	// MetricGCSTWLost counts pauses whose window was lost: dropped in the
	// kernel (ring buffer full) or seen without a beginning.
	MetricGCSTWLost = "verdict.gc.stw.lost"
	// AttrGCSTWReason is the runtime's reason for a pause (metric
	// attribute), e.g. "GC mark termination", "read mem stats".
	AttrGCSTWReason = "verdict.gc.stw.reason"
)
