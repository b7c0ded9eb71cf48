package semconv

// Prefix is the namespace of every name verdict defines itself.
const Prefix = "verdict."

// Self-observability metrics.
const (
	// MetricDropped counts telemetry items (spans, log records, metric
	// points, kernel events) that were dropped instead of blocking the host.
	// Attribute AttrDropSignal says which kind; AttrDropReason why.
	MetricDropped  = "verdict.telemetry.dropped"
	AttrDropSignal = "verdict.signal"
	AttrDropReason = "verdict.reason"
)

// General attributes of the OpenTelemetry semantic conventions shared by
// several areas.
const (
	AttrServerAddress = "server.address"
	AttrServerPort    = "server.port"
	AttrErrorType     = "error.type"
)
