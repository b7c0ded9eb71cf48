package semconv

// Database names: the OpenTelemetry database semantic conventions (v1.33+
// stable db.* names) and the few verdict adds. Durations are in seconds.
const (
	// Span and metric attributes (OTel semantic conventions).
	AttrDBSystemName               = "db.system.name"
	AttrDBOperationName            = "db.operation.name"
	AttrDBCollectionName           = "db.collection.name"
	AttrDBQuerySummary             = "db.query.summary"
	AttrDBQueryText                = "db.query.text" // always a fingerprint, never literal values
	AttrDBResponseReturnedRows     = "db.response.returned_rows"
	AttrDBClientConnectionState    = "db.client.connection.state" // "idle" or "used"
	AttrDBClientConnectionPoolName = "db.client.connection.pool.name"

	// Verdict additions on spans.
	AttrDBConnectionWaitTime = "db.client.connection.wait_time" // seconds between the call and the connection being handed to it
	AttrDBTransactionDepth   = "db.transaction.depth"           // 1 inside a top-level transaction, 2 inside a nested one, …
	AttrDBRowsAffected       = "verdict.db.rows_affected"
	AttrDBCloseReason        = "verdict.db.close_reason" // max_idle, max_idle_time, max_lifetime

	// DBQuerySummaryOther is the db.query.summary value of the
	// db.client.operation.duration series that all summaries outside the
	// top N fold into. Metrics never carry db.query.text.
	DBQuerySummaryOther = "_OTHER"

	// EventDBNestedConnection is the span event recorded when a transaction
	// is begun, or a query is run on the pool, while the context already
	// carries an open transaction of the same pool: the operation takes a
	// second connection, which deadlocks once the pool is exhausted.
	EventDBNestedConnection = "verdict.db.nested_connection"
	// Attributes of EventDBNestedConnection.
	AttrDBTransactionParentDepth = "verdict.db.transaction.parent_depth"
	AttrDBPoolInUse              = "verdict.db.pool.in_use"
	AttrDBPoolMaxOpen            = "verdict.db.pool.max_open"

	// Metrics (OTel semantic conventions).
	MetricDBClientOperationDuration  = "db.client.operation.duration"   // histogram, s
	MetricDBClientConnectionWaitTime = "db.client.connection.wait_time" // histogram, s, per operation
	MetricDBClientConnectionCount    = "db.client.connection.count"     // updowncounter, by state
	MetricDBClientConnectionMax      = "db.client.connection.max"       // updowncounter

	// Metrics from sql.DBStats without an OTel equivalent, kept under the
	// db.client.connection.* namespace.
	MetricDBClientConnectionWaitCount    = "db.client.connection.wait_count"    // counter: requests that waited for a connection
	MetricDBClientConnectionWaitDuration = "db.client.connection.wait_duration" // counter, s: total time blocked waiting
	MetricDBClientConnectionClosed       = "db.client.connection.closed"        // counter, by verdict.db.close_reason

	// MetricDBNestedConnection counts EventDBNestedConnection occurrences.
	MetricDBNestedConnection = "verdict.db.client.nested_connection"
)
