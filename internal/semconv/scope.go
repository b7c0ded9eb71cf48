package semconv

import (
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Version is verdict's version: the instrumentation scope version of every
// tracer, meter and logger verdict creates. It is kept here only.
const Version = "0.1.0"

// InstrumentationName is the instrumentation scope name of verdict's
// trace-correlated logger; the scopes of the packages below append their
// path to it.
const InstrumentationName = "github.com/verdict-obs/verdict"

// Instrumentation scope names, one per package that creates a tracer or a
// meter: the module path and the package's path in the module.
const (
	ScopeTracer     = InstrumentationName + "/tracer"
	ScopeMiddleware = InstrumentationName + "/middleware"
	ScopeSQLXProbe  = InstrumentationName + "/sqlxprobe"
	ScopeGoRuntime  = InstrumentationName + "/probes/goruntime"
	ScopeKernel     = InstrumentationName + "/probes/kernel"
	ScopeGCSTW      = InstrumentationName + "/probes/gcstw"
	ScopeGC         = InstrumentationName + "/probes/gc"
	ScopeSched      = InstrumentationName + "/probes/sched"
	ScopeNetHTTP    = InstrumentationName + "/probes/nethttp"
	ScopeGRPC       = InstrumentationName + "/probes/grpc"
	ScopeSQL        = InstrumentationName + "/probes/sql"
	ScopeTCP        = InstrumentationName + "/probes/tcp"
)

// Meter returns mp's meter for scope (one of the Scope constants) at
// [Version]. Every meter verdict creates comes from here.
func Meter(mp metric.MeterProvider, scope string) metric.Meter {
	return mp.Meter(scope, metric.WithInstrumentationVersion(Version))
}

// Tracer returns tp's tracer for scope (one of the Scope constants) at
// [Version]. Every tracer verdict creates comes from here.
func Tracer(tp trace.TracerProvider, scope string) trace.Tracer {
	return tp.Tracer(scope, trace.WithInstrumentationVersion(Version))
}
