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
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// exporterChoice is one exporter named by an OTEL_*_EXPORTER variable.
type exporterChoice struct {
	name string // "otlp", "console", "prometheus"
}

// choose resolves the exporter names of one signal from the environment.
// Unknown names are skipped with a warning. The default is otlp, as the
// OpenTelemetry specification says.

// reconnect bounds the gRPC exporters' reconnection backoff at 5 s instead
// of gRPC's default 2 minutes, which a collector outage of a few minutes
// reaches: once the collector is back, export resumes within seconds (at
// the batcher's next attempt) instead of dropping up to two more minutes of
// telemetry. A reconnection attempt to a collector is one TCP handshake.
var reconnect = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: time.Second, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
	MinConnectTimeout: 20 * time.Second,
})

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

// Why verdict builds exporters itself rather than with the contrib
// autoexport package: autoexport calls otlptrace*.New without options, so the
// Go exporters' own default applies (TLS to localhost, where the
// specification says plain http://localhost:4318), WithOTLPEndpoint could
// not win over the environment, its metric reader wraps the exporter
// directly (verdict counts every dropped point), and it takes one exporter
// name per signal where the specification allows a list.

// otlpTarget is where and how one signal goes over OTLP, resolved from the
// options, the environment and the specification's defaults. verdict passes
// these to the exporter as explicit options (which the Go exporters let win
// over their own reading of the environment) because the exporters, left
// alone, deviate from the specification: their default endpoint uses TLS;
// OTEL_EXPORTER_OTLP_INSECURE overrides an explicit http:// or https://
// scheme (the scheme must decide); an endpoint without a scheme such as
// 127.0.0.1:4317 does not parse as a URL, so a gRPC target the gRPC client
// accepts is dropped; compression names are case-sensitive; a timeout of 0
// means "fail at once" instead of "no limit". Headers, certificates and
// client keys are left to the exporters (validated in env.go).
type otlpTarget struct {
	protocol    string
	endpointURL string // WithEndpointURL: the scheme decides TLS
	grpcTarget  string // WithEndpoint: a gRPC target without scheme
	insecure    bool   // WithInsecure, with grpcTarget
	gzip        bool
	timeout     time.Duration
}

// desc is what Status shows for the target.
func (t otlpTarget) desc() string {
	transport := "otlp/http "
	if t.protocol == ProtocolGRPC {
		transport = "otlp/grpc "
	}
	if t.protocol == ProtocolHTTPJSON {
		transport = "otlp/http+json "
	}
	if t.grpcTarget != "" {
		sec := " (tls)"
		if t.insecure {
			sec = " (insecure)"
		}
		return transport + t.grpcTarget + sec
	}
	return transport + t.endpointURL
}

// otlpTarget resolves the OTLP settings of one signal.
func (s *setup) otlpTarget(signal string) (otlpTarget, error) {
	e := s.env.otlp[signal]
	if e.tlsErr != nil {
		return otlpTarget{}, e.tlsErr
	}
	t := otlpTarget{protocol: s.protocol(signal), timeout: defaultOTLPTimeout}
	if e.gzip.ok {
		t.gzip = e.gzip.v
	}
	if e.timeout.ok {
		t.timeout = e.timeout.v
	}
	http := t.protocol != ProtocolGRPC
	path := "/v1/" + signal
	// The first endpoint variable that fits the protocol: OTLP/HTTP needs a
	// URL, gRPC also takes a target without scheme.
	var endpoint string
	var perSignal bool
	for _, c := range e.endpoints {
		if http && !hasHTTPScheme(c.value) {
			s.warn(fmt.Sprintf("%s=%q: OTLP/HTTP needs a URL with scheme http or https; ignored", c.variable, c.value))
			continue
		}
		endpoint, perSignal = c.value, c.perSignal
		break
	}
	switch {
	case s.cfg.otlpEndpoint != "":
		t.endpointURL = s.cfg.otlpEndpoint
		if http {
			t.endpointURL = strings.TrimRight(t.endpointURL, "/") + path
		}
	case endpoint == "":
		// The specification's default: plain HTTP to a local collector.
		t.endpointURL = "http://localhost:4318" + path
		if !http {
			t.endpointURL = "http://localhost:4317"
		}
	case !hasHTTPScheme(endpoint):
		// A gRPC target; OTEL_EXPORTER_OTLP_INSECURE decides TLS.
		t.grpcTarget = endpoint
		t.insecure = e.insecure.ok && e.insecure.v
	default:
		t.endpointURL = endpoint
		if http && !perSignal {
			// The general variable is a base URL; per-signal ones are used
			// as they are.
			t.endpointURL = strings.TrimRight(endpoint, "/") + path
		}
		if e.insecure.ok && e.insecure.v != strings.HasPrefix(strings.ToLower(endpoint), "http://") {
			s.warn(fmt.Sprintf("%s=%t is ignored for %s: the endpoint's scheme decides, as the specification says", e.insecureVar, e.insecure.v, endpoint))
		}
	}
	return t, nil
}

// protocol resolves the OTLP protocol of one signal. http/json exists in
// the Go exporter of traces only.
func (s *setup) protocol(signal string) string {
	p, src := s.env.otlpProtocol(signal, s.cfg.otlpProtocol)
	if p == ProtocolHTTPJSON && signal != semconv.SignalTraces {
		s.warn(fmt.Sprintf("%s=%q: the Go OTLP %s exporter has no JSON encoding; using %s", src, p, signal, ProtocolHTTPProtobuf))
		return ProtocolHTTPProtobuf
	}
	return p
}

// named is an exporter with the description Status shows for it.
type named[E any] struct {
	exp  E
	desc string
	// timeout bounds one export call (OTEL_EXPORTER_OTLP_TIMEOUT); 0: only
	// the batcher's bound. The Go OTLP/HTTP exporters apply their timeout
	// to each attempt and retry until the caller's context ends, where the
	// specification bounds the whole export; the batcher applies it to the
	// whole call.
	timeout time.Duration
}

type (
	namedSpanExporter = named[sdktrace.SpanExporter]
	namedLogExporter  = named[sdklog.Exporter]
)

// exporters resolves the exporters of one signal: those given by option,
// else those the signal's OTEL_*_EXPORTER variable names (otlp by default),
// each built by build.
func exporters[E any](s *setup, signal string, given []E, env []string, build func(choice string) (named[E], error)) ([]named[E], string, error) {
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
		n, err := build(c.name)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %s exporter: %w", signal, c.name, err)
		}
		out = append(out, n)
	}
	return out, off, nil
}

func (s *setup) spanExporters(ctx context.Context) ([]namedSpanExporter, string, error) {
	return exporters(s, semconv.SignalTraces, s.cfg.spanExporters, s.env.tracesExporters, func(choice string) (namedSpanExporter, error) {
		if choice == "console" {
			e, err := stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
			return namedSpanExporter{exp: e, desc: "console (stdout)"}, err
		}
		t, err := s.otlpTarget(semconv.SignalTraces)
		if err != nil {
			return namedSpanExporter{}, err
		}
		if t.protocol == ProtocolGRPC {
			opts := []otlptracegrpc.Option{otlptracegrpc.WithTimeout(t.timeout), otlptracegrpc.WithDialOption(reconnect)}
			if t.gzip {
				opts = append(opts, otlptracegrpc.WithCompressor("gzip"))
			}
			switch {
			case t.grpcTarget != "":
				opts = append(opts, otlptracegrpc.WithEndpoint(t.grpcTarget))
				if t.insecure {
					opts = append(opts, otlptracegrpc.WithInsecure())
				}
			default:
				opts = append(opts, otlptracegrpc.WithEndpointURL(t.endpointURL))
			}
			e, err := otlptracegrpc.New(ctx, opts...)
			return namedSpanExporter{exp: e, desc: t.desc(), timeout: t.timeout}, err
		}
		enc := otlptracehttp.EncodingProtobuf
		if t.protocol == ProtocolHTTPJSON {
			enc = otlptracehttp.EncodingJSON
		}
		comp := otlptracehttp.NoCompression
		if t.gzip {
			comp = otlptracehttp.GzipCompression
		}
		e, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(t.endpointURL), otlptracehttp.WithEncoding(enc),
			otlptracehttp.WithCompression(comp), otlptracehttp.WithTimeout(t.timeout))
		return namedSpanExporter{exp: e, desc: t.desc(), timeout: t.timeout}, err
	})
}

func (s *setup) logExporters(ctx context.Context) ([]namedLogExporter, string, error) {
	return exporters(s, semconv.SignalLogs, s.cfg.logExporters, s.env.logsExporters, func(choice string) (namedLogExporter, error) {
		if choice == "console" {
			e, err := stdoutlog.New(stdoutlog.WithWriter(os.Stdout))
			return namedLogExporter{exp: e, desc: "console (stdout)"}, err
		}
		t, err := s.otlpTarget(semconv.SignalLogs)
		if err != nil {
			return namedLogExporter{}, err
		}
		if t.protocol == ProtocolGRPC {
			opts := []otlploggrpc.Option{otlploggrpc.WithTimeout(t.timeout), otlploggrpc.WithDialOption(reconnect)}
			if t.gzip {
				opts = append(opts, otlploggrpc.WithCompressor("gzip"))
			}
			switch {
			case t.grpcTarget != "":
				opts = append(opts, otlploggrpc.WithEndpoint(t.grpcTarget))
				if t.insecure {
					opts = append(opts, otlploggrpc.WithInsecure())
				}
			default:
				opts = append(opts, otlploggrpc.WithEndpointURL(t.endpointURL))
			}
			e, err := otlploggrpc.New(ctx, opts...)
			return namedLogExporter{exp: e, desc: t.desc(), timeout: t.timeout}, err
		}
		comp := otlploghttp.NoCompression
		if t.gzip {
			comp = otlploghttp.GzipCompression
		}
		e, err := otlploghttp.New(ctx, otlploghttp.WithEndpointURL(t.endpointURL), otlploghttp.WithCompression(comp),
			otlploghttp.WithTimeout(t.timeout))
		return namedLogExporter{exp: e, desc: t.desc(), timeout: t.timeout}, err
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
			e       sdkmetric.Exporter
			desc    string
			timeout time.Duration
			err     error
		)
		switch c.name {
		case "prometheus":
			// OTEL_EXPORTER_PROMETHEUS_PORT was validated in env.go.
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
			var t otlpTarget
			if t, err = s.otlpTarget(semconv.SignalMetrics); err != nil {
				break
			}
			desc, timeout = t.desc(), t.timeout
			if t.protocol == ProtocolGRPC {
				opts := []otlpmetricgrpc.Option{otlpmetricgrpc.WithTimeout(t.timeout), otlpmetricgrpc.WithDialOption(reconnect)}
				if t.gzip {
					opts = append(opts, otlpmetricgrpc.WithCompressor("gzip"))
				}
				switch {
				case t.grpcTarget != "":
					opts = append(opts, otlpmetricgrpc.WithEndpoint(t.grpcTarget))
					if t.insecure {
						opts = append(opts, otlpmetricgrpc.WithInsecure())
					}
				default:
					opts = append(opts, otlpmetricgrpc.WithEndpointURL(t.endpointURL))
				}
				e, err = otlpmetricgrpc.New(ctx, opts...)
			} else {
				comp := otlpmetrichttp.NoCompression
				if t.gzip {
					comp = otlpmetrichttp.GzipCompression
				}
				e, err = otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(t.endpointURL), otlpmetrichttp.WithCompression(comp),
					otlpmetrichttp.WithTimeout(t.timeout))
			}
		case "console":
			desc = "console (stdout)"
			e, err = stdoutmetric.New(stdoutmetric.WithWriter(os.Stdout))
		}
		if err != nil {
			return nil, "", fmt.Errorf("metrics: %s exporter: %w", c.name, err)
		}
		stats := s.newStats(semconv.SignalMetrics, "points", desc)
		r := sdkmetric.NewPeriodicReader(&countingMetricExporter{Exporter: e, stats: stats, timeout: timeout}, s.periodicReaderOptions()...)
		out = append(out, namedReader{reader: r, desc: desc, stats: stats})
	}
	return out, off, nil
}

// startPrometheus listens on addr and serves /metrics from a registry of its
// own (not the global one, so several Tracers and the host's own collectors
// never collide).
func (s *setup) startPrometheus(addr string) (namedReader, error) {
	reg := prometheus.NewRegistry()
	if err := registerProcessCollector(reg); err != nil { // process.go
		s.warn(err.Error())
	}
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
	// OpenMetrics when the scraper asks for it (Prometheus does): only that
	// format carries exemplars, the trace_id of a span per histogram bucket.
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}))
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
// itself: with the runtime probe on, the go.schedule.duration histogram
// (schedule.go). Readers given with WithMetricReader are built by the
// caller; pass NewRuntimeProducer() there with sdkmetric.WithProducer.
func (s *setup) metricProducers() []sdkmetric.Producer {
	if s.cfg.noRuntime {
		return nil
	}
	return []sdkmetric.Producer{newScheduleProducer()}
}

// periodicReaderOptions are the options of the periodic readers verdict
// builds: OTEL_METRIC_EXPORT_INTERVAL and _TIMEOUT, validated in env.go (the
// SDK reads them too, but takes a timeout of 0 as invalid instead of "no
// limit"), and the producers (with the process metrics, process.go).
func (s *setup) periodicReaderOptions() []sdkmetric.PeriodicReaderOption {
	out := []sdkmetric.PeriodicReaderOption{
		sdkmetric.WithInterval(s.env.metricInterval),
		sdkmetric.WithTimeout(s.env.metricTimeout),
	}
	for _, p := range append(s.metricProducers(), newProcessProducer()) {
		out = append(out, sdkmetric.WithProducer(p))
	}
	return out
}
