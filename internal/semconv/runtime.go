package semconv

// Go runtime span attributes and metrics. Where the OpenTelemetry Go runtime
// semantic conventions define a name it is used; the rest are verdict's.
const (
	// Span attributes: stop-the-world GC pauses that overlapped the span.
	AttrGCPauseDuration = "verdict.gc.pause.duration" // seconds
	AttrGCPauseCount    = "verdict.gc.pause.count"

	MetricGCPauseDuration = "verdict.go.gc.pause.duration" // histogram, s

	// OTel semantic conventions (go.* runtime metrics).
	MetricGoMemoryUsed        = "go.memory.used"
	MetricGoMemoryLimit       = "go.memory.limit"
	MetricGoMemoryAllocated   = "go.memory.allocated"
	MetricGoMemoryAllocations = "go.memory.allocations"
	MetricGoMemoryGCGoal      = "go.memory.gc.goal"
	MetricGoGoroutineCount    = "go.goroutine.count"
	MetricGoProcessorLimit    = "go.processor.limit"
	MetricGoConfigGogc        = "go.config.gogc"
	MetricGoScheduleDuration  = "go.schedule.duration"
)
