package semconv

// Exact GC stop-the-world windows observed by uprobes on the runtime's
// stop/start-the-world functions, attributed to overlapping spans.
const (
	AttrGCSTWDuration = "verdict.gc.stw.duration" // seconds inside the span
	AttrGCSTWCount    = "verdict.gc.stw.count"
)
