package tracer

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// durationHook is a real spanhook.Hook: SpanStart remembers the goroutine
// that started each span, SpanEnd adds the span's duration and a marker,
// except for silenced traces, where it adds nothing (and allocates nothing).
type durationHook struct {
	mu       sync.Mutex
	startGID map[trace.SpanID]uint64
	silenced map[trace.TraceID]bool
	starts   atomic.Int64
	ends     atomic.Int64
}

func newDurationHook() *durationHook {
	return &durationHook{startGID: map[trace.SpanID]uint64{}, silenced: map[trace.TraceID]bool{}}
}

func (h *durationHook) SpanStart(sc trace.SpanContext, _ time.Time) {
	h.starts.Add(1)
	g := goid()
	h.mu.Lock()
	h.startGID[sc.SpanID()] = g
	h.mu.Unlock()
}

func (h *durationHook) SpanEnd(sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	h.ends.Add(1)
	h.mu.Lock()
	delete(h.startGID, sc.SpanID())
	silenced := h.silenced[sc.TraceID()]
	h.mu.Unlock()
	if silenced {
		return dst
	}
	return append(dst,
		attribute.Bool("test.hook.ended", true),
		attribute.Int64("test.hook.duration_ns", int64(end.Sub(start))))
}

func (h *durationHook) silence(id trace.TraceID) {
	h.mu.Lock()
	h.silenced[id] = true
	h.mu.Unlock()
}

func (h *durationHook) startedOn(sc trace.SpanContext) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.startGID[sc.SpanID()]
}

func (h *durationHook) counts() (starts, ends int64) { return h.starts.Load(), h.ends.Load() }

type panicHook struct{}

func (panicHook) SpanStart(trace.SpanContext, time.Time) { panic("hook bug") }
func (panicHook) SpanEnd(trace.SpanContext, time.Time, time.Time, []attribute.KeyValue) []attribute.KeyValue {
	panic("hook bug")
}

// goid returns the current goroutine's ID (tests only).
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	n, _ := strconv.ParseUint(string(b), 10, 64)
	return n
}

// countingProcessor counts OnEnd calls.
type countingProcessor struct{ ended atomic.Int64 }

func (p *countingProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *countingProcessor) OnEnd(sdktrace.ReadOnlySpan)                     { p.ended.Add(1) }
func (p *countingProcessor) Shutdown(context.Context) error                  { return nil }
func (p *countingProcessor) ForceFlush(context.Context) error                { return nil }

// lastProcessor keeps the last span it saw, allocating nothing.
type lastProcessor struct{ span sdktrace.ReadOnlySpan }

func (p *lastProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *lastProcessor) OnEnd(s sdktrace.ReadOnlySpan)                   { p.span = s }
func (p *lastProcessor) Shutdown(context.Context) error                  { return nil }
func (p *lastProcessor) ForceFlush(context.Context) error                { return nil }

func attributeKey(k string) attribute.Key { return attribute.Key(k) }
