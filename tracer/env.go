package tracer

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// How verdict treats the OTEL_* environment variables (the README's
// Configuration section has the table):
//
//   - Start reads them once, here, and validates every value the way the
//     specification asks for its type (configuration/common.md and
//     sdk-environment-variables.md): a malformed number, an unknown enum
//     value, a negative duration is reported through the diagnostics logger,
//     naming the variable and the value, and ignored (the default applies).
//     Nothing falls back silently. A certificate or key file that cannot be
//     used is an error at Start instead: there is no default to fall back to
//     that would keep the connection as secure as the user asked.
//   - Several variables are also read by the SDK or the Go OTLP exporters
//     themselves (span and log limits, headers, certificates, the exemplar
//     filter, temporality). Those packages ignore bad values silently or
//     through the OpenTelemetry internal logger, which prints nothing at its
//     default verbosity, so verdict validates them here too; where a package
//     deviates from the specification (negative limits meaning "unlimited",
//     timeout 0 rejected instead of meaning "no limit", case-sensitive enums,
//     gRPC endpoints without a scheme), verdict passes the resolved value as
//     an explicit option, which the package lets win over its own reading.
//   - Options always win over the environment.

// envConfig is what Start reads from the OTEL_* environment variables, once.
type envConfig struct {
	disabled        bool
	tracesExporters []string // nil: not set
	metricsExporter []string
	logsExporters   []string
	protocol        map[string]string // signal -> protocol ("" key: all signals)
	otlp            map[string]otlpEnv
	sampler         string
	samplerArg      string
	promHost        string
	promPort        string
	propagators     []string // nil: not set; lower case, deduplicated
	spanBatch       batchEnv
	logBatch        batchEnv
	spanLimits      sdktrace.SpanLimits
	logAttrCount    int // OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT (or the general one)
	logAttrValueLen int // -1: no limit
	metricInterval  time.Duration
	metricTimeout   time.Duration
	logLevel        slog.Level // OTEL_LOG_LEVEL; verdict's diagnostics
	logOff          bool       // OTEL_LOG_LEVEL=none
	ebpf            EBPFMode   // VERDICT_EBPF
	warnings        []string   // invalid values, reported through the diagnostics logger
}

// otlpEnv is the OTLP exporter environment of one signal: the per-signal
// variable and the general one, each already validated (an invalid value is
// reported and left out, so the next one applies).
type otlpEnv struct {
	endpoints   []endpointEnv // per-signal first, then general; which fits depends on the protocol
	insecure    opt[bool]
	insecureVar string
	gzip        opt[bool]
	timeout     opt[time.Duration] // 0: no limit
	tlsErr      error              // certificate or key files that cannot be used
}

// endpointEnv is one OTLP endpoint variable that is set and parses.
type endpointEnv struct {
	value, variable string
	perSignal       bool // used as-is (the general one is a base URL for HTTP)
}

// opt is a value that may be unset.
type opt[T any] struct {
	v  T
	ok bool
}

func some[T any](v T) opt[T] { return opt[T]{v: v, ok: true} }

// batchEnv is OTEL_BSP_* or OTEL_BLRP_*.
type batchEnv struct {
	queueSize, batchSize   opt[int]
	interval, exportTimout opt[time.Duration]
	resolved               batchLimits // defaults, then these, then the options (Start)
}

// Defaults of the specification that verdict applies itself.
const (
	defaultMetricInterval = 60 * time.Second
	defaultMetricTimeout  = 30 * time.Second
	defaultOTLPTimeout    = 10 * time.Second
	// noLimit stands for a timeout of 0 ("no limit"): the specification
	// allows "a very long time", such as the longest 32-bit millisecond
	// count. verdict's batcher still bounds every export by Shutdown.
	noLimit = time.Duration(math.MaxInt32) * time.Millisecond
	// The export queues are allocated up front (a channel), so their size is
	// capped: a queue of 2³¹ log records would take more than a terabyte.
	maxSpanQueue = 1 << 20 // 16 MiB of span references
	maxLogQueue  = 1 << 16 // ~38 MiB: a queued log record is a 584-byte value
)

// unsupportedEnv are specified variables verdict does not implement, with
// the reason; Start warns when one is set.
var unsupportedEnv = []struct{ name, why string }{
	{"OTEL_CONFIG_FILE", "declarative configuration would build its own SDK around verdict's pipeline (bounded batcher, span hooks); use OTEL_* variables or options"},
	{"OTEL_EXPERIMENTAL_CONFIG_FILE", "deprecated name of OTEL_CONFIG_FILE, which verdict does not support"},
	{"OTEL_ENTITIES", "entities are in development in the specification and the Go SDK does not implement them"},
	{"OTEL_EXPORTER_ZIPKIN_ENDPOINT", "the Zipkin exporter is deprecated; Zipkin accepts OTLP through the collector"},
	{"OTEL_EXPORTER_ZIPKIN_TIMEOUT", "the Zipkin exporter is deprecated"},
	{"OTEL_EXPORTER_OTLP_SPAN_INSECURE", "obsolete name; use OTEL_EXPORTER_OTLP_TRACES_INSECURE"},
	{"OTEL_EXPORTER_OTLP_METRIC_INSECURE", "obsolete name; use OTEL_EXPORTER_OTLP_METRICS_INSECURE"},
}

var envSignals = []string{"traces", "metrics", "logs"}

func readEnv() envConfig {
	var r envReader
	e := envConfig{
		protocol: map[string]string{},
		otlp:     map[string]otlpEnv{},
	}
	e.disabled, _ = r.boolean("OTEL_SDK_DISABLED")
	e.tracesExporters = envList("OTEL_TRACES_EXPORTER")
	e.metricsExporter = envList("OTEL_METRICS_EXPORTER")
	e.logsExporters = envList("OTEL_LOGS_EXPORTER")

	protocols := []string{ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON}
	e.protocol[""], _ = r.enum("OTEL_EXPORTER_OTLP_PROTOCOL", protocols...)
	for _, s := range envSignals {
		e.protocol[s], _ = r.enum("OTEL_EXPORTER_OTLP_"+strings.ToUpper(s)+"_PROTOCOL", protocols...)
		e.otlp[s] = r.otlp(s)
	}

	e.sampler = strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")))
	e.samplerArg = strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
	e.promHost = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_PROMETHEUS_HOST"))
	if p, ok := r.integer("OTEL_EXPORTER_PROMETHEUS_PORT", 0, math.MaxUint16); ok {
		e.promPort = strconv.Itoa(p)
	}
	e.propagators = r.propagators()

	e.spanBatch = r.batch("OTEL_BSP_")
	e.logBatch = r.batch("OTEL_BLRP_")
	e.spanLimits = r.spanLimits()
	e.logAttrCount = r.firstInt(sdktrace.DefaultAttributeCountLimit, "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT")
	e.logAttrValueLen = r.firstInt(-1, "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")

	e.metricInterval = defaultMetricInterval
	if d, ok := r.duration("OTEL_METRIC_EXPORT_INTERVAL"); ok {
		if d == 0 {
			// A period of zero would make the periodic reader spin.
			r.warn("OTEL_METRIC_EXPORT_INTERVAL=0 is not a usable interval; using %v", defaultMetricInterval)
		} else {
			e.metricInterval = d
		}
	}
	e.metricTimeout = defaultMetricTimeout
	if d, ok := r.timeout("OTEL_METRIC_EXPORT_TIMEOUT"); ok {
		e.metricTimeout = d
	}
	// Read by the SDK and the OTLP metric exporters themselves; validated
	// here because they ignore unknown values without a visible word.
	r.enum("OTEL_METRICS_EXEMPLAR_FILTER", "always_on", "always_off", "trace_based")
	r.enum("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "cumulative", "delta", "lowmemory")
	r.enum("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "explicit_bucket_histogram", "base2_exponential_bucket_histogram")

	e.logLevel = slog.LevelInfo
	switch lv, _ := r.enum("OTEL_LOG_LEVEL", "none", "error", "warn", "warning", "info", "debug", "verbose", "all"); lv {
	case "none":
		e.logOff = true
	case "error":
		e.logLevel = slog.LevelError
	case "warn", "warning":
		e.logLevel = slog.LevelWarn
	case "debug", "verbose", "all":
		e.logLevel = slog.LevelDebug
	}

	for _, u := range unsupportedEnv {
		if v, ok := lookup(u.name); ok {
			r.warn("%s=%q is not supported by verdict (%s); ignored", u.name, v, u.why)
		}
	}

	switch v := strings.ToLower(strings.TrimSpace(os.Getenv("VERDICT_EBPF"))); v {
	case "", "auto":
		e.ebpf = EBPFAuto
	case "off", "false", "0":
		e.ebpf = EBPFOff
	case "required", "on", "true", "1":
		e.ebpf = EBPFRequired
	default:
		r.warn("VERDICT_EBPF=%q: use auto, off or required; using auto", v)
	}
	e.warnings = r.warnings
	return e
}

// envReader parses variables by the specification's type rules and collects
// a warning for each value it has to ignore.
type envReader struct{ warnings []string }

func (r *envReader) warn(format string, args ...any) {
	r.warnings = append(r.warnings, fmt.Sprintf(format, args...))
}

// lookup returns a variable's trimmed value; empty counts as unset.
func lookup(name string) (string, bool) {
	v := strings.TrimSpace(os.Getenv(name))
	return v, v != ""
}

// boolean: only "true" (any case) is true; "false" is false; anything else
// is false with a warning.
func (r *envReader) boolean(name string) (value, set bool) {
	v, ok := lookup(name)
	if !ok {
		return false, false
	}
	switch {
	case strings.EqualFold(v, "true"):
		return true, true
	case strings.EqualFold(v, "false"):
		return false, true
	}
	r.warn("%s=%q is not a boolean (true or false); using false", name, v)
	return false, true
}

// integer parses an integer in [lo, hi]; otherwise it warns and reports
// the variable unset.
func (r *envReader) integer(name string, lo, hi int) (int, bool) {
	v, ok := lookup(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.warn("%s=%q is not an integer in [%d, %d]; ignored", name, v, lo, hi)
		return 0, false
	}
	return n, true
}

// firstInt returns the first valid non-negative integer among names, or def.
func (r *envReader) firstInt(def int, names ...string) int {
	for _, n := range names {
		if v, ok := r.integer(n, 0, math.MaxInt32); ok {
			return v
		}
	}
	return def
}

// duration parses a non-negative number of milliseconds.
func (r *envReader) duration(name string) (time.Duration, bool) {
	v, ok := lookup(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt32 {
		r.warn("%s=%q is not a duration in milliseconds (0 to %d); ignored", name, v, math.MaxInt32)
		return 0, false
	}
	return time.Duration(n) * time.Millisecond, true
}

// timeout is a duration where 0 means no limit (returned as noLimit).
func (r *envReader) timeout(name string) (time.Duration, bool) {
	d, ok := r.duration(name)
	if ok && d == 0 {
		d = noLimit
	}
	return d, ok
}

// enum returns the lower-cased value if it is one of allowed; otherwise it
// warns and reports the variable unset.
func (r *envReader) enum(name string, allowed ...string) (string, bool) {
	v, ok := lookup(name)
	if !ok {
		return "", false
	}
	if l := strings.ToLower(v); slices.Contains(allowed, l) {
		return l, true
	}
	r.warn("%s=%q is not one of %s; ignored", name, v, strings.Join(allowed, ", "))
	return "", false
}

// envList splits a comma-separated exporter list; nil means unset.
func envList(name string) []string {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// propagators reads OTEL_PROPAGATORS: lower case, trimmed, deduplicated
// (the specification requires each propagator registered once). Unknown
// names are left to autoprop, which reports them.
func (r *envReader) propagators() []string {
	var out []string
	for _, n := range envList("OTEL_PROPAGATORS") {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func (r *envReader) batch(prefix string) batchEnv {
	var b batchEnv
	if n, ok := r.integer(prefix+"MAX_QUEUE_SIZE", 1, math.MaxInt32); ok {
		b.queueSize = some(n)
	}
	if n, ok := r.integer(prefix+"MAX_EXPORT_BATCH_SIZE", 1, math.MaxInt32); ok {
		b.batchSize = some(n)
	}
	if d, ok := r.duration(prefix + "SCHEDULE_DELAY"); ok {
		b.interval = some(d)
	}
	if d, ok := r.timeout(prefix + "EXPORT_TIMEOUT"); ok {
		b.exportTimout = some(d)
	}
	return b
}

// resolveBatch applies the defaults, then the environment, then the options
// (withBatchLimits; zero fields unset), and keeps the result usable: the
// batch no larger than the queue, the queue no larger than maxQueue.
func resolveBatch(def batchLimits, env batchEnv, option batchLimits, prefix string, maxQueue int, warn func(string)) batchLimits {
	l := def
	if env.queueSize.ok {
		l.queueSize = env.queueSize.v
	}
	if env.batchSize.ok {
		l.batchSize = env.batchSize.v
	}
	if env.interval.ok {
		l.interval = env.interval.v
	}
	if env.exportTimout.ok {
		l.exportTimeout = env.exportTimout.v
	}
	if option.queueSize > 0 {
		l.queueSize = option.queueSize
	}
	if option.batchSize > 0 {
		l.batchSize = option.batchSize
	}
	if option.interval > 0 {
		l.interval = option.interval
	}
	if option.exportTimeout > 0 {
		l.exportTimeout = option.exportTimeout
	}
	if l.queueSize > maxQueue {
		warn(fmt.Sprintf("%sMAX_QUEUE_SIZE=%d is larger than verdict's bound %d (the queue is allocated up front); using %d", prefix, l.queueSize, maxQueue, maxQueue))
		l.queueSize = maxQueue
	}
	if l.batchSize > l.queueSize {
		warn(fmt.Sprintf("%sMAX_EXPORT_BATCH_SIZE=%d is larger than the queue (%d); using %d, as the specification requires batch <= queue", prefix, l.batchSize, l.queueSize, l.queueSize))
		l.batchSize = l.queueSize
	}
	return l
}

// spanLimits reads the span limits with the specification's precedence
// (OTEL_SPAN_* before the general OTEL_ATTRIBUTE_*). The SDK reads them too,
// but takes a negative value as "unlimited" and ignores malformed ones with
// a message nobody sees, so verdict passes the validated limits explicitly.
func (r *envReader) spanLimits() sdktrace.SpanLimits {
	return sdktrace.SpanLimits{
		AttributeValueLengthLimit:   r.firstInt(sdktrace.DefaultAttributeValueLengthLimit, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
		AttributeValueDepthLimit:    sdktrace.DefaultAttributeValueDepthLimit,
		AttributeCountLimit:         r.firstInt(sdktrace.DefaultAttributeCountLimit, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT"),
		EventCountLimit:             r.firstInt(sdktrace.DefaultEventCountLimit, "OTEL_SPAN_EVENT_COUNT_LIMIT"),
		LinkCountLimit:              r.firstInt(sdktrace.DefaultLinkCountLimit, "OTEL_SPAN_LINK_COUNT_LIMIT"),
		AttributePerEventCountLimit: r.firstInt(sdktrace.DefaultAttributePerEventCountLimit, "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT"),
		AttributePerLinkCountLimit:  r.firstInt(sdktrace.DefaultAttributePerLinkCountLimit, "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT"),
	}
}

// otlp reads the OTLP exporter variables of one signal. The exporters read
// headers and TLS files themselves; this validates them so that a bad value
// is reported, and resolves the rest for the explicit options of
// exporters.go.
func (r *envReader) otlp(signal string) otlpEnv {
	var o otlpEnv
	sig := "OTEL_EXPORTER_OTLP_" + strings.ToUpper(signal) + "_"
	gen := "OTEL_EXPORTER_OTLP_"
	// Per-signal first; an invalid per-signal value falls through to the
	// general one (it is treated as unset). Variables shared by the three
	// signals are validated once, with the traces.
	first := signal == "traces"
	for _, v := range []string{sig, gen} {
		shared := v == gen
		if shared && !first {
			r = &envReader{} // warnings about shared variables are kept once
		}
		if e, ok := lookup(v + "ENDPOINT"); ok {
			if err := checkEndpoint(e); err != nil {
				r.warn("%sENDPOINT=%q: %v; ignored", v, e, err)
			} else {
				o.endpoints = append(o.endpoints, endpointEnv{value: e, variable: v + "ENDPOINT", perSignal: !shared})
			}
		}
		if b, ok := r.boolean(v + "INSECURE"); ok && !o.insecure.ok {
			o.insecure, o.insecureVar = some(b), v+"INSECURE"
		}
		if c, ok := r.enum(v+"COMPRESSION", "gzip", "none"); ok && !o.gzip.ok {
			o.gzip = some(c == "gzip")
		}
		if d, ok := r.timeout(v + "TIMEOUT"); ok && !o.timeout.ok {
			o.timeout = some(d)
		}
		if h, ok := lookup(v + "HEADERS"); ok {
			for _, bad := range badHeaders(h) {
				r.warn("%sHEADERS: entry %s is not key=value with a valid header name and URL-encoded value; that entry is ignored", v, bad)
			}
		}
	}
	o.tlsErr = checkTLSFiles(sig, gen)
	return o
}

// checkEndpoint accepts a URL with scheme http or https and a host, or a
// gRPC target without a scheme (host:port); which of the two fits the
// protocol is decided in exporters.go.
func checkEndpoint(e string) error {
	if !hasHTTPScheme(e) {
		return nil
	}
	u, err := url.Parse(e)
	if err != nil {
		return err
	}
	if u.Host == "" {
		return fmt.Errorf("no host")
	}
	return nil
}

func hasHTTPScheme(e string) bool {
	l := strings.ToLower(e)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// badHeaders returns a description (the key, never the value: headers carry
// credentials) of each entry of an OTLP headers value that the exporters
// skip: no "=", an invalid header name, or a value that is not URL-encoded.
func badHeaders(v string) []string {
	var bad []string
	for i, kv := range strings.Split(v, ",") {
		k, val, found := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		switch {
		case !found:
			bad = append(bad, fmt.Sprintf("#%d (no '=')", i+1))
		case !validHeaderName(k):
			bad = append(bad, fmt.Sprintf("#%d (name %q)", i+1, k))
		default:
			if _, err := url.PathUnescape(val); err != nil {
				bad = append(bad, fmt.Sprintf("#%d (value of %q)", i+1, k))
			}
		}
	}
	return bad
}

// validHeaderName reports whether k is an HTTP token (RFC 9110).
func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range k {
		if c > 0x7e || c <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, c) {
			return false
		}
	}
	return true
}

// checkTLSFiles checks the certificate files the exporter will read (the
// per-signal variable wins), since the exporter alone would go on without
// them after a message nobody sees.
func checkTLSFiles(sig, gen string) error {
	pick := func(name string) (string, string) {
		if v, ok := lookup(sig + name); ok {
			return sig + name, v
		}
		if v, ok := lookup(gen + name); ok {
			return gen + name, v
		}
		return "", ""
	}
	if name, file := pick("CERTIFICATE"); file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("%s=%q: no PEM certificate in the file", name, file)
		}
	}
	certVar, cert := pick("CLIENT_CERTIFICATE")
	keyVar, key := pick("CLIENT_KEY")
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "":
		return fmt.Errorf("%s is set without a CLIENT_CERTIFICATE", keyVar)
	case key == "":
		return fmt.Errorf("%s is set without a CLIENT_KEY", certVar)
	}
	cb, err := os.ReadFile(cert)
	if err != nil {
		return fmt.Errorf("%s: %w", certVar, err)
	}
	kb, err := os.ReadFile(key)
	if err != nil {
		return fmt.Errorf("%s: %w", keyVar, err)
	}
	if _, err := tls.X509KeyPair(cb, kb); err != nil {
		return fmt.Errorf("%s, %s: %w", certVar, keyVar, err)
	}
	return nil
}

// otlpProtocol resolves the protocol of one signal: option, then the
// per-signal variable, then the general one, then http/protobuf (the
// OpenTelemetry default). Invalid variables were reported and left unset.
func (e envConfig) otlpProtocol(signal, option string) (p, src string) {
	switch {
	case option != "":
		return option, "WithOTLPProtocol"
	case e.protocol[signal] != "":
		return e.protocol[signal], "OTEL_EXPORTER_OTLP_" + strings.ToUpper(signal) + "_PROTOCOL"
	case e.protocol[""] != "":
		return e.protocol[""], "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	return ProtocolHTTPProtobuf, ""
}

// samplerFromEnv builds the sampler named by OTEL_TRACES_SAMPLER. Unknown
// names and bad arguments fall back to the default with a warning, as the
// OpenTelemetry specification asks.
func (e *envConfig) samplerFromEnv() (sdktrace.Sampler, string) {
	ratio := func() float64 {
		if e.samplerArg == "" {
			return 1
		}
		f, err := strconv.ParseFloat(e.samplerArg, 64)
		if err != nil || f < 0 || f > 1 {
			e.warnings = append(e.warnings, fmt.Sprintf("OTEL_TRACES_SAMPLER_ARG=%q is not a ratio in [0,1]; using 1", e.samplerArg))
			return 1
		}
		return f
	}
	switch e.sampler {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on"
	case "always_on":
		return sdktrace.AlwaysSample(), "always_on"
	case "always_off":
		return sdktrace.NeverSample(), "always_off"
	case "traceidratio":
		r := ratio()
		return sdktrace.TraceIDRatioBased(r), "traceidratio " + strconv.FormatFloat(r, 'g', -1, 64)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), "parentbased_always_off"
	case "parentbased_traceidratio":
		r := ratio()
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(r)), "parentbased_traceidratio " + strconv.FormatFloat(r, 'g', -1, 64)
	case "jaeger_remote", "parentbased_jaeger_remote", "xray":
		e.warnings = append(e.warnings, fmt.Sprintf("OTEL_TRACES_SAMPLER=%q is not supported by verdict (a remote sampler needs its own client and polling; configure sampling in the collector or pass WithSampler); using parentbased_always_on", e.sampler))
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on"
	}
	e.warnings = append(e.warnings, fmt.Sprintf("OTEL_TRACES_SAMPLER=%q is not supported; using parentbased_always_on", e.sampler))
	return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on"
}
