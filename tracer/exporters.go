package tracer

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelruntime "go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// exporterChoice is one exporter named by an OTEL_*_EXPORTER variable.
type exporterChoice struct {
	name string // "otlp", "console", "prometheus"
}

// choose resolves the exporter names of one signal from the environment.
// Unknown names are skipped with a warning. The default is otlp, as the
// OpenTelemetry specification says.
func (s *setup) choose(signal string, names []string, allowed ...string) (choices []exporterChoice, offReason string) {
	variable := "OTEL_" + strings.ToUpper(signal) + "_EXPORTER"
	if names == nil {
		names = []string{"otlp"}
	}
	for _, n := range names {
		switch {
		case n == "none":
			return nil, variable + "=none"
		case n == "stdout":
			n = "console"
		}
		ok := false
		for _, a := range allowed {
			ok = ok || a == n
		}
		if !ok {
			s.warn(fmt.Sprintf("%s=%q is not supported here (use %s or none); ignored", variable, n, strings.Join(allowed, ", ")))
			continue
		}
		choices = append(choices, exporterChoice{name: n})
	}
	if len(choices) == 0 {
		return nil, variable + ": no supported exporter named"
	}
	return choices, ""
}

// protocol resolves the OTLP protocol of one signal; invalid environment
// values fall back to the default with a warning (the option was checked in
// Start).
func (s *setup) protocol(signal string) string {
	p, err := s.env.otlpProtocol(signal, s.cfg.otlpProtocol)
	if err != nil {
		s.warn(err.Error() + "; using " + ProtocolHTTPProtobuf)
		return ProtocolHTTPProtobuf
	}
	return p
}

func (s *setup) otlpDesc(signal, protocol string) string {
	transport := "otlp/http"
	if protocol == ProtocolGRPC {
		transport = "otlp/grpc"
	}
	return transport + " " + s.env.otlpEndpoint(signal, protocol, s.cfg.otlpEndpoint)
}

// httpURL is the option endpoint with the signal path appended.
func (s *setup) httpURL(path string) string {
	return strings.TrimRight(s.cfg.otlpEndpoint, "/") + path
}

// named is an exporter with the description Status shows for it.
type named[E any] struct {
	exp  E
	desc string
}

type (
	namedSpanExporter = named[sdktrace.SpanExporter]
	namedLogExporter  = named[sdklog.Exporter]
)

// exporters resolves the exporters of one signal: those given by option,
// else those the signal's OTEL_*_EXPORTER variable names (otlp by default),
// each built by build.
func exporters[E any](s *setup, signal string, given []E, env []string, build func(choice string) (E, string, error)) ([]named[E], string, error) {
	if len(given) > 0 {
		out := make([]named[E], 0, len(given))
		for _, e := range given {
			out = append(out, named[E]{exp: e, desc: fmt.Sprintf("%T", e)})
		}
		return out, "", nil
	}
	choices, off := s.choose(signal, env, "otlp", "console")
	var out []named[E]
	for _, c := range choices {
		e, desc, err := build(c.name)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %s exporter: %w", signal, c.name, err)
		}
		out = append(out, named[E]{exp: e, desc: desc})
	}
	return out, off, nil
}

func (s *setup) spanExporters(ctx context.Context) ([]namedSpanExporter, string, error) {
	return exporters(s, semconv.SignalTraces, s.cfg.spanExporters, s.env.tracesExporters, func(choice string) (sdktrace.SpanExporter, string, error) {
		if choice == "console" {
			e, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
			return e, "console (stdout)", err
		}
		p := s.protocol(semconv.SignalTraces)
		desc := s.otlpDesc(semconv.SignalTraces, p)
		if p == ProtocolGRPC {
			var opts []otlptracegrpc.Option
			if s.env.otlpDefaultEndpoint(semconv.SignalTraces, s.cfg.otlpEndpoint) {
				opts = append(opts, otlptracegrpc.WithInsecure())
			}
			if s.cfg.otlpEndpoint != "" {
				opts = append(opts, otlptracegrpc.WithEndpointURL(s.cfg.otlpEndpoint))
			}
			e, err := otlptracegrpc.New(ctx, opts...)
			return e, desc, err
		}
		var opts []otlptracehttp.Option
		if s.env.otlpDefaultEndpoint(semconv.SignalTraces, s.cfg.otlpEndpoint) {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if s.cfg.otlpEndpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpointURL(s.httpURL("/v1/traces")))
		}
		e, err := otlptracehttp.New(ctx, opts...)
		return e, desc, err
	})
}

func (s *setup) logExporters(ctx context.Context) ([]namedLogExporter, string, error) {
	return exporters(s, semconv.SignalLogs, s.cfg.logExporters, s.env.logsExporters, func(choice string) (sdklog.Exporter, string, error) {
		if choice == "console" {
			e, err := stdoutlog.New(stdoutlog.WithWriter(os.Stdout))
			return e, "console (stdout)", err
		}
		p := s.protocol(semconv.SignalLogs)
		desc := s.otlpDesc(semconv.SignalLogs, p)
		if p == ProtocolGRPC {
			var opts []otlploggrpc.Option
			if s.env.otlpDefaultEndpoint(semconv.SignalLogs, s.cfg.otlpEndpoint) {
				opts = append(opts, otlploggrpc.WithInsecure())
			}
			if s.cfg.otlpEndpoint != "" {
				opts = append(opts, otlploggrpc.WithEndpointURL(s.cfg.otlpEndpoint))
			}
			e, err := otlploggrpc.New(ctx, opts...)
			return e, desc, err
		}
		var opts []otlploghttp.Option
		if s.env.otlpDefaultEndpoint(semconv.SignalLogs, s.cfg.otlpEndpoint) {
			opts = append(opts, otlploghttp.WithInsecure())
		}
		if s.cfg.otlpEndpoint != "" {
			opts = append(opts, otlploghttp.WithEndpointURL(s.httpURL("/v1/logs")))
		}
		e, err := otlploghttp.New(ctx, opts...)
		return e, desc, err
	})
}

type namedReader struct {
	reader sdkmetric.Reader
	desc   string
	stats  *pipeStats // nil for pull readers and user readers
}

func (s *setup) metricReaders(ctx context.Context) ([]namedReader, string, error) {
	var out []namedReader
	for _, r := range s.cfg.metricReaders {
		out = append(out, namedReader{reader: r, desc: fmt.Sprintf("%T", r)})
	}
	if s.cfg.prometheusSet {
		addr := s.cfg.prometheusAddr
		if addr == "" {
			addr = "localhost:9464"
		}
		r, err := s.startPrometheus(addr)
		if err != nil {
			return nil, "", err
		}
		out = append(out, r)
	}
	if len(out) > 0 {
		return out, "", nil
	}
	choices, off := s.choose(semconv.SignalMetrics, s.env.metricsExporter, "otlp", "prometheus", "console")
	for _, c := range choices {
		var (
			e    sdkmetric.Exporter
			desc string
			err  error
		)
		switch c.name {
		case "prometheus":
			host, port := s.env.promHost, s.env.promPort
			if host == "" {
				host = "localhost"
			}
			if port == "" {
				port = "9464"
			}
			r, err := s.startPrometheus(net.JoinHostPort(host, port))
			if err != nil {
				return nil, "", err
			}
			out = append(out, r)
			continue
		case "otlp":
			p := s.protocol(semconv.SignalMetrics)
			desc = s.otlpDesc(semconv.SignalMetrics, p)
			if p == ProtocolGRPC {
				var opts []otlpmetricgrpc.Option
				if s.env.otlpDefaultEndpoint(semconv.SignalMetrics, s.cfg.otlpEndpoint) {
					opts = append(opts, otlpmetricgrpc.WithInsecure())
				}
				if s.cfg.otlpEndpoint != "" {
					opts = append(opts, otlpmetricgrpc.WithEndpointURL(s.cfg.otlpEndpoint))
				}
				e, err = otlpmetricgrpc.New(ctx, opts...)
			} else {
				var opts []otlpmetrichttp.Option
				if s.env.otlpDefaultEndpoint(semconv.SignalMetrics, s.cfg.otlpEndpoint) {
					opts = append(opts, otlpmetrichttp.WithInsecure())
				}
				if s.cfg.otlpEndpoint != "" {
					opts = append(opts, otlpmetrichttp.WithEndpointURL(s.httpURL("/v1/metrics")))
				}
				e, err = otlpmetrichttp.New(ctx, opts...)
			}
		case "console":
			desc = "console (stdout)"
			e, err = stdoutmetric.New(stdoutmetric.WithWriter(os.Stdout))
		}
		if err != nil {
			return nil, "", fmt.Errorf("metrics: %s exporter: %w", c.name, err)
		}
		stats := s.newStats(semconv.SignalMetrics, "points", desc)
		r := sdkmetric.NewPeriodicReader(&countingMetricExporter{Exporter: e, stats: stats}, s.producers()...)
		out = append(out, namedReader{reader: r, desc: desc, stats: stats})
	}
	return out, off, nil
}

// startPrometheus listens on addr and serves /metrics from a registry of its
// own (not the global one, so several Tracers and the host's own collectors
// never collide).
func (s *setup) startPrometheus(addr string) (namedReader, error) {
	reg := prometheus.NewRegistry()
	popts := []otelprom.Option{otelprom.WithRegisterer(reg)}
	for _, p := range s.metricProducers() {
		popts = append(popts, otelprom.WithProducer(p))
	}
	exp, err := otelprom.New(popts...)
	if err != nil {
		return namedReader{}, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = exp.Shutdown(context.Background())
		return namedReader{}, fmt.Errorf("metrics: prometheus listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/metrics"
	s.t.closers = append(s.t.closers, func(ctx context.Context) error {
		err := srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, srv.Close())
		}
		if e := <-served; !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, e)
		}
		if err != nil {
			return fmt.Errorf("metrics: prometheus server: %w", err)
		}
		return nil
	})
	return namedReader{reader: exp, desc: "prometheus " + url}, nil
}

// metricProducers are the producers added to the readers verdict builds
// itself: with the runtime probe on, the contrib runtime producer, which
// emits the one Go runtime semantic-convention metric the metric API cannot
// express as an observable instrument: the go.schedule.duration histogram.
// Readers given with WithMetricReader are built by the caller; pass
// runtime.NewProducer() there with sdkmetric.WithProducer.
func (s *setup) metricProducers() []sdkmetric.Producer {
	if s.cfg.noRuntime {
		return nil
	}
	return []sdkmetric.Producer{otelruntime.NewProducer()}
}

func (s *setup) producers() []sdkmetric.PeriodicReaderOption {
	var out []sdkmetric.PeriodicReaderOption
	for _, p := range s.metricProducers() {
		out = append(out, sdkmetric.WithProducer(p))
	}
	return out
}
