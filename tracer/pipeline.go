package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/internal/spanhook"
)

// spanPipeline is the one SpanProcessor verdict registers when span hooks
// exist. For every sampled span it calls each hook's SpanStart in OnStart (on
// the goroutine that starts the span) and SpanEnd in OnEnd, then hands the
// span, decorated with the hooks' attributes, to the next processors (the
// exporters' batchers and WithSpanProcessor's).
//
// Cost: with no attribute added, OnEnd allocates nothing (the scratch slice
// comes from a pool); when hooks add attributes, one allocation holds the
// decorated span and up to hookInline attributes.
type spanPipeline struct {
	hooks    []spanhook.Hook
	next     []sdktrace.SpanProcessor
	diag     *slog.Logger
	panicked atomic.Bool
}

var _ sdktrace.SpanProcessor = (*spanPipeline)(nil)

const hookInline = 6

var scratchPool = sync.Pool{New: func() any {
	s := make([]attribute.KeyValue, 0, 16)
	return &s
}}

func (p *spanPipeline) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	if sc := s.SpanContext(); sc.IsSampled() {
		p.start(s)
	}
	for _, n := range p.next {
		n.OnStart(ctx, s)
	}
}

func (p *spanPipeline) start(s sdktrace.ReadWriteSpan) {
	defer p.recoverHook("SpanStart")
	sc, st := s.SpanContext(), s.StartTime()
	for _, h := range p.hooks {
		h.SpanStart(sc, st)
	}
}

func (p *spanPipeline) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		s = p.end(s)
	}
	for _, n := range p.next {
		n.OnEnd(s)
	}
}

func (p *spanPipeline) end(s sdktrace.ReadOnlySpan) (out sdktrace.ReadOnlySpan) {
	out = s
	defer p.recoverHook("SpanEnd")
	sp := scratchPool.Get().(*[]attribute.KeyValue)
	attrs := (*sp)[:0]
	sc, st, et := s.SpanContext(), s.StartTime(), s.EndTime()
	for _, h := range p.hooks {
		attrs = h.SpanEnd(sc, st, et, attrs)
	}
	if len(attrs) > 0 {
		out = newHookedSpan(s, attrs)
	}
	clear(attrs)
	if cap(attrs) <= 256 { // keep the pool's buffers small
		*sp = attrs[:0]
	}
	scratchPool.Put(sp)
	return out
}

func (p *spanPipeline) recoverHook(where string) {
	if r := recover(); r != nil {
		if p.panicked.CompareAndSwap(false, true) {
			p.diag.Error("verdict: span hook panicked; the span continues without its attributes (reported once)",
				"in", where, "panic", fmt.Sprint(r))
		}
	}
}

func (p *spanPipeline) Shutdown(ctx context.Context) error {
	var errs []error
	for _, n := range p.next {
		errs = append(errs, n.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

func (p *spanPipeline) ForceFlush(ctx context.Context) error {
	var errs []error
	for _, n := range p.next {
		errs = append(errs, n.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

// hookedSpan is a ReadOnlySpan whose Attributes include the hooks'.
// (OnEnd sees a read-only span; decorating it on the way to the exporter is
// the only way to add attributes after the span ended.)
type hookedSpan struct {
	sdktrace.ReadOnlySpan
	extra  []attribute.KeyValue
	inline [hookInline]attribute.KeyValue
}

func newHookedSpan(s sdktrace.ReadOnlySpan, attrs []attribute.KeyValue) *hookedSpan {
	h := &hookedSpan{ReadOnlySpan: s}
	if len(attrs) <= hookInline {
		h.extra = h.inline[:copy(h.inline[:], attrs)]
	} else {
		h.extra = append([]attribute.KeyValue(nil), attrs...)
	}
	return h
}

// Attributes returns the span's attributes followed by the hooks'.
func (h *hookedSpan) Attributes() []attribute.KeyValue {
	base := h.ReadOnlySpan.Attributes()
	out := make([]attribute.KeyValue, 0, len(base)+len(h.extra))
	return append(append(out, base...), h.extra...)
}
