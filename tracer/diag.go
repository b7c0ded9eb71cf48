package tracer

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/propagation"
)

// minLevel is the lower of two levels, read on every call (either may be a
// *slog.LevelVar that changes at run time). The console handler is shared
// by the application logger and the diagnostics (one writer, one mutex), so
// it lets through what either wants; each side filters with its own
// levelHandler.
type minLevel struct{ a, b slog.Leveler }

func (m minLevel) Level() slog.Level { return min(m.a.Level(), m.b.Level()) }

// offLevel is above every level slog uses: OTEL_LOG_LEVEL=none.
const offLevel = slog.Level(1 << 20)

// diagLevel is the level of verdict's diagnostics from OTEL_LOG_LEVEL.
func (e envConfig) diagLevel() slog.Level {
	if e.logOff {
		return offLevel
	}
	return e.logLevel
}

// otelLogHandler carries the OpenTelemetry Go internal logger (a logr.Logger,
// set with otel.SetLogger) into verdict's diagnostics, so that
// OTEL_LOG_LEVEL governs it too. logr's slog bridge turns V(n) into level -n;
// OpenTelemetry logs warnings at V(1), informational messages at V(4) and
// debug at V(8): warnings become Warn, everything below Debug (its
// informational messages are about internals, such as an export's item
// count). Errors stay Error.
type otelLogHandler struct{ next slog.Handler }

func otelLevel(l slog.Level) slog.Level {
	switch {
	case l >= slog.LevelInfo:
		return l
	case l >= -1:
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

func (h otelLogHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, otelLevel(l))
}

func (h otelLogHandler) Handle(ctx context.Context, r slog.Record) error {
	n := slog.NewRecord(r.Time, otelLevel(r.Level), "verdict: opentelemetry: "+r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool { n.AddAttrs(a); return true })
	return h.next.Handle(ctx, n)
}

func (h otelLogHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return otelLogHandler{next: h.next.WithAttrs(as)}
}

func (h otelLogHandler) WithGroup(name string) slog.Handler {
	return otelLogHandler{next: h.next.WithGroup(name)}
}

func otelLogger(diag *slog.Logger) logr.Logger {
	return logr.FromSlogHandler(otelLogHandler{next: diag.Handler()})
}

// propagatorFromEnv builds the propagator OTEL_PROPAGATORS names, with the
// contrib autoprop registry (tracecontext, baggage, b3, b3multi, jaeger,
// xray, ottrace, none), which keeps the third-party formats maintained
// upstream. Unknown names are reported and skipped; when none is known, the
// default (tracecontext, baggage) applies. none reports whether propagation
// is off.
func (s *setup) propagatorFromEnv() (p propagation.TextMapPropagator, none bool) {
	def := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	names := s.env.propagators
	if names == nil {
		return def, false
	}
	p, err := autoprop.TextMapPropagator(names...)
	value := strings.Join(names, ",")
	if err != nil {
		s.warn(fmt.Sprintf("OTEL_PROPAGATORS=%q: %v (known: tracecontext, baggage, b3, b3multi, jaeger, xray, ottrace, none); ignored", value, err))
	}
	if p == nil {
		s.warn(fmt.Sprintf("OTEL_PROPAGATORS=%q names no known propagator; using tracecontext,baggage", value))
		return def, false
	}
	for _, n := range names {
		if n == "none" {
			return p, true
		}
	}
	return p, false
}
