package tracertest

import (
	"context"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// memExporter keeps the most recent ended spans of a test, up to max.
type memExporter struct {
	mu      sync.Mutex
	max     int
	spans   []sdktrace.ReadOnlySpan // a ring once full
	next    int
	dropped uint64
}

func newMemExporter(max int) *memExporter { return &memExporter{max: max} }

func (e *memExporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range spans {
		if len(e.spans) < e.max {
			e.spans = append(e.spans, s)
			continue
		}
		e.spans[e.next] = s
		e.next = (e.next + 1) % e.max
		e.dropped++
	}
	return nil
}

func (e *memExporter) Shutdown(context.Context) error { return nil }

// all returns the spans kept, oldest first.
func (e *memExporter) all() []sdktrace.ReadOnlySpan {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]sdktrace.ReadOnlySpan, 0, len(e.spans))
	out = append(out, e.spans[e.next:]...)
	return append(out, e.spans[:e.next]...)
}
