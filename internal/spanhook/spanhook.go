// Package spanhook is the contract between the tracer's span pipeline and the
// signal sources that enrich spans (runtime GC attribution, eBPF kernel time).
//
// The tracer calls every registered Hook for every sampled span in the
// process, whoever created it (verdict's middleware, manual spans, other
// instrumentation libraries). Hooks never see the SDK: they get the span's
// identity and times and return attributes.
package spanhook

import (
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Hook observes span starts and ends.
//
// Concurrency: both methods are called concurrently from many goroutines and
// must be safe for that. SpanStart runs synchronously on the goroutine that
// starts the span (so it may publish "this goroutine works for sc"); SpanEnd
// may run on a different goroutine than SpanStart did. Both are on the hot
// path of every request: they must not block, should not allocate, and must
// never panic.
type Hook interface {
	// SpanStart is called when a span starts, on the starting goroutine.
	SpanStart(sc trace.SpanContext, start time.Time)
	// SpanEnd is called when the span ends. It appends the attributes it
	// measured for the span to dst and returns the result. It is called for
	// every span SpanStart saw, exactly once.
	SpanEnd(sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue
}
