package tracer

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/otlptest"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
)

// Tests of the OTEL_* variables, one (or a table of subtests) per row of the
// README's Configuration table. Each fails when its variable is ignored.

// cleanEnv empties every OTEL_* variable of the caller's environment, so
// that each test sees only what it sets.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "")
		}
	}
}

// setEnv sets name=value pairs.
func setEnv(t *testing.T, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

// diagText joins the messages the diagnostics logger received.
func diagText(c *captureHandler) string {
	var msgs []string
	for _, r := range c.all() {
		m := r["msg"].(string)
		for k, v := range r {
			if k != "msg" && k != "level" {
				m += " " + k + "=" + fmt.Sprint(v)
			}
		}
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "\n")
}

// startEnv starts a Tracer without globals, with the console off, an
// in-memory span exporter and log exporter, and a capturing diagnostics
// logger.
func startEnv(t *testing.T, opts ...Option) (*Tracer, *tracetest.InMemoryExporter, *memLogExporter, *captureHandler) {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	logs := &memLogExporter{}
	diag := newCapture()
	base := []Option{quiet(), WithoutGlobals(), WithLogger(slog.New(diag)), WithSpanExporter(spans), WithLogExporter(logs),
		WithMetricReader(sdkmetric.NewManualReader())}
	tr, err := Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, spans, logs, diag
}

// --- General SDK configuration ---

// OTEL_SDK_DISABLED: only "true" (any case) disables; anything but
// true/false is a warning and the SDK stays on.
func TestEnvSDKDisabledBoolean(t *testing.T) {
	for _, tc := range []struct {
		value    string
		disabled bool
		warn     bool
	}{{"TRUE", true, false}, {"false", false, false}, {"1", false, true}, {"yes", false, true}} {
		t.Run(tc.value, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("OTEL_SDK_DISABLED", tc.value)
			tr, _, _, diag := startEnv(t)
			if tr.Status().Disabled != tc.disabled {
				t.Errorf("disabled = %v, want %v", tr.Status().Disabled, tc.disabled)
			}
			if got := strings.Contains(diagText(diag), "OTEL_SDK_DISABLED="); got != tc.warn {
				t.Errorf("warning = %v, want %v: %s", got, tc.warn, diagText(diag))
			}
		})
	}
}

// OTEL_SDK_DISABLED leaves the propagators configured by OTEL_PROPAGATORS
// on (the specification says so).
func TestEnvSDKDisabledKeepsPropagators(t *testing.T) {
	cleanEnv(t)
	setEnv(t, "OTEL_SDK_DISABLED", "true", "OTEL_PROPAGATORS", "b3")
	tr, _, _, _ := startEnv(t)
	if c, _ := tr.Status().Component("propagation"); c.State != probes.StateOn || c.Detail != "b3 (not the global propagator: WithoutGlobals)" {
		t.Errorf("propagation = %+v", c)
	}
}

// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK's
// resource detector) are in TestEnvironmentHonoured; a malformed
// OTEL_RESOURCE_ATTRIBUTES is reported.
func TestEnvResourceAttributesMalformedIsReported(t *testing.T) {
	cleanEnv(t)
	setEnv(t, "OTEL_RESOURCE_ATTRIBUTES", "team=a,broken", "OTEL_SERVICE_NAME", "svc")
	tr, spans, _, diag := startEnv(t)
	if !strings.Contains(diagText(diag), "resource") || !strings.Contains(diagText(diag), "broken") {
		t.Errorf("diagnostics = %s", diagText(diag))
	}
	_, s := tr.TracerProvider().Tracer("t").Start(context.Background(), "op")
	s.End()
	_ = tr.ForceFlush(context.Background())
	if got := resourceValue(t, spans.GetSpans().Snapshots()[0], "service.name"); got != "svc" {
		t.Errorf("service.name = %q", got)
	}
}

// OTEL_TRACES_SAMPLER_ARG: a ratio of 0 samples nothing; a bad one is
// reported and ignored (ratio 1).
func TestEnvSamplerArg(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		sampled bool
		warn    bool
	}{{"0", false, false}, {"1", true, false}, {"two", true, true}, {"1.5", true, true}} {
		t.Run(tc.arg, func(t *testing.T) {
			cleanEnv(t)
			setEnv(t, "OTEL_TRACES_SAMPLER", "traceidratio", "OTEL_TRACES_SAMPLER_ARG", tc.arg)
			tr, _, _, diag := startEnv(t)
			_, s := tr.TracerProvider().Tracer("t").Start(context.Background(), "op")
			s.End()
			if s.SpanContext().IsSampled() != tc.sampled {
				t.Errorf("sampled = %v, want %v", s.SpanContext().IsSampled(), tc.sampled)
			}
			if got := strings.Contains(diagText(diag), "OTEL_TRACES_SAMPLER_ARG"); got != tc.warn {
				t.Errorf("warning = %v: %s", got, diagText(diag))
			}
		})
	}
}

// OTEL_LOG_LEVEL sets the level of verdict's diagnostics, including the
// OpenTelemetry Go internal logger, which verdict routes there.
func TestEnvLogLevel(t *testing.T) {
	for _, tc := range []struct {
		level     string
		warnings  bool // a warning about an invalid VERDICT_EBPF value
		otelDebug bool // the SDK's "TracerProvider created" (logr V(4))
	}{{"", true, false}, {"error", false, false}, {"none", false, false}, {"debug", true, true}} {
		t.Run("level="+tc.level, func(t *testing.T) {
			cleanEnv(t)
			setEnv(t, "OTEL_LOG_LEVEL", tc.level, "VERDICT_EBPF", "bogus")
			prev := otel.GetTracerProvider()
			prevProp := otel.GetTextMapPropagator()
			prevEH := otel.GetErrorHandler()
			defer func() {
				otel.SetTracerProvider(prev)
				otel.SetTextMapPropagator(prevProp)
				otel.SetErrorHandler(prevEH)
			}()
			diag := newCapture()
			tr, err := Start(context.Background(), quiet(), WithLogger(slog.New(diag)),
				WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, tr)
			text := diagText(diag)
			if got := strings.Contains(text, "VERDICT_EBPF"); got != tc.warnings {
				t.Errorf("warning delivered = %v, want %v:\n%s", got, tc.warnings, text)
			}
			if got := strings.Contains(text, "opentelemetry: TracerProvider created"); got != tc.otelDebug {
				t.Errorf("SDK debug record delivered = %v, want %v:\n%s", got, tc.otelDebug, text)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("OTEL_LOG_LEVEL", "loud")
		_, _, _, diag := startEnv(t)
		if !strings.Contains(diagText(diag), `OTEL_LOG_LEVEL="loud"`) {
			t.Errorf("diagnostics = %s", diagText(diag))
		}
	})
}

// Variables of the specification verdict does not implement are reported
// when set, never silently ignored.
func TestEnvUnsupportedReported(t *testing.T) {
	for _, u := range unsupportedEnv {
		t.Run(u.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv(u.name, "x")
			_, _, _, diag := startEnv(t)
			if !strings.Contains(diagText(diag), u.name+`="x" is not supported by verdict`) {
				t.Errorf("diagnostics = %s", diagText(diag))
			}
		})
	}
}

// OTEL_EXPORTER_PROMETHEUS_PORT must be a port number.
func TestEnvPrometheusPortMalformed(t *testing.T) {
	cleanEnv(t)
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "ninety")
	_, _, _, diag := startEnv(t)
	if !strings.Contains(diagText(diag), `OTEL_EXPORTER_PROMETHEUS_PORT="ninety" is not an integer`) {
		t.Errorf("diagnostics = %s", diagText(diag))
	}
}

// --- OTEL_PROPAGATORS ---

// B3 headers go in and out through verdict's own middleware, with the
// tracer's propagator (from OTEL_PROPAGATORS) as the global one: a client
// sends B3 to a front server, which calls a back server through
// middleware.NewTransport.
func TestEnvPropagatorsB3ThroughMiddleware(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		inject      func(h http.Header, traceID, spanID string)
		received    func(h http.Header) (traceID string)
	}{
		{"b3", "b3", func(h http.Header, tid, sid string) { h.Set("b3", tid+"-"+sid+"-1") },
			func(h http.Header) string { return strings.Split(h.Get("b3"), "-")[0] }},
		{"b3multi", "b3multi", func(h http.Header, tid, sid string) {
			h.Set("X-B3-TraceId", tid)
			h.Set("X-B3-SpanId", sid)
			h.Set("X-B3-Sampled", "1")
		}, func(h http.Header) string { return h.Get("X-B3-TraceId") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("OTEL_PROPAGATORS", tc.value)
			prevTP, prevProp, prevEH := otel.GetTracerProvider(), otel.GetTextMapPropagator(), otel.GetErrorHandler()
			defer func() {
				otel.SetTracerProvider(prevTP)
				otel.SetTextMapPropagator(prevProp)
				otel.SetErrorHandler(prevEH)
			}()
			spans := tracetest.NewInMemoryExporter()
			tr, err := Start(context.Background(), quiet(), WithSpanExporter(spans),
				WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
			if err != nil {
				t.Fatal(err)
			}
			defer shutdown(t, tr)
			if otel.GetTextMapPropagator() != tr.Propagator() {
				t.Fatal("the tracer's propagator is not the global one")
			}

			backHeaders := make(chan http.Header, 1)
			back := serve(t, middleware.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				backHeaders <- r.Header.Clone()
			})))
			client := &http.Client{Transport: middleware.NewTransport(http.DefaultTransport)}
			defer client.CloseIdleConnections()
			front := serve(t, middleware.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, back+"/", nil)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			})))

			const traceID, spanID = "463ac35c9f6413ad48485a3953bb6124", "0020000000000001"
			req, _ := http.NewRequest(http.MethodGet, front+"/", nil)
			tc.inject(req.Header, traceID, spanID)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()

			h := <-backHeaders
			if got := tc.received(h); got != traceID {
				t.Errorf("back server got %s trace ID %q, want %q (headers %v)", tc.name, got, traceID, h)
			}
			if h.Get("traceparent") != "" {
				t.Errorf("back server got a traceparent with OTEL_PROPAGATORS=%s: %v", tc.value, h)
			}
			_ = tr.ForceFlush(context.Background())
			var server sdktrace.ReadOnlySpan
			for _, s := range spans.GetSpans().Snapshots() {
				if s.SpanKind() == trace.SpanKindServer && s.Parent().SpanID().String() == spanID {
					server = s
				}
			}
			if server == nil || server.SpanContext().TraceID().String() != traceID {
				t.Errorf("no server span continues the incoming %s context; spans: %v", tc.name, spans.GetSpans().Snapshots())
			}
		})
	}
}

// serve runs h on a loopback server for the test's lifetime and returns its
// base URL.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return "http://" + ln.Addr().String()
}

// Each known OTEL_PROPAGATORS name injects its own header; unknown names are
// reported; none turns propagation off; WithPropagators wins.
func TestEnvPropagatorsNames(t *testing.T) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	for _, tc := range []struct {
		value  string
		header string // injected
		absent string // not injected
		warn   string
	}{
		{"", "traceparent", "b3", ""},
		{"tracecontext", "traceparent", "baggage", ""},
		{"B3, b3", "b3", "traceparent", ""},
		{"b3multi", "X-B3-Traceid", "b3", ""},
		{"jaeger", "uber-trace-id", "traceparent", ""},
		{"xray", "X-Amzn-Trace-Id", "traceparent", ""},
		{"ottrace", "ot-tracer-traceid", "traceparent", ""},
		{"b3,zipkin", "b3", "traceparent", "zipkin"},
		{"zipkin", "traceparent", "b3", "names no known propagator"},
	} {
		t.Run(tc.value, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("OTEL_PROPAGATORS", tc.value)
			tr, _, _, diag := startEnv(t)
			h := http.Header{}
			tr.Propagator().Inject(ctx, propagation.HeaderCarrier(h))
			if h.Get(tc.header) == "" || h.Get(tc.absent) != "" {
				t.Errorf("injected %v, want %s and no %s", h, tc.header, tc.absent)
			}
			if tc.warn != "" && !strings.Contains(diagText(diag), tc.warn) {
				t.Errorf("diagnostics = %s", diagText(diag))
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("OTEL_PROPAGATORS", "none")
		tr, _, _, _ := startEnv(t)
		h := http.Header{}
		tr.Propagator().Inject(ctx, propagation.HeaderCarrier(h))
		if len(h) != 0 {
			t.Errorf("injected %v with none", h)
		}
		if c, _ := tr.Status().Component("propagation"); c.State != probes.StateOff || c.Reason != "OTEL_PROPAGATORS=none" {
			t.Errorf("propagation = %+v", c)
		}
	})
	t.Run("option wins", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("OTEL_PROPAGATORS", "b3")
		tr, _, _, _ := startEnv(t, WithPropagators(propagation.TraceContext{}))
		h := http.Header{}
		tr.Propagator().Inject(ctx, propagation.HeaderCarrier(h))
		if h.Get("traceparent") == "" || h.Get("b3") != "" {
			t.Errorf("injected %v; WithPropagators must win over OTEL_PROPAGATORS", h)
		}
	})
}

// --- Limits ---

func spanAttr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.AsString(), true
		}
	}
	return "", false
}

func logAttrs(r sdklog.Record) map[string]string {
	out := map[string]string{}
	r.WalkAttributes(func(kv attribute.KeyValue) bool {
		out[string(kv.Key)] = kv.Value.Emit()
		return true
	})
	return out
}

// The attribute, span and log record limits reach the spans and log records
// as the specification says: per-signal variables first, then the general
// OTEL_ATTRIBUTE_* (which the Go log SDK does not read by itself).
func TestEnvLimits(t *testing.T) {
	long := "abcdefghij"
	for _, tc := range []struct {
		name  string
		env   []string
		check func(t *testing.T, s sdktrace.ReadOnlySpan, logs map[string]string)
	}{
		{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", []string{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4"}, func(t *testing.T, s sdktrace.ReadOnlySpan, l map[string]string) {
			if v, _ := spanAttr(s, "a"); v != "abcd" {
				t.Errorf("span a = %q", v)
			}
			if l["a"] != "abcd" {
				t.Errorf("log a = %q", l["a"])
			}
		}},
		{"OTEL_ATTRIBUTE_COUNT_LIMIT", []string{"OTEL_ATTRIBUTE_COUNT_LIMIT", "2"}, func(t *testing.T, s sdktrace.ReadOnlySpan, l map[string]string) {
			if len(s.Attributes()) != 2 || s.DroppedAttributes() != 1 {
				t.Errorf("span attributes %v, dropped %d", s.Attributes(), s.DroppedAttributes())
			}
			if len(l) != 2 {
				t.Errorf("log attributes %v", l)
			}
		}},
		{"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", []string{"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "6"}, func(t *testing.T, s sdktrace.ReadOnlySpan, l map[string]string) {
			if v, _ := spanAttr(s, "a"); v != "abc" {
				t.Errorf("span a = %q (the span variable wins over the general one)", v)
			}
			if l["a"] != "abcdef" {
				t.Errorf("log a = %q (the general limit applies to logs)", l["a"])
			}
		}},
		{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", []string{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "1"}, func(t *testing.T, s sdktrace.ReadOnlySpan, l map[string]string) {
			if len(s.Attributes()) != 1 || len(l) != 3 {
				t.Errorf("span attributes %v, log attributes %v", s.Attributes(), l)
			}
		}},
		{"OTEL_SPAN_EVENT_COUNT_LIMIT", []string{"OTEL_SPAN_EVENT_COUNT_LIMIT", "1"}, func(t *testing.T, s sdktrace.ReadOnlySpan, _ map[string]string) {
			if len(s.Events()) != 1 || s.DroppedEvents() != 2 {
				t.Errorf("events %d, dropped %d", len(s.Events()), s.DroppedEvents())
			}
		}},
		{"OTEL_SPAN_LINK_COUNT_LIMIT", []string{"OTEL_SPAN_LINK_COUNT_LIMIT", "1"}, func(t *testing.T, s sdktrace.ReadOnlySpan, _ map[string]string) {
			if len(s.Links()) != 1 || s.DroppedLinks() != 1 {
				t.Errorf("links %d, dropped %d", len(s.Links()), s.DroppedLinks())
			}
		}},
		{"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", []string{"OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1"}, func(t *testing.T, s sdktrace.ReadOnlySpan, _ map[string]string) {
			if e := s.Events()[0]; len(e.Attributes) != 1 || e.DroppedAttributeCount != 2 {
				t.Errorf("event attributes %v, dropped %d", e.Attributes, e.DroppedAttributeCount)
			}
		}},
		{"OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", []string{"OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "1"}, func(t *testing.T, s sdktrace.ReadOnlySpan, _ map[string]string) {
			if l := s.Links()[0]; len(l.Attributes) != 1 || l.DroppedAttributeCount != 2 {
				t.Errorf("link attributes %v, dropped %d", l.Attributes, l.DroppedAttributeCount)
			}
		}},
		{"OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", []string{"OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT", "2", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5"}, func(t *testing.T, s sdktrace.ReadOnlySpan, l map[string]string) {
			if v, _ := spanAttr(s, "a"); v != "abcde" || l["a"] != "ab" {
				t.Errorf("span a = %q, log a = %q", v, l["a"])
			}
		}},
		{"OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", []string{"OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT", "1"}, func(t *testing.T, s sdktrace.ReadOnlySpan, l map[string]string) {
			if len(l) != 1 || len(s.Attributes()) != 3 {
				t.Errorf("log attributes %v, span attributes %v", l, s.Attributes())
			}
		}},
		// A negative limit is invalid (not "unlimited", as the Go SDK would
		// read it): reported, and the default applies.
		{"negative", []string{"OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-1", "OTEL_ATTRIBUTE_COUNT_LIMIT", "2"}, func(t *testing.T, s sdktrace.ReadOnlySpan, _ map[string]string) {
			if len(s.Attributes()) != 2 {
				t.Errorf("span attributes %v, want the general limit 2 after the invalid span limit", s.Attributes())
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			setEnv(t, tc.env...)
			tr, spans, logs, diag := startEnv(t)
			other := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}})
			link := trace.Link{SpanContext: other, Attributes: []attribute.KeyValue{attribute.Int("l1", 1), attribute.Int("l2", 2), attribute.Int("l3", 3)}}
			_, s := tr.TracerProvider().Tracer("t").Start(context.Background(), "op",
				trace.WithLinks(link, trace.Link{SpanContext: other}),
				trace.WithAttributes(attribute.String("a", long), attribute.String("b", "b"), attribute.String("c", "c")))
			for range 3 {
				s.AddEvent("e", trace.WithAttributes(attribute.Int("e1", 1), attribute.Int("e2", 2), attribute.Int("e3", 3)))
			}
			s.End()
			tr.Logger().Info("m", "a", long, "b", "b", "c", "c")
			if err := tr.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			ss := spans.GetSpans().Snapshots()
			recs := logs.all()
			if len(ss) != 1 || len(recs) != 1 {
				t.Fatalf("%d spans, %d log records", len(ss), len(recs))
			}
			tc.check(t, ss[0], logAttrs(recs[0]))
			if tc.name == "negative" && !strings.Contains(diagText(diag), `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT="-1"`) {
				t.Errorf("diagnostics = %s", diagText(diag))
			}
		})
	}
}

// --- Metrics SDK ---

// OTEL_METRICS_EXEMPLAR_FILTER (read by the SDK's meter provider):
// always_off removes the exemplar a sampled span would give, always_on adds
// one without a span; an unknown value is reported.
func TestEnvExemplarFilter(t *testing.T) {
	for _, tc := range []struct {
		value              string
		inSpan, outsideSpn int
	}{{"", 1, 0}, {"always_off", 0, 0}, {"always_on", 1, 1}, {"sometimes", 1, 0}} {
		t.Run("filter="+tc.value, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("OTEL_METRICS_EXEMPLAR_FILTER", tc.value)
			reader := sdkmetric.NewManualReader()
			tr, _, _, diag := startEnv(t, WithMetricReader(reader))
			h, _ := tr.MeterProvider().Meter("t").Float64Histogram("test.latency")
			ctx, s := tr.TracerProvider().Tracer("t").Start(context.Background(), "op")
			h.Record(ctx, 1, metricAttr("where", "span"))
			s.End()
			h.Record(context.Background(), 1, metricAttr("where", "none"))
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					if hd, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == "test.latency" {
						for _, dp := range hd.DataPoints {
							w, _ := dp.Attributes.Value("where")
							got[w.AsString()] = len(dp.Exemplars)
						}
					}
				}
			}
			if got["span"] != tc.inSpan || got["none"] != tc.outsideSpn {
				t.Errorf("exemplars %v, want span=%d none=%d", got, tc.inSpan, tc.outsideSpn)
			}
			if tc.value == "sometimes" && !strings.Contains(diagText(diag), `OTEL_METRICS_EXEMPLAR_FILTER="sometimes"`) {
				t.Errorf("diagnostics = %s", diagText(diag))
			}
		})
	}
}

// --- Batch span and log record processors (verdict's bounded batcher) ---

// otlpEnvTracer starts a Tracer that exports every signal with OTLP/HTTP to
// rcv, configured through the environment only.
func otlpEnvTracer(t *testing.T, rcv *otlptest.Receiver, kv ...string) (*Tracer, *captureHandler) {
	t.Helper()
	setEnv(t, "OTEL_EXPORTER_OTLP_ENDPOINT", rcv.HTTPEndpoint())
	setEnv(t, kv...)
	diag := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	})
	return tr, diag
}

func startReceiver(t *testing.T, o otlptest.Options) *otlptest.Receiver {
	t.Helper()
	rcv, err := otlptest.StartWith(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rcv.Close() })
	return rcv
}

// requestSizes returns the item counts of the requests of one signal.
func requestSizes(rcv *otlptest.Receiver, signal string) []int {
	var out []int
	for _, r := range rcv.Requests() {
		if r.Signal == signal {
			out = append(out, r.Items)
		}
	}
	return out
}

// emitter makes n items of one signal.
type emitter struct {
	signal string
	prefix string // OTEL_BSP_ or OTEL_BLRP_
	emit   func(tr *Tracer, n int)
}

var batchSignals = []emitter{
	{"traces", "OTEL_BSP_", func(tr *Tracer, n int) { spanLoop(tr.TracerProvider().Tracer("t"), n, "") }},
	{"logs", "OTEL_BLRP_", func(tr *Tracer, n int) {
		for range n {
			tr.Logger().Info("record")
		}
	}},
}

func TestEnvBatchMaxExportBatchSize(t *testing.T) {
	for _, e := range batchSignals {
		t.Run(e.prefix+"MAX_EXPORT_BATCH_SIZE", func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			tr, _ := otlpEnvTracer(t, rcv, e.prefix+"MAX_EXPORT_BATCH_SIZE", "3", "OTEL_METRICS_EXPORTER", "none")
			e.emit(tr, 10)
			if err := tr.ForceFlush(context.Background()); err != nil {
				t.Fatal(err)
			}
			sizes := requestSizes(rcv, e.signal)
			total := 0
			for _, n := range sizes {
				total += n
				if n > 3 {
					t.Errorf("a request carried %d items, more than the batch size 3: %v", n, sizes)
				}
			}
			if total != 10 || len(sizes) < 4 {
				t.Errorf("request sizes %v, want 10 items in batches of at most 3", sizes)
			}
		})
	}
}

func TestEnvBatchScheduleDelay(t *testing.T) {
	t.Run("OTEL_BSP_SCHEDULE_DELAY", func(t *testing.T) {
		// 50 ms instead of the default 5 s: the span arrives without a flush.
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		tr, _ := otlpEnvTracer(t, rcv, "OTEL_BSP_SCHEDULE_DELAY", "50", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		spanLoop(tr.TracerProvider().Tracer("t"), 1, "")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := rcv.Wait(ctx, func() bool { return len(rcv.Spans()) == 1 }); err != nil {
			t.Errorf("span not exported within 3 s with OTEL_BSP_SCHEDULE_DELAY=50: %v", err)
		}
	})
	t.Run("OTEL_BLRP_SCHEDULE_DELAY", func(t *testing.T) {
		// 20 s instead of the default 1 s: nothing arrives within 2.5 s, and
		// the record is still there for a flush.
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		tr, _ := otlpEnvTracer(t, rcv, "OTEL_BLRP_SCHEDULE_DELAY", "20000", "OTEL_METRICS_EXPORTER", "none", "OTEL_TRACES_EXPORTER", "none")
		tr.Logger().Info("held")
		ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
		defer cancel()
		if err := rcv.Wait(ctx, func() bool { return len(rcv.LogRecords()) > 0 }); err == nil {
			t.Error("log record exported before OTEL_BLRP_SCHEDULE_DELAY=20000 passed")
		}
		if err := tr.ForceFlush(context.Background()); err != nil || len(rcv.LogRecords()) != 1 {
			t.Errorf("after ForceFlush: %v, %d records", err, len(rcv.LogRecords()))
		}
	})
	t.Run("zero", func(t *testing.T) {
		// 0: each item leaves as soon as the queue is empty.
		cleanEnv(t)
		rcv := startReceiver(t, otlptest.Options{})
		tr, _ := otlpEnvTracer(t, rcv, "OTEL_BSP_SCHEDULE_DELAY", "0", "OTEL_METRICS_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
		spanLoop(tr.TracerProvider().Tracer("t"), 1, "")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if err := rcv.Wait(ctx, func() bool { return len(rcv.Spans()) == 1 }); err != nil {
			t.Errorf("span not exported with OTEL_BSP_SCHEDULE_DELAY=0: %v", err)
		}
	})
}

// With the receiver stuck, a queue of 5 (and batches of 5) holds 5 items
// plus the 5 in flight; the rest of 100 are dropped and counted.
func TestEnvBatchMaxQueueSize(t *testing.T) {
	for _, e := range batchSignals {
		t.Run(e.prefix+"MAX_QUEUE_SIZE", func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			rcv.SetDelay(2 * time.Second)
			tr, _ := otlpEnvTracer(t, rcv, e.prefix+"MAX_QUEUE_SIZE", "5", e.prefix+"MAX_EXPORT_BATCH_SIZE", "5",
				"OTEL_METRICS_EXPORTER", "none")
			e.emit(tr, 100)
			c, _ := tr.Status().Component(e.signal)
			if c.Dropped < 90 || c.Dropped > 95 {
				t.Errorf("dropped %d of 100 with a queue of 5, want 90 to 95: %+v", c.Dropped, c)
			}
		})
	}
}

// A receiver slower than the export timeout: the export is abandoned and
// counted as failed (with the default 30 s it would succeed after 2 s).
func TestEnvBatchExportTimeout(t *testing.T) {
	for _, e := range batchSignals {
		t.Run(e.prefix+"EXPORT_TIMEOUT", func(t *testing.T) {
			cleanEnv(t)
			rcv := startReceiver(t, otlptest.Options{})
			rcv.SetDelay(2 * time.Second)
			tr, _ := otlpEnvTracer(t, rcv, e.prefix+"EXPORT_TIMEOUT", "100", "OTEL_METRICS_EXPORTER", "none")
			e.emit(tr, 1)
			err := tr.ForceFlush(context.Background())
			c, _ := tr.Status().Component(e.signal)
			if err == nil || c.Dropped != 1 {
				t.Errorf("ForceFlush = %v, %s = %+v; want the export abandoned after 100 ms", err, e.signal, c)
			}
		})
	}
}

// Invalid batch values are reported and ignored; a batch larger than the
// queue is cut to the queue, as the specification requires.
func TestEnvBatchInvalid(t *testing.T) {
	cleanEnv(t)
	setEnv(t, "OTEL_BSP_MAX_QUEUE_SIZE", "0", "OTEL_BLRP_SCHEDULE_DELAY", "-5",
		"OTEL_BSP_EXPORT_TIMEOUT", "soon", "OTEL_BLRP_MAX_QUEUE_SIZE", "10", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "20")
	_, _, _, diag := startEnv(t)
	text := diagText(diag)
	for _, want := range []string{`OTEL_BSP_MAX_QUEUE_SIZE="0"`, `OTEL_BLRP_SCHEDULE_DELAY="-5"`, `OTEL_BSP_EXPORT_TIMEOUT="soon"`,
		"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=20 is larger than the queue (10)"} {
		if !strings.Contains(text, want) {
			t.Errorf("diagnostics lack %q:\n%s", want, text)
		}
	}
	l := resolveBatch(batchLimits{queueSize: 2048, batchSize: 512}, batchEnv{queueSize: some(10), batchSize: some(20)}, batchLimits{}, "X_", maxLogQueue, func(string) {})
	if l.batchSize != 10 {
		t.Errorf("batch = %d, want 10", l.batchSize)
	}
	l = resolveBatch(batchLimits{queueSize: 2048, batchSize: 512}, batchEnv{queueSize: some(1 << 30)}, batchLimits{queueSize: 0}, "X_", maxLogQueue, func(string) {})
	if l.queueSize != maxLogQueue {
		t.Errorf("queue = %d, want the bound %d", l.queueSize, maxLogQueue)
	}
	// Options win over the environment.
	l = resolveBatch(batchLimits{queueSize: 2048, batchSize: 512}, batchEnv{batchSize: some(3)}, batchLimits{batchSize: 7}, "X_", maxLogQueue, func(string) {})
	if l.batchSize != 7 {
		t.Errorf("batch = %d, want the option's 7", l.batchSize)
	}
}

// --- Periodic metric reader ---

func TestEnvMetricExportInterval(t *testing.T) {
	cleanEnv(t)
	rcv := startReceiver(t, otlptest.Options{})
	tr, _ := otlpEnvTracer(t, rcv, "OTEL_METRIC_EXPORT_INTERVAL", "100", "OTEL_TRACES_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
	c, _ := tr.MeterProvider().Meter("t").Int64Counter("test.ticks")
	c.Add(context.Background(), 1)
	// Two exports without a flush (the default interval is 60 s).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rcv.Wait(ctx, func() bool { return len(requestSizes(rcv, "metrics")) >= 2 }); err != nil {
		t.Errorf("%d metric exports in 5 s with OTEL_METRIC_EXPORT_INTERVAL=100: %v", len(requestSizes(rcv, "metrics")), err)
	}
}

func TestEnvMetricExportTimeout(t *testing.T) {
	cleanEnv(t)
	rcv := startReceiver(t, otlptest.Options{})
	rcv.SetDelay(2 * time.Second)
	tr, _ := otlpEnvTracer(t, rcv, "OTEL_METRIC_EXPORT_TIMEOUT", "100", "OTEL_TRACES_EXPORTER", "none", "OTEL_LOGS_EXPORTER", "none")
	c, _ := tr.MeterProvider().Meter("t").Int64Counter("test.ticks")
	c.Add(context.Background(), 1)
	begin := time.Now()
	err := tr.ForceFlush(context.Background())
	// The reader's own goroutine ends the export at the same deadline.
	mc, _ := tr.Status().Component("metrics")
	for mc.Dropped == 0 && time.Since(begin) < 5*time.Second {
		time.Sleep(10 * time.Millisecond)
		mc, _ = tr.Status().Component("metrics")
	}
	if err == nil || mc.Dropped == 0 || mc.State != probes.StateDegraded {
		t.Errorf("ForceFlush = %v, metrics = %+v; want the export abandoned after 100 ms", err, mc)
	}
}

func TestEnvMetricIntervalInvalid(t *testing.T) {
	cleanEnv(t)
	setEnv(t, "OTEL_METRIC_EXPORT_INTERVAL", "0", "OTEL_METRIC_EXPORT_TIMEOUT", "-1")
	_, _, _, diag := startEnv(t)
	text := diagText(diag)
	if !strings.Contains(text, "OTEL_METRIC_EXPORT_INTERVAL=0") || !strings.Contains(text, `OTEL_METRIC_EXPORT_TIMEOUT="-1"`) {
		t.Errorf("diagnostics = %s", text)
	}
}

func metricAttr(k, v string) metric.RecordOption {
	return metric.WithAttributes(attribute.String(k, v))
}
