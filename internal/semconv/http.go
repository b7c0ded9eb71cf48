package semconv

// HTTP and RPC names verdict adds to the OpenTelemetry semantic conventions
// (the standard ones come from go.opentelemetry.io/otel/semconv).
const (
	// AttrHTTPClientPhasePrefix + phase + ".duration" is the span attribute
	// for one client phase, e.g. "http.client.phase.dns.duration".
	AttrHTTPClientPhasePrefix     = "http.client.phase."
	MetricHTTPClientPhaseDuration = "verdict.http.client.phase.duration"
	AttrPhase                     = "phase"
)
