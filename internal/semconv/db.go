package semconv

// Database names verdict adds to the OpenTelemetry semantic conventions.
const (
	AttrDBConnectionWaitTime = "db.client.connection.wait_time" // seconds
	AttrDBTransactionDepth   = "db.transaction.depth"
)
