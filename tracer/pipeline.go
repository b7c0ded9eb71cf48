package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/internal/stage"
)

// spanPipeline is the one SpanProcessor verdict registers when span hooks
// or the judge exist. In OnStart it calls each hook's SpanStart (on the
// goroutine that starts the span); in OnEnd each hook's SpanEnd, then the
// judge's span stage (package internal/stage), then it hands the span,
// decorated with the hooks' and the stage's attributes, to the next
// processors (the exporters' batchers and WithSpanProcessor's).
//
// Without the judge, hooks run for sampled spans only. With it, every
// recording span goes through hooks and stage (the sampler records what it
// would drop, see tail.go); sampled spans go on as before, unsampled ones
// wait in the tail buffer for their local root's keep-or-drop decision.
// The next processors see OnStart of sampled spans only, and OnEnd of
// sampled spans and of kept ones (with the sampled flag set).
//
// Cost: with no attribute added, OnEnd allocates nothing (the scratch slice
// comes from a pool, the stage is allocation-free); when hooks or the stage
// add attributes, one allocation holds the decorated span and up to 16
// attributes (see newHookedSpan).
type spanPipeline struct {
	hooks    []spanhook.Hook
	next     []sdktrace.SpanProcessor
	diag     *slog.Logger
	judge    *judgeState // nil without the judge
	kept     func(sdktrace.ReadOnlySpan)
	panicked atomic.Bool
}

var _ sdktrace.SpanProcessor = (*spanPipeline)(nil)

var scratchPool = sync.Pool{New: func() any {
	s := make([]attribute.KeyValue, 0, 16)
	return &s
}}

func newSpanPipeline(hooks []spanhook.Hook, next []sdktrace.SpanProcessor, diag *slog.Logger, js *judgeState) *spanPipeline {
	p := &spanPipeline{hooks: hooks, next: next, diag: diag, judge: js}
	p.kept = p.forwardKept
	return p
}

func localRoot(parent trace.SpanContext) bool { return !parent.IsValid() || parent.IsRemote() }

func (p *spanPipeline) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	sc := s.SpanContext()
	if p.judge == nil {
		if sc.IsSampled() {
			p.start(s)
		}
		for _, n := range p.next {
			n.OnStart(ctx, s)
		}
		return
	}
	p.start(s)
	if localRoot(s.Parent()) {
		p.judge.stage.Start(true)
		p.judge.open.add(s, sc)
	}
	if sc.IsSampled() {
		for _, n := range p.next {
			n.OnStart(ctx, s)
		}
	}
}

func (p *spanPipeline) start(s sdktrace.ReadWriteSpan) {
	if len(p.hooks) == 0 {
		return
	}
	defer p.recoverHook("SpanStart")
	sc, st := s.SpanContext(), s.StartTime()
	for _, h := range p.hooks {
		h.SpanStart(sc, st)
	}
}

func (p *spanPipeline) OnEnd(s sdktrace.ReadOnlySpan) {
	sc := s.SpanContext()
	if p.judge == nil {
		if sc.IsSampled() {
			s = p.end(s)
		}
		p.forward(s)
		return
	}
	root := localRoot(s.Parent())
	if root {
		p.judge.open.remove(sc)
	}
	out, res := p.endJudged(s, sc, root)
	switch {
	case sc.IsSampled():
		p.forward(out)
		if root && p.judge.tail.pending.Load() > 0 {
			// A sampler that samples per span (not parent-based) may
			// have left unsampled children waiting: they follow the
			// root's verdict.
			p.judge.tail.decide(sc.TraceID(), res.Keep, p.kept)
		}
	case !root:
		p.judge.tail.add(out, p.kept)
	case res.Keep:
		if res.KeepError {
			p.judge.tail.keptError.Add(1)
		} else {
			p.judge.tail.keptAnomaly.Add(1)
		}
		p.judge.tail.decide(sc.TraceID(), true, p.kept)
		p.kept(out)
	default:
		p.judge.tail.decide(sc.TraceID(), false, p.kept)
	}
}

func (p *spanPipeline) forward(s sdktrace.ReadOnlySpan) {
	for _, n := range p.next {
		n.OnEnd(s)
	}
}

// forwardKept hands a kept, unsampled span to the next processors with the
// sampled flag set.
func (p *spanPipeline) forwardKept(s sdktrace.ReadOnlySpan) {
	h, ok := s.(*hookedSpan)
	if !ok {
		h = &hookedSpan{ReadOnlySpan: s}
	}
	sc := s.SpanContext()
	h.sc, h.scSet = sc.WithTraceFlags(sc.TraceFlags().WithSampled(true)), true
	p.forward(h)
}

func (p *spanPipeline) end(s sdktrace.ReadOnlySpan) (out sdktrace.ReadOnlySpan) {
	out = s
	defer p.recoverHook("SpanEnd")
	sp := scratchPool.Get().(*[]attribute.KeyValue)
	attrs := (*sp)[:0]
	sc, st, et := s.SpanContext(), s.StartTime(), s.EndTime()
	for _, h := range p.hooks {
		attrs = spanhook.End(h, s, sc, st, et, attrs)
	}
	attrs = spanhook.JoinUnmeasured(attrs) // one verdict.unmeasured per span
	if len(attrs) > 0 {
		out = newHookedSpan(s, attrs)
	}
	recycle(sp, attrs)
	return out
}

// endJudged runs the hooks and the judge's stage on an ended span.
func (p *spanPipeline) endJudged(s sdktrace.ReadOnlySpan, sc trace.SpanContext, root bool) (out sdktrace.ReadOnlySpan, res stage.Result) {
	out = s
	defer p.recoverHook("span stage")
	sp := scratchPool.Get().(*[]attribute.KeyValue)
	attrs := (*sp)[:0]
	st, et := s.StartTime(), s.EndTime()
	for _, h := range p.hooks {
		attrs = spanhook.End(h, s, sc, st, et, attrs)
	}
	attrs = spanhook.JoinUnmeasured(attrs) // one verdict.unmeasured per span
	status := s.Status()
	kind := s.SpanKind()
	client := kind == trace.SpanKindClient
	in := stage.Span{
		SC: sc, LocalRoot: root, Kind: kind, Start: st, End: et,
		Error: status.Code == codes.Error, StatusDesc: status.Description,
		Attrs: s.Attributes(), Extra: attrs,
		Nested: client && hasNestedEvent(s),
	}
	if root || client { // the stage names operations and unnamed queries only
		in.Name = s.Name()
	}
	hooked := len(attrs)
	attrs, res = p.judge.stage.End(&in, attrs)
	if root {
		p.judge.notable.offer(s, sc, et, et.Sub(st), res.Interesting, attrs[hooked:], &res.Breakdown)
	}
	if len(attrs) > 0 {
		out = newHookedSpan(s, attrs)
	}
	recycle(sp, attrs)
	return out, res
}

func hasNestedEvent(s sdktrace.ReadOnlySpan) bool {
	for _, e := range s.Events() {
		if e.Name == semconv.EventDBNestedConnection {
			return true
		}
	}
	return false
}

func recycle(sp *[]attribute.KeyValue, attrs []attribute.KeyValue) {
	clear(attrs)
	if cap(attrs) <= 256 { // keep the pool's buffers small
		*sp = attrs[:0]
	}
	scratchPool.Put(sp)
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

// hookedSpan is a ReadOnlySpan whose Attributes include the hooks' and
// the stage's, and whose SpanContext may carry the sampled flag the tail
// sampler set. (OnEnd sees a read-only span; decorating it on the way to
// the exporter is the only way to add attributes after the span ended.)
type hookedSpan struct {
	sdktrace.ReadOnlySpan
	extra []attribute.KeyValue
	sc    trace.SpanContext
	scSet bool
}

// hookedSpan4, 8 and 16 hold a hookedSpan and its attributes in one
// allocation, in three sizes (384, 640 and 1152 bytes) so that a span with
// few attributes does not carry room for many: with eBPF on, a server span
// gets 14 attributes from the hooks and the stage, a database span 8;
// without it, a few.
type (
	hookedSpan4 struct {
		hookedSpan
		inline [4]attribute.KeyValue
	}
	hookedSpan8 struct {
		hookedSpan
		inline [8]attribute.KeyValue
	}
	hookedSpan16 struct {
		hookedSpan
		inline [16]attribute.KeyValue
	}
)

func newHookedSpan(s sdktrace.ReadOnlySpan, attrs []attribute.KeyValue) *hookedSpan {
	var h *hookedSpan
	switch n := len(attrs); {
	case n <= 4:
		x := &hookedSpan4{}
		x.extra = x.inline[:copy(x.inline[:], attrs)]
		h = &x.hookedSpan
	case n <= 8:
		x := &hookedSpan8{}
		x.extra = x.inline[:copy(x.inline[:], attrs)]
		h = &x.hookedSpan
	case n <= 16:
		x := &hookedSpan16{}
		x.extra = x.inline[:copy(x.inline[:], attrs)]
		h = &x.hookedSpan
	default:
		h = &hookedSpan{extra: append([]attribute.KeyValue(nil), attrs...)}
	}
	h.ReadOnlySpan = s
	return h
}

// Attributes returns the span's attributes followed by the hooks'.
func (h *hookedSpan) Attributes() []attribute.KeyValue {
	base := h.ReadOnlySpan.Attributes()
	out := make([]attribute.KeyValue, 0, len(base)+len(h.extra))
	return append(append(out, base...), h.extra...)
}

// SpanContext returns the span's context, with the sampled flag when the
// tail sampler kept an unsampled span.
func (h *hookedSpan) SpanContext() trace.SpanContext {
	if h.scSet {
		return h.sc
	}
	return h.ReadOnlySpan.SpanContext()
}
