package middleware

import (
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// ScopeName is the instrumentation scope of the tracers and meters the
// middleware creates, "github.com/verdict-obs/verdict/middleware", at scope
// version [Version].
const ScopeName = semconv.ScopeMiddleware

// DefaultMaxSeries is the default limit on distinct attribute sets per
// metric instrument; see [WithMaxSeries].
const DefaultMaxSeries = 1000

// Option configures the middleware. Options are applied once, when a
// handler or transport is constructed.
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

type config struct {
	tp          trace.TracerProvider
	mp          metric.MeterProvider
	props       propagation.TextMapPropagator
	propMode    propMode
	routeFunc   func(*http.Request) string
	filter      func(*http.Request) bool
	serverName  string
	maxSeries   int
	publicEP    bool
	recommended bool
}

func newConfig(opts []Option) config {
	c := config{maxSeries: DefaultMaxSeries}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.props != nil {
		c.propMode = classify(c.props, false)
	}
	return c
}

// WithTracerProvider sets the TracerProvider. nil, or no such option, means
// the global provider (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c config) config {
		if tp != nil {
			c.tp = tp
		}
		return c
	})
}

// WithMeterProvider sets the MeterProvider. nil, or no such option, means
// the global provider (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.mp = mp
		}
		return c
	})
}

// WithPropagators sets the propagator used to extract and inject context.
// nil, or no such option, means the global propagator, read on every
// request so that a later otel.SetTextMapPropagator takes effect; while no
// global propagator has been set, W3C Trace Context and W3C Baggage are used
// (the OTEL_PROPAGATORS default). Propagators built from
// [propagation.TraceContext], [propagation.Baggage] and [NewPropagator] are
// served by the allocation-free W3C implementation of this package.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c config) config {
		if p != nil {
			c.props = p
		}
		return c
	})
}

// WithRouteFunc sets the function that returns the route template of a
// server request (the http.route attribute and span name), called after the
// wrapped handler returned. It must return a low-cardinality template such
// as "/users/{id}", never a raw path. By default the route is the pattern
// that Go 1.22+ [http.ServeMux] matched (Request.Pattern, without its method
// and host parts); with neither, spans are named by method only and metrics
// carry no http.route.
func WithRouteFunc(f func(*http.Request) string) Option {
	return optionFunc(func(c config) config {
		c.routeFunc = f
		return c
	})
}

// WithFilter sets a predicate called at the start of each server or client
// request; when it returns false the request is passed through with no
// span, no metrics and no propagation (health checks, for example).
func WithFilter(f func(*http.Request) bool) Option {
	return optionFunc(func(c config) config {
		c.filter = f
		return c
	})
}

// WithServerName sets the server.address of server spans and metrics. By
// default server spans take it from the request's Host header and server
// metrics carry no server.address (the Host header is chosen by the client
// and would make series unbounded).
func WithServerName(name string) Option {
	return optionFunc(func(c config) config {
		c.serverName = name
		return c
	})
}

// WithMaxSeries bounds the number of distinct attribute sets each metric
// instrument of one handler or transport records; later sets are folded
// into one series marked otel.metric.overflow=true. n <= 0 means
// [DefaultMaxSeries].
func WithMaxSeries(n int) Option {
	return optionFunc(func(c config) config {
		if n > 0 {
			c.maxSeries = n
		}
		return c
	})
}

// WithPublicEndpoint makes server spans roots of new traces that link to the
// incoming trace context instead of continuing it; use it on endpoints that
// face untrusted clients.
func WithPublicEndpoint() Option {
	return optionFunc(func(c config) config {
		c.publicEP = true
		return c
	})
}

// WithRecommendedAttributes adds the recommended HTTP server span attributes
// that are off by default: user_agent.original, network.peer.address and
// network.peer.port, and the (opt-in) body sizes http.request.body.size and
// http.response.body.size. By default server spans carry the required and
// conditionally required attributes, client.address and
// network.protocol.version (which the duration metric carries too, so that
// a span and its series match): nine in the common case. The OTel SDK
// deduplicates span attributes with a map that is allocation-free only up
// to eight entries, so the ninth costs three allocations per request; each
// opt-in attribute adds none beyond that. Metrics are not affected.
func WithRecommendedAttributes() Option {
	return optionFunc(func(c config) config {
		c.recommended = true
		return c
	})
}

func (c *config) tracer() trace.Tracer {
	if t := semconv.Tracer(c.tp, ScopeName); t != nil {
		return t
	}
	return nooptrace.NewTracerProvider().Tracer(ScopeName)
}

func (c *config) meter() metric.Meter {
	if m := semconv.Meter(c.mp, ScopeName); m != nil {
		return m
	}
	return noopmetric.NewMeterProvider().Meter(ScopeName)
}
