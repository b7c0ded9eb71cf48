package tracer

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// traceHandler adds trace_id and span_id to records whose context carries a
// valid span context, at the top level of the record even when the logger
// has open groups.
type traceHandler struct {
	next slog.Handler // all attrs and groups applied
	// When a group is open, base is the handler before the first group and
	// ops replays the attrs and groups added since, so the IDs can be
	// inserted above the groups.
	base slog.Handler
	ops  []handlerOp
}

type handlerOp struct {
	group string
	attrs []slog.Attr
}

func newTraceHandler(next slog.Handler) *traceHandler { return &traceHandler{next: next} }

func (h *traceHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *traceHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || hasTraceID(r) {
		// Instrumentation that logs the IDs itself (sqlxprobe's slow-query
		// record, for one) keeps its own; they are not repeated.
		return h.next.Handle(ctx, r)
	}
	ids := [2]slog.Attr{
		slog.String(semconv.LogKeyTraceID, sc.TraceID().String()),
		slog.String(semconv.LogKeySpanID, sc.SpanID().String()),
	}
	if h.base == nil {
		r.AddAttrs(ids[:]...)
		return h.next.Handle(ctx, r)
	}
	hh := h.base.WithAttrs(ids[:])
	for _, op := range h.ops {
		if op.group != "" {
			hh = hh.WithGroup(op.group)
		} else {
			hh = hh.WithAttrs(op.attrs)
		}
	}
	return hh.Handle(ctx, r)
}

func (h *traceHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := &traceHandler{next: h.next.WithAttrs(as), base: h.base}
	if h.base != nil {
		n.ops = append(h.ops[:len(h.ops):len(h.ops)], handlerOp{attrs: as})
	}
	return n
}

func (h *traceHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := &traceHandler{next: h.next.WithGroup(name), base: h.base, ops: h.ops[:len(h.ops):len(h.ops)]}
	if n.base == nil {
		n.base = h.next
	}
	n.ops = append(n.ops, handlerOp{group: name})
	return n
}

// levelHandler gates a handler with a minimum level.
type levelHandler struct {
	level slog.Leveler
	next  slog.Handler
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.next.Enabled(ctx, l)
}

func (h *levelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.next.Handle(ctx, r)
}

func (h *levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &levelHandler{level: h.level, next: h.next.WithAttrs(as)}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{level: h.level, next: h.next.WithGroup(name)}
}

// hasTraceID reports whether the record carries a top-level trace_id already.
func hasTraceID(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		found = a.Key == semconv.LogKeyTraceID
		return !found
	})
	return found
}
