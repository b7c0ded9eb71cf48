package semconv

// Go runtime span attributes and metrics. Where the OpenTelemetry Go runtime
// semantic conventions define a name it is used; the rest are verdict's.
const (
	// The GC pause span attributes and metric are in kernel_stw.go: one
	// family whatever measured them.

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

// Go runtime names verdict defines where the OpenTelemetry conventions have
// none, and the attribute keys and values used with them.
const (
	// AttrGoMemoryType is the OTel attribute of go.memory.used.
	AttrGoMemoryType     = "go.memory.type"
	GoMemoryTypeStack    = "stack"
	GoMemoryTypeOther    = "other"
	AttrBlockClass       = "verdict.go.block.class"
	MetricGCCycles       = "verdict.go.gc.cycles"                // counter, {gc_cycle}
	MetricGCCPUFraction  = "verdict.go.gc.cpu.fraction"          // gauge, 1
	MetricHeapLive       = "verdict.go.memory.heap.live"         // updowncounter, By
	MetricHeapGrowthRate = "verdict.go.memory.heap.growth_rate"  // gauge, By/s
	MetricAllocRate      = "verdict.go.memory.allocation_rate"   // gauge, By/s
	MetricMutexWait      = "verdict.go.sync.mutex.wait.duration" // counter, s
	MetricBlockedCount   = "verdict.go.goroutine.blocked"        // gauge, {goroutine}, by AttrBlockClass
	MetricLeakSuspects   = "verdict.go.goroutine.leak.suspects"  // gauge, {stack}
)
