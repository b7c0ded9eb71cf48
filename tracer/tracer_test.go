package tracer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

func resourceValue(t *testing.T, s sdktrace.ReadOnlySpan, key string) string {
	t.Helper()
	v, ok := s.Resource().Set().Value(attribute.Key(key))
	if !ok {
		return ""
	}
	return v.Emit()
}

func TestSpanExportedWithResource(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(),
		WithServiceName("checkout"), WithServiceVersion("1.2.3"), WithEnvironment("staging"),
		WithResourceAttributes(attribute.String("team", "payments")),
		WithSpanExporter(exp), WithMetricReader(reader), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)

	ctx, parent := tr.TracerProvider().Tracer("test").Start(context.Background(), "parent")
	_, child := tr.TracerProvider().Tracer("test").Start(ctx, "child")
	child.End()
	parent.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans().Snapshots()
	if len(spans) != 2 {
		t.Fatalf("exported %d spans, want 2", len(spans))
	}
	if spans[0].Name() != "child" || spans[0].Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("child span: name %q parent %v", spans[0].Name(), spans[0].Parent().SpanID())
	}
	for key, want := range map[string]string{
		"service.name":                "checkout",
		"service.version":             "1.2.3",
		"deployment.environment.name": "staging",
		"team":                        "payments",
		"telemetry.sdk.language":      "go",
	} {
		if got := resourceValue(t, spans[1], key); got != want {
			t.Errorf("resource %s = %q, want %q", key, got, want)
		}
	}
	if resourceValue(t, spans[1], "process.pid") == "" || resourceValue(t, spans[1], "host.name") == "" {
		t.Errorf("resource lacks process/host attributes: %v", spans[1].Resource())
	}

	// The manual reader sees metrics from the tracer's meter provider,
	// with the same resource.
	c, _ := tr.MeterProvider().Meter("test").Int64Counter("test.requests")
	c.Add(context.Background(), 3)
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if v, _ := rm.Resource.Set().Value("service.name"); v.AsString() != "checkout" {
		t.Errorf("metric resource service.name = %q", v.AsString())
	}
	if got := sumValue(rm, "test.requests", nil); got != 3 {
		t.Errorf("test.requests = %d, want 3", got)
	}
}

// sumValue returns the value of an int64 sum metric (optionally the point
// whose attributes include match).
func sumValue(rm metricdata.ResourceMetrics, name string, match map[string]string) int64 {
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
		points:
			for _, dp := range sum.DataPoints {
				for k, v := range match {
					if got, _ := dp.Attributes.Value(attribute.Key(k)); got.AsString() != v {
						continue points
					}
				}
				total += dp.Value
			}
		}
	}
	return total
}

func TestLoggerCarriesTraceAndSpanID(t *testing.T) {
	var console bytes.Buffer
	extra := newCapture()
	logs := &memLogExporter{}
	// The built-in probes off: without privileges, "probe ebpf is off" would
	// be a third console line (diagnostics go to the console too).
	tr, err := Start(context.Background(), WithoutGlobals(), WithEBPF(EBPFOff), WithoutRuntimeProbe(),
		WithConsoleFormat(ConsoleJSON), WithConsoleWriter(&console), WithLogHandler(extra),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(logs))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)

	ctx, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
	tr.Logger().InfoContext(ctx, "inside", "k", "v")
	tr.Logger().Info("outside")
	span.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()

	// Console (JSON).
	lines := strings.Split(strings.TrimSpace(console.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("console has %d lines, want 2:\n%s", len(lines), console.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first[semconv.LogKeyTraceID] != sc.TraceID().String() || first[semconv.LogKeySpanID] != sc.SpanID().String() || first["k"] != "v" {
		t.Errorf("console record in span: %v, want trace_id %s span_id %s", first, sc.TraceID(), sc.SpanID())
	}
	if _, ok := second[semconv.LogKeyTraceID]; ok {
		t.Errorf("record without span has trace_id: %v", second)
	}

	// Extra handler.
	recs := extra.all()
	if len(recs) != 2 || recs[0][semconv.LogKeyTraceID] != sc.TraceID().String() || recs[0][semconv.LogKeySpanID] != sc.SpanID().String() {
		t.Errorf("extra handler records: %v", recs)
	}

	// OpenTelemetry logs pipeline: the record's trace context is the span's.
	got := logs.all()
	if len(got) != 2 {
		t.Fatalf("OTel log records: %d, want 2", len(got))
	}
	if got[0].TraceID() != sc.TraceID() || got[0].SpanID() != sc.SpanID() || got[0].Body().AsString() != "inside" {
		t.Errorf("OTel record: trace %s span %s body %q", got[0].TraceID(), got[0].SpanID(), got[0].Body().AsString())
	}
	if got[1].TraceID().IsValid() {
		t.Errorf("OTel record outside a span has trace ID %s", got[1].TraceID())
	}
}

func TestLoggerIDsStayTopLevelInGroups(t *testing.T) {
	extra := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogHandler(extra),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	ctx, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
	defer span.End()
	tr.Logger().With("a", 1).WithGroup("req").With("b", 2).InfoContext(ctx, "grouped", "c", 3)
	recs := extra.all()
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r[semconv.LogKeyTraceID] != span.SpanContext().TraceID().String() || r["a"] != int64(1) || r["req.b"] != int64(2) || r["req.c"] != int64(3) {
		t.Errorf("grouped record = %v", r)
	}
}

func TestLogLevel(t *testing.T) {
	extra := newCapture()
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogHandler(extra), WithLogLevel(lv),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	tr.Logger().Info("dropped")
	tr.Logger().Warn("kept")
	lv.Set(slog.LevelInfo)
	tr.Logger().Info("kept too")
	if recs := extra.all(); len(recs) != 2 || recs[0]["msg"] != "kept" || recs[1]["msg"] != "kept too" {
		t.Errorf("records = %v", recs)
	}
}

func TestEnvironmentHonoured(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=env-team,region=eu")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "prometheus")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
	t.Setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")

	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithSpanExporter(exp))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)

	st := tr.Status()
	if st.Service != "from-env" {
		t.Errorf("service = %q, want from-env", st.Service)
	}
	if c, _ := st.Component("logs"); c.State != probes.StateOff || c.Reason != "OTEL_LOGS_EXPORTER=none" {
		t.Errorf("logs component = %+v", c)
	}
	if c, _ := st.Component("traces"); !strings.Contains(c.Detail, "sampler always_off") {
		t.Errorf("traces component = %+v", c)
	}

	// Sampler always_off: nothing recorded.
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
	if span.IsRecording() {
		t.Error("span recording under OTEL_TRACES_SAMPLER=always_off")
	}
	span.End()

	// Prometheus pull endpoint from OTEL_METRICS_EXPORTER=prometheus.
	c, _ := tr.MeterProvider().Meter("test").Int64Counter("test.hits")
	c.Add(context.Background(), 5)
	mc, _ := st.Component("metrics")
	url := strings.TrimPrefix(mc.Detail, "prometheus ")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("metrics component = %+v", mc)
	}
	body := scrape(t, url)
	if !strings.Contains(body, "test_hits_total") || !strings.Contains(body, `service_name="from-env"`) || !strings.Contains(body, `team="env-team"`) {
		t.Errorf("scrape lacks counter or resource:\n%s", body)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

func TestOptionsOverrideEnvironment(t *testing.T) {
	t.Setenv("OTEL_SERVICE_NAME", "from-env")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=env-team,region=eu")
	t.Setenv("OTEL_TRACES_SAMPLER", "always_off")
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")

	exp := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(),
		WithServiceName("from-option"),
		WithResourceAttributes(attribute.String("team", "option-team")),
		WithSampler(sdktrace.AlwaysSample()),
		WithSpanExporter(exp), WithMetricReader(reader))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)

	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
	span.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans().Snapshots()
	if len(spans) != 1 {
		t.Fatalf("exported %d spans, want 1 (WithSampler must override OTEL_TRACES_SAMPLER, WithSpanExporter OTEL_TRACES_EXPORTER)", len(spans))
	}
	if got := resourceValue(t, spans[0], "service.name"); got != "from-option" {
		t.Errorf("service.name = %q", got)
	}
	if got := resourceValue(t, spans[0], "team"); got != "option-team" {
		t.Errorf("team = %q", got)
	}
	if got := resourceValue(t, spans[0], "region"); got != "eu" {
		t.Errorf("region from env = %q, want eu (env attributes kept where no option overrides)", got)
	}
	if c, _ := tr.Status().Component("metrics"); c.State != probes.StateOn {
		t.Errorf("metrics with WithMetricReader under OTEL_METRICS_EXPORTER=none: %+v", c)
	}
}

func TestInvalidEnvironmentFallsBackWithWarning(t *testing.T) {
	t.Setenv("OTEL_TRACES_SAMPLER", "xray")
	t.Setenv("OTEL_TRACES_EXPORTER", "jaeger")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	diag := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	var msgs []string
	for _, r := range diag.all() {
		msgs = append(msgs, r["msg"].(string))
	}
	joined := strings.Join(msgs, "\n")
	if !strings.Contains(joined, `OTEL_TRACES_SAMPLER="xray"`) || !strings.Contains(joined, `OTEL_TRACES_EXPORTER="jaeger"`) {
		t.Errorf("warnings = %q", joined)
	}
	c, _ := tr.Status().Component("traces")
	if c.State != probes.StateOff || !strings.Contains(c.Reason, "no supported exporter") {
		t.Errorf("traces = %+v", c)
	}
}

func TestInvalidOptionIsAnError(t *testing.T) {
	_, err := Start(context.Background(), quiet(), WithoutGlobals(), WithOTLPProtocol("http/xml"))
	if err == nil || !strings.Contains(err.Error(), "WithOTLPProtocol") {
		t.Errorf("err = %v", err)
	}
	_, err = Start(context.Background(), quiet(), WithoutGlobals(), WithPrometheus("256.0.0.1:bad"),
		WithSpanExporter(tracetest.NewNoopExporter()))
	if err == nil || !strings.Contains(err.Error(), "prometheus") {
		t.Errorf("err = %v", err)
	}
}

func TestSDKDisabled(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "true")
	exp := tracetest.NewInMemoryExporter()
	extra := newCapture()
	tr, err := Start(context.Background(), quiet(), WithSpanExporter(exp), WithLogHandler(extra))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
	if span.IsRecording() {
		t.Error("span recording with the SDK disabled")
	}
	tr.Logger().Info("still logs")
	if len(extra.all()) != 1 {
		t.Error("console/extra logging must keep working with the SDK disabled")
	}
	st := tr.Status()
	if !st.Disabled {
		t.Error("Status.Disabled = false")
	}
	for _, name := range []string{"traces", "metrics", "logs"} {
		if c, _ := st.Component(name); c.State != probes.StateOff || c.Reason != "OTEL_SDK_DISABLED=true" {
			t.Errorf("%s = %+v", name, c)
		}
	}
}

func TestGlobalsRegisteredUnlessWithoutGlobals(t *testing.T) {
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	defer func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
	}()
	tr, err := Start(context.Background(), quiet(),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	if otel.GetTracerProvider() != tr.TracerProvider() {
		t.Error("global tracer provider not set")
	}
	fields := otel.GetTextMapPropagator().Fields()
	if strings.Join(slices.Sorted(slices.Values(fields)), ",") != "baggage,traceparent,tracestate" {
		t.Errorf("global propagator fields = %v", fields)
	}

	tr2, err := Start(context.Background(), quiet(), WithoutGlobals(),
		WithPropagators(propagation.TraceContext{}),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr2)
	if otel.GetTracerProvider() != tr.TracerProvider() {
		t.Error("WithoutGlobals replaced the global tracer provider")
	}
	if c, _ := tr2.Status().Component("propagation"); !strings.Contains(c.Detail, "WithoutGlobals") || !strings.HasPrefix(c.Detail, "traceparent, tracestate (") {
		t.Errorf("propagation = %+v", c)
	}
}

func TestSlogDefaultRestored(t *testing.T) {
	prev := slog.Default()
	extra := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithSlogDefault(), WithLogHandler(extra),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	if slog.Default() != tr.Logger() {
		t.Fatal("slog default not set")
	}
	slog.Info("via default")
	if len(extra.all()) != 1 {
		t.Error("slog.Info did not reach the tracer's logger")
	}
	shutdown(t, tr)
	if slog.Default() != prev {
		t.Error("Shutdown did not restore the previous slog default")
	}
}

func TestShutdownIdempotentAndNoopAfter(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithSpanExporter(exp),
		WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.TracerProvider().Tracer("test")
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	_, span := tracer.Start(context.Background(), "after")
	span.End()
	_, span2 := tr.TracerProvider().Tracer("new").Start(context.Background(), "after")
	if span2.IsRecording() {
		t.Error("tracer obtained after Shutdown records")
	}
	span2.End()
	tr.Logger().Info("after shutdown: must not panic or block")
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Errorf("ForceFlush after Shutdown: %v", err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans exported after Shutdown", n)
	}
	st := tr.Status()
	if !st.ShutDown {
		t.Error("Status.ShutDown = false")
	}
	if c, _ := st.Component("traces"); c.State != probes.StateOff || c.Reason != "shut down" {
		t.Errorf("traces after shutdown = %+v", c)
	}
}

func TestStatusString(t *testing.T) {
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithServiceName("svc"),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithProbes(&testProbe{name: "custom", startErr: errors.New("missing CAP_BPF")}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	want := `verdict: service "svc"
traces: on: *tracetest.NoopExporter (sampler parentbased_always_on)
metrics: on: *metric.ManualReader
logs: off: OTEL_LOGS_EXPORTER=none
propagation: on: baggage, traceparent, tracestate (not the global propagator: WithoutGlobals)
ebpf: off: disabled by WithEBPF(EBPFOff)
gc: off: the runtime probe and eBPF are off (WithoutRuntimeProbe, disabled by WithEBPF(EBPFOff))
sched: off: the runtime probe and eBPF are off (WithoutRuntimeProbe, disabled by WithEBPF(EBPFOff))
nethttp: degraded: no socket figures on spans: eBPF off: disabled by WithEBPF(EBPFOff)
grpc: degraded: no socket figures on spans: eBPF off: disabled by WithEBPF(EBPFOff)
sql: degraded: no socket figures on spans: eBPF off: disabled by WithEBPF(EBPFOff)
tcp: degraded: connect outcomes of verdict's HTTP client only: eBPF off: disabled by WithEBPF(EBPFOff)
custom: off: missing CAP_BPF`
	if got := tr.Status().String(); got != want {
		t.Errorf("Status().String() =\n%s\nwant\n%s", got, want)
	}
}

// testProbe is a probes.Probe with scripted behaviour; it records calls.
type testProbe struct {
	name     string
	startErr error
	policy   *probes.FailurePolicy
	log      *[]string
	started  bool
}

func (p *testProbe) Name() string { return p.name }
func (p *testProbe) Start(context.Context) error {
	if p.log != nil {
		*p.log = append(*p.log, "start "+p.name)
	}
	if p.startErr != nil {
		return p.startErr
	}
	p.started = true
	return nil
}
func (p *testProbe) Shutdown(context.Context) error {
	if p.log != nil {
		*p.log = append(*p.log, "shutdown "+p.name)
	}
	p.started = false
	return nil
}
func (p *testProbe) Status() probes.Status {
	if p.started {
		return probes.Status{Name: p.name, State: probes.StateDegraded, Reason: "half the signals"}
	}
	return probes.Status{Name: p.name, State: probes.StateOff, Reason: "stopped"}
}

type closedProbe struct{ testProbe }

func (p *closedProbe) FailurePolicy() probes.FailurePolicy { return probes.FailClosed }

func TestProbesLifecycleAndPolicy(t *testing.T) {
	var log []string
	a := &testProbe{name: "a", log: &log}
	b := &testProbe{name: "b", log: &log, startErr: errors.New("no privilege")}
	c := &testProbe{name: "c", log: &log}
	diag := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}), WithProbes(a, nil, b), WithProbe(c, probes.FailOpen))
	if err != nil {
		t.Fatal(err)
	}
	st := tr.Status()
	if got, _ := st.Component("a"); got.State != probes.StateDegraded || got.Reason != "half the signals" || got.Kind != KindProbe {
		t.Errorf("a = %+v", got)
	}
	if got, _ := st.Component("b"); got.State != probes.StateOff || got.Reason != "no privilege" {
		t.Errorf("b = %+v", got)
	}
	if len(diag.all()) != 1 || !strings.Contains(diag.all()[0]["msg"].(string), "probe b is off: no privilege") {
		t.Errorf("diagnostics = %v", diag.all())
	}
	shutdown(t, tr)
	want := "start a,start b,start c,shutdown c,shutdown a"
	if got := strings.Join(log, ","); got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
	if got, _ := tr.Status().Component("a"); got.State != probes.StateOff {
		t.Errorf("a after Shutdown = %+v", got)
	}

	// FailClosed: Start fails and shuts down the probes it started.
	log = nil
	d := &closedProbe{testProbe{name: "d", log: &log, startErr: errors.New("boom")}}
	_, err = Start(context.Background(), quiet(), WithoutGlobals(),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()),
		WithLogExporter(&memLogExporter{}), WithProbes(a, d))
	if err == nil || !strings.Contains(err.Error(), "probe d: boom") {
		t.Errorf("FailClosed start err = %v", err)
	}
	if got := strings.Join(log, ","); got != "start a,start d,shutdown a" {
		t.Errorf("calls = %s", got)
	}
}

func TestSpanHooks(t *testing.T) {
	h := newDurationHook()
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), withSpanHooks(h, nil),
		WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	tracer := tr.TracerProvider().Tracer("test")

	ctx, span := tracer.Start(context.Background(), "hooked")
	if got := h.startedOn(span.SpanContext()); got != goid() {
		t.Errorf("SpanStart ran on goroutine %d, want the starting goroutine %d", got, goid())
	}
	// End on another goroutine, as a client span may be.
	done := make(chan struct{})
	go func() { span.End(); close(done) }()
	<-done

	// A non-sampled span is not seen by hooks.
	unsampled := trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: [16]byte{1}, SpanID: [8]byte{1}, Remote: true,
	}))
	_, quiet := tracer.Start(unsampled, "not-sampled")
	quiet.End()

	// A span for which the hook adds nothing is exported unchanged.
	_, plain := tracer.Start(context.Background(), "plain", trace.WithAttributes(attribute.Bool("skip", true)))
	h.silence(plain.SpanContext().TraceID())
	plain.End()

	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans().Snapshots()
	if len(spans) != 2 {
		t.Fatalf("exported %d spans, want 2", len(spans))
	}
	attrs := attribute.NewSet(spans[0].Attributes()...)
	if v, ok := attrs.Value("test.hook.ended"); !ok || !v.AsBool() {
		t.Errorf("hooked span attributes = %v", spans[0].Attributes())
	}
	if v, ok := attrs.Value("test.hook.duration_ns"); !ok || v.AsInt64() <= 0 {
		t.Errorf("hooked span duration attribute = %v", v)
	}
	if n := len(spans[1].Attributes()); n != 1 {
		t.Errorf("plain span has %d attributes, want 1: %v", n, spans[1].Attributes())
	}
	if s, e := h.counts(); s != 2 || e != 2 {
		t.Errorf("hook saw %d starts and %d ends, want 2 and 2 (sampled spans only)", s, e)
	}
}

func TestSpanHookPanicIsContained(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	diag := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)),
		withSpanHooks(panicHook{}), WithSpanExporter(exp),
		WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	for range 3 {
		_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
		span.End()
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 3 {
		t.Errorf("exported %d spans, want 3", n)
	}
	if n := len(diag.all()); n != 1 {
		t.Errorf("%d diagnostics, want 1 (reported once)", n)
	}
}

func TestHookedPipelineAllocations(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	_, span := tp.Tracer("test").Start(context.Background(), "op", trace.WithAttributes(attribute.Bool("skip", true)))
	span.End()
	ro := span.(sdktrace.ReadOnlySpan)
	h := newDurationHook()
	h.silence(ro.SpanContext().TraceID())
	sink := &countingProcessor{}
	p := &spanPipeline{hooks: []spanhook.Hook{h}, next: []sdktrace.SpanProcessor{sink}}
	if n := testing.AllocsPerRun(1000, func() { p.OnEnd(ro) }); n != 0 {
		t.Errorf("OnEnd with a hook adding nothing: %v allocs, want 0", n)
	}
	_, span2 := tp.Tracer("test").Start(context.Background(), "op")
	span2.End()
	ro2 := span2.(sdktrace.ReadOnlySpan)
	if n := testing.AllocsPerRun(1000, func() { p.OnEnd(ro2) }); n != 1 {
		t.Errorf("OnEnd with a hook adding 2 attributes: %v allocs, want 1", n)
	}
	// 14 attributes (a server span's with eBPF on) and 20 (past the
	// largest inline size): all of them reach the next processors.
	// The sink keeps only the last span: a recorder's growing slice, or
	// a goroutine another test left behind, would be counted too
	// (AllocsPerRun reads the process's malloc count), so the runs are
	// many and the sink allocates nothing.
	for _, c := range []struct{ more, allocs int }{{12, 1}, {18, 2}} {
		last := &lastProcessor{}
		p := &spanPipeline{hooks: []spanhook.Hook{benchHook{add: true, more: c.more}}, next: []sdktrace.SpanProcessor{last}}
		if n := testing.AllocsPerRun(1000, func() { p.OnEnd(ro2) }); n != float64(c.allocs) {
			t.Errorf("OnEnd with a hook adding %d attributes: %v allocs, want %d", 2+c.more, n, c.allocs)
		}
		if got, want := len(last.span.Attributes()), 2+c.more; got != want {
			t.Errorf("hook added %d attributes, the next processor saw %d", want, got)
		}
	}
}

func TestDropErrorMessage(t *testing.T) {
	e := &DropError{Signal: "traces", Unit: "spans", QueueFull: 7439, ExportFailed: 512, AtShutdown: 1536,
		Err: errors.New("connection refused")}
	want := "traces: 9,487 spans dropped: exporter unavailable: connection refused (queue full 7,439, export failed 512, at shutdown 1,536)"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
	var err error = e
	if !errors.Is(err, ErrDropped) {
		t.Error("errors.Is(ErrDropped) = false")
	}
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := commas(n); got != want {
			t.Errorf("commas(%d) = %s", n, got)
		}
	}
}

func TestNilTracerIsSafe(t *testing.T) {
	var tr *Tracer
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Error(err)
	}
	_, span := tr.TracerProvider().Tracer("x").Start(context.Background(), "op")
	span.End()
	tr.MeterProvider().Meter("x")
	tr.LoggerProvider().Logger("x")
	tr.Propagator().Fields()
	tr.Logger().Debug("nil tracer logs to the slog default")
	if !tr.Status().ShutDown {
		t.Error("nil Tracer status not shut down")
	}
}

func TestJoinOptions(t *testing.T) {
	h := newDurationHook()
	p := &testProbe{name: "joined"}
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), joinOptions(WithProbes(p), nil, withSpanHooks(h)),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	_, span := tr.TracerProvider().Tracer("x").Start(context.Background(), "op")
	span.End()
	if s, e := h.counts(); s != 1 || e != 1 {
		t.Errorf("hook calls %d/%d", s, e)
	}
	if _, ok := tr.Status().Component("joined"); !ok {
		t.Error("probe of joined option missing")
	}
}

// hookProbe is a probe that opts in as a span hook (spanhook.Provider).
type hookProbe struct {
	testProbe
	hook *durationHook
}

func (p *hookProbe) SpanHook() spanhook.Hook { return p.hook }

// methodsProbe has a hook's methods but does not opt in.
type methodsProbe struct {
	testProbe
	*durationHook
}

// Only a probe that says it is a span hook is called for spans: not one that
// failed to start, not one that merely has SpanStart and SpanEnd.
func TestProbeHookIsExplicit(t *testing.T) {
	ok := &hookProbe{testProbe{name: "ok"}, newDurationHook()}
	failed := &hookProbe{testProbe{name: "failed", startErr: errors.New("no")}, newDurationHook()}
	methods := &methodsProbe{testProbe{name: "methods"}, newDurationHook()}
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithProbes(ok, failed, methods),
		WithLogger(slog.New(slog.DiscardHandler)),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	_, span := tr.TracerProvider().Tracer("x").Start(context.Background(), "op")
	span.End()
	if s, e := ok.hook.counts(); s != 1 || e != 1 {
		t.Errorf("started probe that provides a hook: %d starts, %d ends, want 1 and 1", s, e)
	}
	if s, _ := failed.hook.counts(); s != 0 {
		t.Errorf("probe that failed to start saw %d starts, want 0", s)
	}
	if s, _ := methods.counts(); s != 0 {
		t.Errorf("probe with a hook's methods but no SpanHook saw %d starts, want 0", s)
	}
}

// A record that carries its own trace_id (as sqlxprobe's slow-query record
// does) does not get a second pair of IDs.
func TestLoggerDoesNotRepeatTraceID(t *testing.T) {
	extra := newCapture()
	var console bytes.Buffer
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogHandler(extra),
		WithConsoleFormat(ConsoleText), WithConsoleWriter(&console),
		WithSpanExporter(tracetest.NewNoopExporter()), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(t, tr)
	ctx, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
	defer span.End()
	id := span.SpanContext().TraceID().String()
	tr.Logger().InfoContext(ctx, "own ids", "trace_id", id, "span_id", span.SpanContext().SpanID().String())
	tr.Logger().InfoContext(ctx, "added ids")
	out := console.String()
	if n := strings.Count(out, "trace_id="+id); n != 2 {
		t.Errorf("console has trace_id %d times for two records, want 2:\n%s", n, out)
	}
}

// Without an endpoint, OTLP goes where the specification says: plain HTTP
// to a local collector (the Go exporters alone would require TLS there).
func TestOTLPDefaultEndpointIsPlainLocalhost(t *testing.T) {
	for _, tc := range []struct{ protocol, want string }{
		{"http/protobuf", "otlp/http http://localhost:4318"},
		{"grpc", "otlp/grpc http://localhost:4317"},
	} {
		t.Run(tc.protocol, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.protocol)
			t.Setenv("OTEL_METRICS_EXPORTER", "none")
			t.Setenv("OTEL_LOGS_EXPORTER", "none")
			tr, err := Start(context.Background(), quiet(), WithoutGlobals())
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			if c, _ := tr.Status().Component("traces"); !strings.Contains(c.Detail, tc.want) {
				t.Errorf("traces component = %+v, want detail %q", c, tc.want)
			}
		})
	}
}
