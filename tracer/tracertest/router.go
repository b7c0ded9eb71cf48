package tracertest

import (
	"context"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// router is the global TracerProvider while tests use tracertest: it
// hands each span to the tracer of the test it belongs to (see the
// package documentation for the order of the rules).
type router struct {
	embedded.TracerProvider

	mu     sync.RWMutex
	tests  []*T                 // running, oldest first
	traces map[trace.TraceID]*T // local traces started by a running test

	fallback trace.TracerProvider
	unrouted atomic.Uint64 // spans no test could be found for
}

var (
	routerOnce sync.Once
	theRouter  *router
)

// globalRouter installs the router as the global TracerProvider on first
// use (and W3C propagation, if the global propagator was never set).
func globalRouter() *router {
	routerOnce.Do(func() {
		r := &router{traces: map[trace.TraceID]*T{}, fallback: noop.NewTracerProvider()}
		if prev := otel.GetTracerProvider(); !isGlobalDefault(prev) {
			// Someone set a provider: spans of no test keep going there.
			r.fallback = prev
		}
		otel.SetTracerProvider(r)
		if isGlobalDefault(otel.GetTextMapPropagator()) {
			otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
		}
		theRouter = r
	})
	return theRouter
}

// isGlobalDefault reports whether v is one of OpenTelemetry's global
// delegates, in place until someone sets the global (a provider set later
// would delegate back to the router: no fallback).
func isGlobalDefault(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().PkgPath() == "go.opentelemetry.io/otel/internal/global"
}

func (r *router) add(x *T) {
	r.mu.Lock()
	for _, y := range r.tests {
		y.overlapped.Store(true)
	}
	if len(r.tests) > 0 {
		x.overlapped.Store(true)
	}
	r.tests = append(r.tests, x)
	r.mu.Unlock()
}

// remove stops routing to x and forgets its traces.
func (r *router) remove(x *T) {
	r.mu.Lock()
	r.tests = slices.DeleteFunc(r.tests, func(y *T) bool { return y == x })
	x.traceMu.Lock()
	for _, id := range x.traceIDs {
		if r.traces[id] == x {
			delete(r.traces, id)
		}
	}
	x.traceIDs = nil
	x.traceMu.Unlock()
	r.mu.Unlock()
}

// running reports how many tests route spans now.
func (r *router) running() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.tests)
}

type ctxKey struct{}

// route finds the test a span started with ctx belongs to; nil: none.
func (r *router) route(ctx context.Context) *T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if x, ok := ctx.Value(ctxKey{}).(*T); ok && slices.Contains(r.tests, x) {
		return x
	}
	if sp := trace.SpanFromContext(ctx); sp.SpanContext().IsValid() {
		if sp.IsRecording() {
			tp := sp.TracerProvider()
			for _, x := range r.tests {
				if x.sdk == tp {
					return x
				}
			}
		}
		if x := r.traces[sp.SpanContext().TraceID()]; x != nil {
			return x
		}
	}
	if len(r.tests) == 1 {
		return r.tests[0]
	}
	return nil
}

// Tracer implements trace.TracerProvider.
func (r *router) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &routeTracer{r: r, name: name, opts: opts}
}

type routeTracer struct {
	embedded.Tracer
	r    *router
	name string
	opts []trace.TracerOption
}

// Start implements trace.Tracer.
func (rt *routeTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if x := rt.r.route(ctx); x != nil {
		return x.sdk.Tracer(rt.name, rt.opts...).Start(ctx, name, opts...)
	}
	rt.r.unrouted.Add(1)
	return rt.r.fallback.Tracer(rt.name, rt.opts...).Start(ctx, name, opts...)
}

// traceIndex is the span processor of a test's tracer that tells the
// router which local traces the test started, so that server spans of
// requests its clients sent (remote parents) find the test.
type traceIndex struct {
	r *router
	x *T
}

var _ sdktrace.SpanProcessor = traceIndex{}

func (p traceIndex) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	if parent := s.Parent(); parent.IsValid() && !parent.IsRemote() {
		return // the local root registered the trace
	}
	id := s.SpanContext().TraceID()
	p.r.mu.Lock()
	if _, ok := p.r.traces[id]; !ok && slices.Contains(p.r.tests, p.x) {
		p.r.traces[id] = p.x
		p.x.traceMu.Lock()
		p.x.traceIDs = append(p.x.traceIDs, id)
		p.x.traceMu.Unlock()
	}
	p.r.mu.Unlock()
}

func (traceIndex) OnEnd(sdktrace.ReadOnlySpan)      {}
func (traceIndex) Shutdown(context.Context) error   { return nil }
func (traceIndex) ForceFlush(context.Context) error { return nil }
