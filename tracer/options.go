package tracer

import (
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// Option configures [Start]. Options are applied in order; where two set the
// same thing, the later one wins. Options win over OTEL_* environment
// variables. A nil argument to any With* function is ignored.
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

// ConsoleFormat selects how the [Tracer.Logger] writes to the console.
type ConsoleFormat int

const (
	// ConsoleText writes slog's key=value text format. The default.
	ConsoleText ConsoleFormat = iota
	// ConsoleJSON writes one JSON object per record.
	ConsoleJSON
	// ConsoleNone writes nothing to the console; records still reach the
	// OpenTelemetry logs pipeline and the handlers of [WithLogHandler].
	ConsoleNone
)

func (f ConsoleFormat) String() string {
	switch f {
	case ConsoleText:
		return "text"
	case ConsoleJSON:
		return "json"
	case ConsoleNone:
		return "none"
	}
	return "ConsoleFormat(" + itoa(int64(f)) + ")"
}

// OTLP protocols accepted by [WithOTLPProtocol] and OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
	// ProtocolHTTPJSON is OTLP/HTTP with JSON bodies. The Go OTLP exporters
	// implement it for traces only; metrics and logs then use
	// ProtocolHTTPProtobuf, with a warning.
	ProtocolHTTPJSON = "http/json"
)

// config is the resolved configuration. Every default lives in newConfig.
type config struct {
	serviceName    string
	serviceVersion string
	environment    string
	resAttrs       []attribute.KeyValue

	spanExporters  []sdktrace.SpanExporter
	spanProcessors []sdktrace.SpanProcessor
	metricReaders  []sdkmetric.Reader
	logExporters   []sdklog.Exporter
	prometheusAddr string
	prometheusSet  bool
	otlpEndpoint   string
	otlpProtocol   string

	sampler    sdktrace.Sampler
	propagator propagation.TextMapPropagator
	globals    bool

	logHandlers   []slog.Handler
	consoleFormat ConsoleFormat
	consoleWriter io.Writer
	logLevel      slog.Leveler
	slogDefault   bool
	diag          *slog.Logger

	probes []probeEntry
	hooks  []spanhook.Hook

	ebpf        EBPFMode
	ebpfSet     bool
	runtimeOpts []goruntime.Option
	kernelOpts  []kernel.Option
	noRuntime   bool

	histograms Histograms // histograms.go

	spanBatch batchLimits // defaults; OTEL_BSP_* and batchOpt apply in Start
	logBatch  batchLimits // defaults; OTEL_BLRP_* and batchOpt apply in Start
	batchOpt  batchLimits // withBatchLimits (zero fields unset); wins over the environment

	verdict judgeConfig
}

type probeEntry struct {
	probe  probes.Probe
	policy probes.FailurePolicy
	// off says why a built-in probe is not run at all (eBPF turned off);
	// the tracer then never starts it and only shows it in Status.
	off string
}

// batchLimits bound the export queues of spans and log records.
type batchLimits struct {
	queueSize     int           // items waiting for export; beyond it they are dropped
	batchSize     int           // items per export call
	interval      time.Duration // longest wait before a partial batch is exported; 0: export what is there at once
	exportTimeout time.Duration // bound of one export call
}

func newConfig(opts []Option) config {
	c := config{
		globals:       true,
		consoleFormat: ConsoleText,
		consoleWriter: os.Stderr,
		logLevel:      slog.LevelInfo,
		// The specification's defaults (OTEL_BSP_*, OTEL_BLRP_*).
		spanBatch: batchLimits{
			queueSize:     2048,
			batchSize:     512,
			interval:      5 * time.Second,
			exportTimeout: 30 * time.Second,
		},
		logBatch: batchLimits{
			queueSize:     2048,
			batchSize:     512,
			interval:      time.Second,
			exportTimeout: 30 * time.Second,
		},
	}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	return c
}

// WithServiceName sets the service.name resource attribute (overrides
// OTEL_SERVICE_NAME). An empty name is ignored.
func WithServiceName(name string) Option {
	return optionFunc(func(c config) config {
		if name != "" {
			c.serviceName = name
		}
		return c
	})
}

// WithServiceVersion sets the service.version resource attribute.
func WithServiceVersion(version string) Option {
	return optionFunc(func(c config) config {
		if version != "" {
			c.serviceVersion = version
		}
		return c
	})
}

// WithEnvironment sets the deployment.environment.name resource attribute
// ("production", "staging", ...).
func WithEnvironment(env string) Option {
	return optionFunc(func(c config) config {
		if env != "" {
			c.environment = env
		}
		return c
	})
}

// WithResourceAttributes adds resource attributes. They override the same
// keys from OTEL_RESOURCE_ATTRIBUTES and from detection (host, process);
// [WithServiceName], [WithServiceVersion] and [WithEnvironment] override
// them in turn. Invalid attributes are ignored.
func WithResourceAttributes(attrs ...attribute.KeyValue) Option {
	return optionFunc(func(c config) config {
		for _, a := range attrs {
			if a.Valid() {
				c.resAttrs = append(c.resAttrs, a)
			}
		}
		return c
	})
}

// WithSpanExporter exports spans to e through verdict's bounded batch
// pipeline (which drops and counts rather than blocks). Given at least once,
// it replaces the exporters named by OTEL_TRACES_EXPORTER; given several
// times, every exporter receives every span. The Tracer shuts e down.
func WithSpanExporter(e sdktrace.SpanExporter) Option {
	return optionFunc(func(c config) config {
		if e != nil {
			c.spanExporters = append(c.spanExporters, e)
		}
		return c
	})
}

// WithSpanProcessor registers an extra span processor, in addition to the
// exporters. It sees spans after verdict's span hooks ran, with their
// attributes; it must not block. The Tracer shuts it down.
func WithSpanProcessor(p sdktrace.SpanProcessor) Option {
	return optionFunc(func(c config) config {
		if p != nil {
			c.spanProcessors = append(c.spanProcessors, p)
		}
		return c
	})
}

// WithMetricReader registers a metric reader (a periodic reader around an
// exporter, a manual reader in tests). Given at least once, it (together with
// [WithPrometheus]) replaces the exporters named by OTEL_METRICS_EXPORTER.
// The Tracer shuts it down.
func WithMetricReader(r sdkmetric.Reader) Option {
	return optionFunc(func(c config) config {
		if r != nil {
			c.metricReaders = append(c.metricReaders, r)
		}
		return c
	})
}

// WithPrometheus serves the metrics in the Prometheus exposition format at
// http://addr/metrics (addr as for [net.Listen], e.g. ":9464" or
// "127.0.0.1:0"; empty means "localhost:9464"). It replaces the exporters named by OTEL_METRICS_EXPORTER,
// like [WithMetricReader]. Start fails if addr cannot be listened on.
// [Status] reports the bound address.
func WithPrometheus(addr string) Option {
	return optionFunc(func(c config) config {
		c.prometheusAddr = addr
		c.prometheusSet = true
		return c
	})
}

// WithLogExporter exports the records of [Tracer.Logger] to e through
// verdict's bounded batch pipeline. Given at least once, it replaces the
// exporters named by OTEL_LOGS_EXPORTER. The Tracer shuts e down.
func WithLogExporter(e sdklog.Exporter) Option {
	return optionFunc(func(c config) config {
		if e != nil {
			c.logExporters = append(c.logExporters, e)
		}
		return c
	})
}

// WithOTLPEndpoint sets the OTLP endpoint as a URL ("http://collector:4317";
// scheme http means no TLS) for every signal exported with OTLP. It overrides
// OTEL_EXPORTER_OTLP_ENDPOINT and the per-signal variants. With HTTP the
// signal path (/v1/traces, ...) is appended.
func WithOTLPEndpoint(url string) Option {
	return optionFunc(func(c config) config {
		if url != "" {
			c.otlpEndpoint = url
		}
		return c
	})
}

// WithOTLPProtocol selects the OTLP transport, [ProtocolGRPC],
// [ProtocolHTTPProtobuf] or [ProtocolHTTPJSON] (overrides
// OTEL_EXPORTER_OTLP_PROTOCOL and the per-signal variants). Start fails on
// any other value.
func WithOTLPProtocol(protocol string) Option {
	return optionFunc(func(c config) config {
		if protocol != "" {
			c.otlpProtocol = protocol
		}
		return c
	})
}

// WithSampler sets the sampler (overrides OTEL_TRACES_SAMPLER).
func WithSampler(s sdktrace.Sampler) Option {
	return optionFunc(func(c config) config {
		if s != nil {
			c.sampler = s
		}
		return c
	})
}

// WithPropagators sets the propagator (overrides OTEL_PROPAGATORS; default:
// W3C tracecontext and baggage).
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c config) config {
		if p != nil {
			c.propagator = p
		}
		return c
	})
}

// WithoutGlobals leaves the OpenTelemetry globals (tracer, meter and logger
// providers, propagator, error handler) alone. Use the Tracer's accessors
// ([Tracer.TracerProvider], ...) to hand the providers to instrumentation.
func WithoutGlobals() Option {
	return optionFunc(func(c config) config {
		c.globals = false
		return c
	})
}

// WithLogHandler adds a handler that receives every record of
// [Tracer.Logger], with trace_id and span_id, besides the console and the
// OpenTelemetry logs pipeline.
func WithLogHandler(h slog.Handler) Option {
	return optionFunc(func(c config) config {
		if h != nil {
			c.logHandlers = append(c.logHandlers, h)
		}
		return c
	})
}

// WithConsoleFormat selects the console format of [Tracer.Logger].
func WithConsoleFormat(f ConsoleFormat) Option {
	return optionFunc(func(c config) config {
		c.consoleFormat = f
		return c
	})
}

// WithConsoleWriter sets where [Tracer.Logger] writes its console output
// (default os.Stderr). Writes to w are serialized.
func WithConsoleWriter(w io.Writer) Option {
	return optionFunc(func(c config) config {
		if w != nil {
			c.consoleWriter = w
		}
		return c
	})
}

// WithLogLevel sets the minimum level of [Tracer.Logger] (default
// slog.LevelInfo). A *slog.LevelVar can change it at run time.
func WithLogLevel(l slog.Leveler) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.logLevel = l
		}
		return c
	})
}

// WithSlogDefault makes [Tracer.Logger] the slog default
// ([slog.SetDefault]); Shutdown restores the previous default.
func WithSlogDefault() Option {
	return optionFunc(func(c config) config {
		c.slogDefault = true
		return c
	})
}

// WithLogger sets the logger for verdict's own diagnostics (exporter
// failures, dropped telemetry, probes that could not start, invalid OTEL_*
// values, and, unless [WithoutGlobals], the OpenTelemetry Go internal
// logger). By default they go to the console handler of [Tracer.Logger]
// (not to OpenTelemetry, so a failing logs exporter cannot feed itself).
// OTEL_LOG_LEVEL (none, error, warn, info, debug; default info) sets their
// minimum level either way.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.diag = l
		}
		return c
	})
}

// WithProbes adds probes: Start starts them (in order), [Tracer.Status] shows
// them, Shutdown stops them (in reverse order). A probe that cannot start is
// handled by its failure policy: the policy it reports through a method
// FailurePolicy() probes.FailurePolicy, otherwise [probes.FailOpen].
// Your probes are not span hooks: only verdict's own probes enrich spans,
// and they opt in explicitly (internal/spanhook.Provider), not by having the
// right methods.
func WithProbes(ps ...probes.Probe) Option {
	return optionFunc(func(c config) config {
		for _, p := range ps {
			if p == nil {
				continue
			}
			policy := probes.FailOpen
			if fp, ok := p.(interface{ FailurePolicy() probes.FailurePolicy }); ok {
				policy = fp.FailurePolicy()
			}
			c.probes = append(c.probes, probeEntry{probe: p, policy: policy})
		}
		return c
	})
}

// WithProbe adds one probe with an explicit failure policy (see [WithProbes]).
func WithProbe(p probes.Probe, policy probes.FailurePolicy) Option {
	return optionFunc(func(c config) config {
		if p != nil {
			c.probes = append(c.probes, probeEntry{probe: p, policy: policy})
		}
		return c
	})
}

// withSpanHooks registers span hooks (internal/spanhook) that run for every
// sampled span, beside those of the probes that provide one. It is
// unexported on purpose: hooks are verdict's internal contract (tests use
// it).
func withSpanHooks(hs ...spanhook.Hook) Option {
	return optionFunc(func(c config) config {
		for _, h := range hs {
			if h != nil {
				c.hooks = append(c.hooks, h)
			}
		}
		return c
	})
}

// withBatchLimits overrides the export queue limits of spans and logs
// (tests); its non-zero fields win over OTEL_BSP_* and OTEL_BLRP_*.
func withBatchLimits(b batchLimits) Option {
	return optionFunc(func(c config) config {
		if b.queueSize > 0 {
			c.batchOpt.queueSize = b.queueSize
		}
		if b.batchSize > 0 {
			c.batchOpt.batchSize = b.batchSize
		}
		if b.interval > 0 {
			c.batchOpt.interval = b.interval
		}
		if b.exportTimeout > 0 {
			c.batchOpt.exportTimeout = b.exportTimeout
		}
		return c
	})
}
