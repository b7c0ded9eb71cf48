package semconv

// Names of the judge: verdicts, span causes and anomalies, and the tail-keep
// sampler's accounting.
const (
	// AttrCause is the component that dominated an anomalous or failed
	// span (one of the Cause* values); AttrCauseShare is its fraction of
	// the span's duration, 0..1.
	AttrCause      = "verdict.cause"
	AttrCauseShare = "verdict.cause.share"

	// AttrAnomaly is true on a span slower than its operation's baseline
	// allows; AttrAnomalyReason says which test it failed (Anomaly*).
	AttrAnomaly       = "verdict.anomaly"
	AttrAnomalyReason = "verdict.anomaly.reason"

	// MetricAnomalies counts anomalous spans by AttrAnomalyReason and
	// AttrCause.
	MetricAnomalies     = "verdict.anomalies"
	MetricAnomaliesUnit = "{span}"

	// MetricVerdicts counts verdict transitions by AttrVerdictRule and
	// AttrVerdictState; MetricVerdictsActive is the number of verdicts
	// active now, by AttrVerdictRule.
	MetricVerdicts       = "verdict.verdicts"
	MetricVerdictsActive = "verdict.verdicts.active"
	MetricVerdictsUnit   = "{verdict}"

	// Attributes of verdict metrics, log records and span events.
	AttrVerdictRule     = "verdict.rule"
	AttrVerdictState    = "verdict.state" // VerdictFiring or VerdictCleared
	AttrVerdictSubject  = "verdict.subject"
	AttrVerdictSummary  = "verdict.summary"
	AttrVerdictAction   = "verdict.action"
	AttrVerdictSeverity = "verdict.severity"

	VerdictFiring  = "firing"
	VerdictCleared = "cleared"

	// EventVerdict is the span event added to open spans a verdict
	// affects, when it fires and when it clears.
	EventVerdict = "verdict"

	// MetricTracesKept counts local traces the tail-keep sampler exported
	// although the head sampler had not sampled them, by AttrKeepReason.
	MetricTracesKept = "verdict.traces.kept"
	MetricTracesUnit = "{trace}"
	AttrKeepReason   = "verdict.keep.reason"
	KeepError        = "error"
	KeepAnomaly      = "anomaly"

	// DropTailBuffer is the AttrDropReason of spans the tail-keep buffer
	// had no room for (their trace could not be kept whole).
	DropTailBuffer = "tail_buffer_full"

	// Attributes verdict reads from spans besides the conventions' own.
	// AttrDBPoolWaitPrefix + "..." are pool statistics a DB span may carry.
	AttrDBPoolPrefix = "verdict.db.pool."
)

// Values of AttrAnomalyReason.
const (
	AnomalyLatency     = "latency"     // above 3× the operation's baseline P99
	AnomalyTrend       = "trend"       // above the baseline P99 while the operation's latency climbs
	AnomalyConcurrency = "concurrency" // above the baseline P99 during a surge of requests in flight
)

// Values of AttrCause: the components a span's time is split into.
const (
	CausePoolWait         = "db.pool_wait"
	CauseDBQuery          = "db.query"
	CauseServerWait       = "http.client.server_wait"
	CauseRequestWrite     = "http.client.request_write"
	CauseResponseRead     = "http.client.response_read"
	CauseRPCClient        = "rpc.client"
	CauseDNS              = "dns"
	CauseConnect          = "connect"
	CauseTLS              = "tls"
	CauseKernelSyscall    = "kernel.syscall"
	CauseKernelOffCPU     = "kernel.offcpu"
	CauseKernelRunqueue   = "kernel.runqueue"
	CauseGCSTW            = "gc.stw"
	CauseSelf             = "self" // the span's own code: nothing measured explains the time
	CauseDownstreamFailed = "downstream.error"
)
