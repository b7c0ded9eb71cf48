package tracer

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// envConfig is what Start reads from the OTEL_* environment variables, once.
// (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are read by the resource
// detector; OTLP headers, TLS and timeouts by the OTLP exporters, also
// during Start.)
type envConfig struct {
	disabled        bool
	tracesExporters []string // nil: not set
	metricsExporter []string
	logsExporters   []string
	protocol        map[string]string // signal -> protocol ("" key: all signals)
	endpoint        map[string]string // signal -> endpoint, for Status only
	sampler         string
	samplerArg      string
	promHost        string
	promPort        string
	ebpf            EBPFMode // VERDICT_EBPF
	warnings        []string // invalid values, reported through the diagnostics logger
}

func readEnv() envConfig {
	e := envConfig{
		protocol: map[string]string{},
		endpoint: map[string]string{},
	}
	if v := strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.warnings = append(e.warnings, fmt.Sprintf("OTEL_SDK_DISABLED=%q is not a boolean; SDK stays enabled", v))
		}
		e.disabled = b
	}
	e.tracesExporters = envList("OTEL_TRACES_EXPORTER")
	e.metricsExporter = envList("OTEL_METRICS_EXPORTER")
	e.logsExporters = envList("OTEL_LOGS_EXPORTER")
	e.protocol[""] = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	e.endpoint[""] = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	for _, s := range []string{"TRACES", "METRICS", "LOGS"} {
		e.protocol[strings.ToLower(s)] = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_" + s + "_PROTOCOL"))
		e.endpoint[strings.ToLower(s)] = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_" + s + "_ENDPOINT"))
	}
	e.sampler = strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")))
	e.samplerArg = strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
	e.promHost = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_PROMETHEUS_HOST"))
	e.promPort = strings.TrimSpace(os.Getenv("OTEL_EXPORTER_PROMETHEUS_PORT"))
	switch v := strings.ToLower(strings.TrimSpace(os.Getenv("VERDICT_EBPF"))); v {
	case "", "auto":
		e.ebpf = EBPFAuto
	case "off", "false", "0":
		e.ebpf = EBPFOff
	case "required", "on", "true", "1":
		e.ebpf = EBPFRequired
	default:
		e.warnings = append(e.warnings, fmt.Sprintf("VERDICT_EBPF=%q: use auto, off or required; using auto", v))
	}
	return e
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

// otlpProtocol resolves the protocol of one signal: option, then the
// per-signal variable, then the general one, then http/protobuf (the
// OpenTelemetry default).
func (e envConfig) otlpProtocol(signal, option string) (string, error) {
	p := option
	src := "WithOTLPProtocol"
	if p == "" {
		p, src = e.protocol[signal], "OTEL_EXPORTER_OTLP_"+strings.ToUpper(signal)+"_PROTOCOL"
	}
	if p == "" {
		p, src = e.protocol[""], "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	switch p {
	case "":
		return ProtocolHTTPProtobuf, nil
	case ProtocolGRPC, ProtocolHTTPProtobuf:
		return p, nil
	case "http/json":
		return "", fmt.Errorf("%s=%q: not supported by the Go OTLP exporters (use %q or %q)", src, p, ProtocolGRPC, ProtocolHTTPProtobuf)
	}
	return "", fmt.Errorf("%s=%q: unknown protocol (use %q or %q)", src, p, ProtocolGRPC, ProtocolHTTPProtobuf)
}

// otlpEndpoint says where a signal goes, for Status.
func (e envConfig) otlpEndpoint(signal, protocol, option string) string {
	if option != "" {
		return option
	}
	if v := e.endpoint[signal]; v != "" {
		return v
	}
	if v := e.endpoint[""]; v != "" {
		return v
	}
	// The specification's defaults: plain HTTP to a local collector (the
	// Go exporters would otherwise require TLS to localhost).
	if protocol == ProtocolGRPC {
		return "http://localhost:4317"
	}
	return "http://localhost:4318"
}

// otlpDefaultEndpoint reports whether no endpoint is configured for signal,
// so that the specification's default (http://localhost:4317 or :4318,
// without TLS) applies.
func (e envConfig) otlpDefaultEndpoint(signal, option string) bool {
	return option == "" && e.endpoint[signal] == "" && e.endpoint[""] == ""
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
	}
	e.warnings = append(e.warnings, fmt.Sprintf("OTEL_TRACES_SAMPLER=%q is not supported; using parentbased_always_on", e.sampler))
	return sdktrace.ParentBased(sdktrace.AlwaysSample()), "parentbased_always_on"
}
