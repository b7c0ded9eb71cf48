package semconv

// Names used by the tracer package: log correlation keys, drop reasons and
// signal names of the self-observability metric [MetricDropped].
const (
	// LogKeyTraceID and LogKeySpanID are the slog keys under which the
	// tracer's Logger writes the trace and span IDs of the span in the
	// record's context (lower-case hex, as in W3C traceparent).
	LogKeyTraceID = "trace_id"
	LogKeySpanID  = "span_id"

	// Values of AttrDropSignal.
	SignalTraces  = "traces"
	SignalMetrics = "metrics"
	SignalLogs    = "logs"

	// Values of AttrDropReason.
	//
	// DropQueueFull: the export queue was full (exporter slow or down).
	// DropExportFailed: the exporter returned an error for the batch.
	// DropShutdown: the item was still queued when Shutdown's deadline passed.
	// DropUnsupported: the endpoint answered that it does not accept the
	// signal (gRPC Unimplemented, HTTP 404), so it is no longer sent.
	DropQueueFull    = "queue_full"
	DropExportFailed = "export_failed"
	DropShutdown     = "shutdown"
	DropUnsupported  = "signal_unsupported"

	// MetricDroppedUnit is the UCUM unit of MetricDropped.
	MetricDroppedUnit = "{item}"
)
