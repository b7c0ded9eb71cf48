package tracer

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"

	"github.com/verdict-obs/verdict/internal/otlptest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/probes"
)

func attrValue(attrs []*commonpb.KeyValue, key string) string {
	for _, a := range attrs {
		if a.GetKey() == key {
			return a.GetValue().GetStringValue()
		}
	}
	return ""
}

// clearOTLPEnv makes the test independent of the caller's environment.
func clearOTLPEnv(t *testing.T) {
	for _, k := range []string{"OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"} {
		t.Setenv(k, "otlp")
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
		"OTEL_SDK_DISABLED", "OTEL_TRACES_SAMPLER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
}

func TestOTLPRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		protocol string
		viaEnv   bool
	}{
		{"grpc/options", otlptest.ProtocolGRPC, false},
		{"http/options", otlptest.ProtocolHTTP, false},
		{"grpc/env", otlptest.ProtocolGRPC, true},
		{"http/env", otlptest.ProtocolHTTP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearOTLPEnv(t)
			rcv, err := otlptest.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer rcv.Close()
			endpoint := rcv.HTTPEndpoint()
			if tc.protocol == otlptest.ProtocolGRPC {
				endpoint = rcv.GRPCEndpoint()
			}
			opts := []Option{quiet(), WithoutGlobals(), WithServiceName("roundtrip")}
			if tc.viaEnv {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
				t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.protocol)
			} else {
				opts = append(opts, WithOTLPEndpoint(endpoint), WithOTLPProtocol(tc.protocol))
			}
			tr, err := Start(context.Background(), opts...)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"traces", "metrics", "logs"} {
				c, _ := tr.Status().Component(name)
				transport := "otlp/http "
				if tc.protocol == otlptest.ProtocolGRPC {
					transport = "otlp/grpc "
				}
				if c.State != probes.StateOn || !strings.HasPrefix(c.Detail, transport+endpoint) {
					t.Errorf("%s component = %+v, want on with %s", name, c, endpoint)
				}
			}

			ctx, parent := tr.TracerProvider().Tracer("test").Start(context.Background(), "parent")
			_, child := tr.TracerProvider().Tracer("test").Start(ctx, "child")
			child.End()
			counter, _ := tr.MeterProvider().Meter("test").Int64Counter("test.roundtrip")
			counter.Add(ctx, 7)
			tr.Logger().InfoContext(ctx, "hello over otlp")
			parent.End()

			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tr.ForceFlush(fctx); err != nil {
				t.Fatalf("ForceFlush: %v", err)
			}
			err = rcv.Wait(fctx, func() bool {
				return len(rcv.Spans()) >= 2 && len(rcv.LogRecords()) >= 1 && len(rcv.Metrics()) >= 1
			})
			if err != nil {
				t.Fatalf("receiver got %d spans, %d metrics, %d logs: %v", len(rcv.Spans()), len(rcv.Metrics()), len(rcv.LogRecords()), err)
			}
			if err := tr.Shutdown(fctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}

			for _, rq := range rcv.Requests() {
				if rq.Protocol != tc.protocol {
					t.Errorf("request %+v arrived over %s, want %s", rq, rq.Protocol, tc.protocol)
				}
			}
			rs := rcv.ResourceSpans()
			if got := attrValue(rs[0].GetResource().GetAttributes(), "service.name"); got != "roundtrip" {
				t.Errorf("span resource service.name = %q", got)
			}
			spans := rcv.Spans()
			byName := map[string][]byte{}
			for _, s := range spans {
				byName[s.GetName()] = s.GetSpanId()
			}
			var childSpan = spans[0]
			if childSpan.GetName() != "child" || string(childSpan.GetParentSpanId()) != string(byName["parent"]) {
				t.Errorf("spans = %v", spans)
			}
			pid := parent.SpanContext().SpanID()
			if string(byName["parent"]) != string(pid[:]) {
				t.Errorf("parent span ID %x, want %s", byName["parent"], pid)
			}

			var found bool
			for _, m := range rcv.Metrics() {
				if m.GetName() == "test.roundtrip" {
					found = true
					if v := m.GetSum().GetDataPoints()[0].GetAsInt(); v != 7 {
						t.Errorf("test.roundtrip = %d, want 7", v)
					}
				}
			}
			if !found {
				t.Error("metric test.roundtrip did not arrive")
			}

			lr := rcv.LogRecords()[0]
			tid := parent.SpanContext().TraceID()
			if lr.GetBody().GetStringValue() != "hello over otlp" || string(lr.GetTraceId()) != string(tid[:]) {
				t.Errorf("log record = %v, want trace %s", lr, tid)
			}
		})
	}
}

func TestExporterRefusingIsCountedAndRecovers(t *testing.T) {
	clearOTLPEnv(t)
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	rcv, err := otlptest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer rcv.Close()
	rcv.Refuse(true)
	reader := sdkmetric.NewManualReader()
	diag := newCapture()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(diag)),
		WithOTLPEndpoint(rcv.GRPCEndpoint()), WithOTLPProtocol(ProtocolGRPC), WithMetricReader(reader),
		withBatchLimits(batchLimits{exportTimeout: 300 * time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	tracer := tr.TracerProvider().Tracer("test")
	for range 3 {
		_, s := tracer.Start(context.Background(), "refused")
		s.End()
	}
	if err := tr.ForceFlush(context.Background()); err == nil {
		t.Error("ForceFlush succeeded with a refusing receiver")
	}
	c, _ := tr.Status().Component("traces")
	if c.State != probes.StateDegraded || !strings.Contains(c.Reason, "exporter unavailable") || c.Dropped != 3 {
		t.Errorf("traces while refused = %+v", c)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := sumValue(rm, semconv.MetricDropped, map[string]string{
		semconv.AttrDropSignal: semconv.SignalTraces, semconv.AttrDropReason: semconv.DropExportFailed}); got != 3 {
		t.Errorf("%s{traces,export_failed} = %d, want 3", semconv.MetricDropped, got)
	}

	rcv.Refuse(false)
	_, s := tracer.Start(context.Background(), "accepted")
	s.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Errorf("ForceFlush after recovery: %v", err)
	}
	if c, _ := tr.Status().Component("traces"); c.State != probes.StateOn || c.Dropped != 3 {
		t.Errorf("traces after recovery = %+v", c)
	}
	if n := len(rcv.Spans()); n != 1 {
		t.Errorf("receiver got %d spans, want 1", n)
	}
	warns := 0
	for _, r := range diag.all() {
		if strings.Contains(r["msg"].(string), "dropping telemetry") {
			warns++
		}
	}
	if warns != 1 {
		t.Errorf("%d drop warnings, want exactly 1: %v", warns, diag.all())
	}

	err = tr.Shutdown(context.Background())
	var de *DropError
	if !errors.Is(err, ErrDropped) || !errors.As(err, &de) || de.ExportFailed != 3 || de.Signal != "traces" {
		t.Errorf("Shutdown = %v", err)
	}
}

// spanLoop creates n spans, each with one attribute, as a request loop would.
func spanLoop(tr trace.Tracer, n int, pad string) {
	ctx := context.Background()
	for range n {
		_, s := tr.Start(ctx, "op")
		if pad != "" {
			s.SetAttributes(semconvPad.String(pad))
		}
		s.End()
	}
}

func TestExporterDownShutdownBounded(t *testing.T) {
	for _, protocol := range []string{ProtocolGRPC, ProtocolHTTPProtobuf} {
		t.Run(protocol, func(t *testing.T) {
			clearOTLPEnv(t) // all three signals over OTLP, to a closed port
			tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(slog.DiscardHandler)),
				WithOTLPEndpoint("http://"+closedPort(t)), WithOTLPProtocol(protocol))
			if err != nil {
				t.Fatal(err)
			}
			spanLoop(tr.TracerProvider().Tracer("test"), 10_000, "")
			counter, _ := tr.MeterProvider().Meter("test").Int64Counter("test.requests")
			counter.Add(context.Background(), 1)
			for range 100 {
				tr.Logger().Info("lost")
			}

			const deadline = time.Second
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			begin := time.Now()
			err = tr.Shutdown(ctx)
			took := time.Since(begin)
			t.Logf("Shutdown with a %v deadline and the exporter down took %v: %v", deadline, took, err)
			// A liveness bound, not a performance assertion: without the
			// deadline the exporter would retry for 30 s.
			if took > deadline+2*time.Second {
				t.Errorf("Shutdown took %v with a %v deadline", took, deadline)
			}
			var de *DropError
			if !errors.As(err, &de) || de.Total() != 10_000 || !strings.Contains(err.Error(), "traces: 10,000 spans dropped: exporter unavailable") {
				t.Errorf("Shutdown error = %v, want all 10,000 spans reported dropped", err)
			}
			if !strings.Contains(err.Error(), "logs: 100 records dropped") || !strings.Contains(err.Error(), "metrics: ") {
				t.Errorf("Shutdown error = %v, want the 100 log records and the metric points reported dropped", err)
			}
		})
	}
}

func TestExporterDownMemoryBounded(t *testing.T) {
	clearOTLPEnv(t)
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(slog.DiscardHandler)),
		WithOTLPEndpoint("http://"+closedPort(t)), WithOTLPProtocol(ProtocolGRPC))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tr.Shutdown(ctx)
	}()
	pad := strings.Repeat("x", 2048)
	tracer := tr.TracerProvider().Tracer("test")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const spans = 50_000 // ~150 MB if every span were kept
	spanLoop(tracer, spans, pad)
	runtime.GC()
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth after %d spans of ~3 KB with the exporter down: %.1f MB", spans, float64(growth)/(1<<20))
	// The queue holds at most 2048 spans plus one batch of 512 in flight.
	if growth > 32<<20 {
		t.Errorf("heap grew by %d MB; the export queue is not bounded", growth>>20)
	}
	c, _ := tr.Status().Component("traces")
	if c.Dropped < spans-2048-512 {
		t.Errorf("dropped %d of %d spans, want at least %d", c.Dropped, spans, spans-2048-512)
	}
}

var semconvPad = attributeKey("test.pad")

// blockingExporter blocks every export until released: a collector that
// accepts the connection and never answers.
type blockingExporter struct {
	release chan struct{}
	mu      sync.Mutex
	got     int
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	e.got += len(spans)
	e.mu.Unlock()
	return nil
}

func (e *blockingExporter) Shutdown(context.Context) error { return nil }

func TestSlowExporterNeverBlocksTheHost(t *testing.T) {
	exp := &blockingExporter{release: make(chan struct{})}
	reader := sdkmetric.NewManualReader()
	tr, err := Start(context.Background(), quiet(), WithoutGlobals(), WithLogger(slog.New(slog.DiscardHandler)),
		WithSpanExporter(exp), WithMetricReader(reader), WithLogExporter(&memLogExporter{}))
	if err != nil {
		t.Fatal(err)
	}
	// If ending a span waited for the exporter, this loop would never end.
	const n = 5000
	spanLoop(tr.TracerProvider().Tracer("test"), n, "")
	c, _ := tr.Status().Component("traces")
	if c.Dropped < n-2048-512 || c.Dropped > n-2048 {
		t.Errorf("dropped %d of %d with the exporter stuck, want between %d and %d", c.Dropped, n, n-2048-512, n-2048)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if got := sumValue(rm, semconv.MetricDropped, map[string]string{semconv.AttrDropReason: semconv.DropQueueFull}); uint64(got) != c.Dropped {
		t.Errorf("%s{queue_full} = %d, want %d", semconv.MetricDropped, got, c.Dropped)
	}

	close(exp.release)
	err = tr.Shutdown(context.Background())
	var de *DropError
	if !errors.As(err, &de) || de.QueueFull != c.Dropped || de.ExportFailed != 0 || de.AtShutdown != 0 {
		t.Errorf("Shutdown = %v", err)
	}
	if !strings.Contains(err.Error(), "exporter too slow") {
		t.Errorf("Shutdown error %q does not say the exporter was too slow", err)
	}
	if uint64(exp.got)+c.Dropped != n {
		t.Errorf("exported %d + dropped %d != %d: spans lost without being counted", exp.got, c.Dropped, n)
	}
}
