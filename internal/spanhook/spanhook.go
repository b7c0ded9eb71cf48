// Package spanhook is the contract between the tracer's span pipeline and the
// signal sources that enrich spans (runtime GC attribution, eBPF kernel time).
//
// The tracer calls every registered Hook for every sampled span in the
// process, whoever created it (verdict's middleware, manual spans, other
// instrumentation libraries). Hooks never see the SDK: they get the span's
// identity and times and return attributes.
//
// A probe opts in explicitly by implementing [Provider]; a probe that merely
// has a Hook's methods is not called. Since the package is internal, only
// verdict's own probes can opt in.
package spanhook

import (
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
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

// Provider is implemented by a probe that enriches spans. The tracer calls
// SpanHook once, after the probe's Start succeeded, and registers the hook it
// returns for the tracer's lifetime; nil means the probe has nothing to add
// (for example, the parts that would have started did not).
type Provider interface {
	SpanHook() Hook
}

// Span is what a hook may read of an ending span besides its identity and
// times. The SDK's ReadOnlySpan has these methods; reading them does not
// allocate. Attributes returns the span's own attributes (not the hooks'),
// which the hook must not modify.
type Span interface {
	SpanKind() trace.SpanKind
	// Parent is invalid for a root span and remote for a span whose parent
	// is in another process: either way the span is a local root.
	Parent() trace.SpanContext
	Name() string
	Attributes() []attribute.KeyValue
}

// SpanEnder is implemented by a hook that needs more of the ending span
// than its identity and times (its kind, parent, name or attributes): the
// tracer then calls SpanEndOf instead of SpanEnd, with the same contract.
type SpanEnder interface {
	SpanEndOf(s Span, sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue
}

// End calls h's SpanEndOf when h is a [SpanEnder], its SpanEnd otherwise.
func End(h Hook, s Span, sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	if e, ok := h.(SpanEnder); ok {
		return e.SpanEndOf(s, sc, start, end, dst)
	}
	return h.SpanEnd(sc, start, end, dst)
}

// LocalRoot reports whether a span with this parent is the first span of
// its trace in this process.
func LocalRoot(parent trace.SpanContext) bool { return !parent.IsValid() || parent.IsRemote() }

// Entry reports whether s is where work enters the process: a server or
// consumer span, or a local root. Per-request figures (histograms of
// kernel time, for instance) are recorded for entry spans only, so that a
// request with a client, a server and a database span counts once.
func Entry(s Span) bool {
	switch s.SpanKind() {
	case trace.SpanKindServer, trace.SpanKindConsumer:
		return true
	}
	return LocalRoot(s.Parent())
}

// JoinUnmeasured merges the semconv.AttrUnmeasured attributes of attrs into
// the first of them, values separated by "; ", and returns attrs without
// the others. With fewer than two it returns attrs as they are. It
// allocates only for a set of reasons not among the last joinedSlots ones
// (spans of one process lack the same fields for the same few reasons, a
// few per kind of span, so the joined strings are reused).
func JoinUnmeasured(attrs []attribute.KeyValue) []attribute.KeyValue {
	first, n := -1, 0
	for i := range attrs {
		if attrs[i].Key == semconv.AttrUnmeasured {
			if first < 0 {
				first = i
			}
			n++
		}
	}
	if n < 2 {
		return attrs
	}
	joined := findJoined(attrs[first:])
	if joined == nil {
		j := &joinedValue{}
		var b strings.Builder
		for _, kv := range attrs[first:] {
			if kv.Key != semconv.AttrUnmeasured {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(semconv.UnmeasuredSeparator)
			}
			j.parts = append(j.parts, kv.Value.AsString())
			b.WriteString(kv.Value.AsString())
		}
		j.kv = attribute.String(semconv.AttrUnmeasured, b.String())
		joinedCache[joinedNext.Add(1)%joinedSlots].Store(j)
		joined = j
	}
	out := attrs[:first+1]
	for _, kv := range attrs[first+1:] {
		if kv.Key != semconv.AttrUnmeasured {
			out = append(out, kv)
		}
	}
	out[first] = joined.kv
	clear(attrs[len(out):])
	return out
}

// joinedValue is a joined verdict.unmeasured attribute and its parts.
type joinedValue struct {
	parts []string
	kv    attribute.KeyValue
}

// joinedSlots is how many joined values are kept: a few kinds of span
// (server, client, database, internal) with a reason set or two each.
const joinedSlots = 8

// joinedCache holds the last joinedSlots joined values, replaced round
// robin; readers scan it without a lock.
var (
	joinedCache [joinedSlots]atomic.Pointer[joinedValue]
	joinedNext  atomic.Uint32
)

// findJoined returns the cached joined value of attrs' reasons, or nil.
func findJoined(attrs []attribute.KeyValue) *joinedValue {
	for i := range joinedCache {
		if j := joinedCache[i].Load(); j != nil && j.matches(attrs) {
			return j
		}
	}
	return nil
}

// matches reports whether the AttrUnmeasured values of attrs are j's parts.
func (j *joinedValue) matches(attrs []attribute.KeyValue) bool {
	i := 0
	for _, kv := range attrs {
		if kv.Key != semconv.AttrUnmeasured {
			continue
		}
		if i >= len(j.parts) || kv.Value.AsString() != j.parts[i] {
			return false
		}
		i++
	}
	return i == len(j.parts)
}
