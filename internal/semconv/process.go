package semconv

// OpenTelemetry process semantic-convention metrics, produced for push
// readers (OTLP, console); the Prometheus endpoint has the process_*
// metrics of client_golang's process collector instead.
const (
	MetricProcessCPUTime             = "process.cpu.time"                   // counter, s
	MetricProcessMemoryUsage         = "process.memory.usage"               // updowncounter, By (resident)
	MetricProcessMemoryVirtual       = "process.memory.virtual"             // updowncounter, By
	MetricProcessFileDescriptorCount = "process.unix.file_descriptor.count" // updowncounter, {file_descriptor}
	MetricProcessUptime              = "process.uptime"                     // gauge, s
)
