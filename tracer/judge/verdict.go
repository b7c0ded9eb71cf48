package judge

import (
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Verdict is a conclusion the judge drew: what is wrong (Summary), what to
// do about it (Action), and the signals that show it (Evidence).
//
// A verdict is one incident of one rule for one subject: it fires once when
// the rule's finding held for the onset debounce, stays active while the
// finding holds (its content follows the latest evaluation), and clears once
// the finding was absent for the clear debounce. A Verdict value handed out
// is never modified; its slices must not be modified by the receiver.
type Verdict struct {
	// Rule is the stable identifier of the rule that drew the verdict,
	// e.g. "gc.stw_delay".
	Rule string
	// Subject is what the verdict is about, in the rule's words: a peer
	// ("10.0.0.7:50051"), a query fingerprint, a pool, a route; empty for
	// the whole process.
	Subject string
	// Summary says in one sentence what is wrong, with numbers.
	Summary string
	// Action says what to do and, where the signals allow, where.
	Action   string
	Severity Severity
	// Evidence lists the signals the rule read, each with its value, its
	// baseline or threshold, and its source.
	Evidence []Evidence
	// Exemplars are spans that showed the problem (errors, anomalies), most
	// recent first. Their traces are kept whole by the tracer.
	Exemplars []Exemplar
	// Start is when the finding was first seen (the start of the onset
	// debounce); End is when it was first absent again, zero while the
	// verdict is active.
	Start time.Time
	End   time.Time
}

// Active reports whether the verdict has not cleared.
func (v Verdict) Active() bool { return v.End.IsZero() }

// String renders the verdict for a person: "[rule subject] summary action".
func (v Verdict) String() string {
	var b strings.Builder
	b.WriteString(v.Severity.String())
	b.WriteString(" ")
	b.WriteString(v.Rule)
	if v.Subject != "" {
		b.WriteString(" (")
		b.WriteString(v.Subject)
		b.WriteString(")")
	}
	if !v.Active() {
		b.WriteString(" cleared after ")
		b.WriteString(v.End.Sub(v.Start).Round(time.Second).String())
	}
	b.WriteString(": ")
	b.WriteString(v.Summary)
	if v.Action != "" {
		b.WriteString(" ")
		b.WriteString(v.Action)
	}
	return b.String()
}

// Severity ranks verdicts.
type Severity int

// Severities, least severe first.
const (
	// SeverityInfo: worth knowing, nothing fails yet (e.g. a nested
	// transaction that has not deadlocked).
	SeverityInfo Severity = iota
	// SeverityWarning: requests are slower or some fail.
	SeverityWarning
	// SeverityCritical: a large share of requests fail or the process is
	// about to (memory limit, pool exhausted).
	SeverityCritical
)

func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "Severity(" + strconv.Itoa(int(s)) + ")"
}

// Source says where a signal came from. Every source but [SourceEBPF] is
// user space.
type Source string

// Sources of evidence.
const (
	SourceEBPF     Source = "ebpf"     // eBPF programs in the kernel (probes/kernel, probes/gcstw)
	SourceRuntime  Source = "runtime"  // the Go runtime (runtime/metrics, profiles, probes/goruntime)
	SourceSpans    Source = "spans"    // attributes and outcomes of the process's spans
	SourcePool     Source = "pool"     // database/sql pool statistics
	SourcePipeline Source = "pipeline" // verdict's own telemetry pipeline
	SourceCgroup   Source = "cgroup"   // the process's cgroup (CPU quota and throttling)
	SourceProc     Source = "proc"     // the kernel's own accounting read from /proc (no privileges needed)
)

// Evidence is one signal behind a verdict.
type Evidence struct {
	// Signal names what was measured, e.g. "requests.error_ratio",
	// "peer.refused.rate", "gc.pause.share".
	Signal string
	// Value is the signal over the judge's window (or now, for levels).
	Value float64
	// Baseline is the signal's typical value before the window; zero when
	// no baseline applies or none was known yet.
	Baseline float64
	// Threshold is the value the rule compared against to fire.
	Threshold float64
	// Unit of Value, Baseline and Threshold: "1" (a ratio), "s", "/s",
	// "s/s" (seconds per second), "By", "By/s", "{goroutine}", ...
	Unit   string
	Source Source
	// Detail is optional text: a stack, a fingerprint, a file name.
	Detail string
}

// Exemplar identifies a span that showed the problem.
type Exemplar struct {
	TraceID trace.TraceID
	SpanID  trace.SpanID
}

// SpanContext returns the exemplar as a remote span context, e.g. to log
// with it (trace.ContextWithSpanContext).
func (e Exemplar) SpanContext() trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: e.TraceID, SpanID: e.SpanID, TraceFlags: trace.FlagsSampled, Remote: true})
}
