package kernel_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// TestPerRequestHistogramsAndClientSpans (issue 11 points 2 and 3): a real
// request through verdict's middleware makes a server span, a child span
// that writes a file on the handler's goroutine, and an HTTP client span
// to a second server. The kernel-time histograms count each request once,
// split by the server span's name, with the child's file I/O included;
// the client span, whose I/O ran on net/http's transport goroutines,
// carries no kernel attributes (its zeros would mislead) but one
// verdict.unmeasured saying why.
func TestPerRequestHistogramsAndClientSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	p := startProbe(t, kernel.WithMeterProvider(mp))
	tp, exp := buildPipeline(p)
	defer tp.Shutdown(context.Background())

	back := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "back") }))
	defer back.Close()
	client := &http.Client{Transport: middleware.NewTransport(nil, middleware.WithTracerProvider(tp))}
	defer client.CloseIdleConnections()
	dir := t.TempDir()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		ctx, child := tp.Tracer("test").Start(r.Context(), "write")
		for i := range 20 {
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte{byte(i)}, 0o600); err != nil {
				t.Error(err)
			}
		}
		child.End()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, back.URL, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		io.WriteString(w, "ok")
	})
	front := httptest.NewServer(middleware.NewHandler(mux, middleware.WithTracerProvider(tp)))
	defer front.Close()
	const requests = 5
	for range requests {
		get(t, front.Client(), front.URL+"/work")
	}

	var server, write, clientSpan sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		switch {
		case s.SpanKind() == trace.SpanKindServer:
			server = s
		case s.Name() == "write":
			write = s
		case s.SpanKind() == trace.SpanKindClient:
			clientSpan = s
		}
	}
	if server == nil || write == nil || clientSpan == nil {
		t.Fatalf("spans: server %v, write %v, client %v", server != nil, write != nil, clientSpan != nil)
	}
	attrs := func(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
		m := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes() {
			m[kv.Key] = kv.Value
		}
		return m
	}
	ca := attrs(clientSpan)
	for k := range ca {
		if len(k) > len("verdict.kernel.") && k[:len("verdict.kernel.")] == "verdict.kernel." {
			t.Errorf("client span carries %s = %v", k, ca[k].Emit())
		}
	}
	if u := ca[semconv.AttrUnmeasured].AsString(); u != kernel.UnmeasuredClientIO {
		t.Errorf("client span %s = %q, want %q", semconv.AttrUnmeasured, u, kernel.UnmeasuredClientIO)
	}
	writeSys := seconds(t, attrs(write), semconv.AttrKernelSyscallDuration)
	if n := count(t, attrs(write), semconv.AttrKernelSyscallCount); n < 20 {
		t.Errorf("write span: %d system calls, want >= 20", n)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case semconv.MetricKernelSyscallDuration, semconv.MetricKernelOffCPUDuration, semconv.MetricKernelRunqueueDuration:
			default:
				continue
			}
			h := m.Data.(metricdata.Histogram[float64])
			if len(h.DataPoints) != 1 {
				t.Errorf("%s: %d series, want one (the route): %+v", m.Name, len(h.DataPoints), h.DataPoints)
				continue
			}
			dp := h.DataPoints[0]
			name, _ := dp.Attributes.Value(semconv.AttrSpanName)
			if dp.Count != requests || name.AsString() != server.Name() {
				t.Errorf("%s: %d observations with %s=%q, want %d with %q", m.Name, dp.Count, semconv.AttrSpanName, name.AsString(), requests, server.Name())
			}
			if m.Name == semconv.MetricKernelSyscallDuration && dp.Sum < writeSys.Seconds() {
				t.Errorf("%s: sum %v s over %d requests, less than one write span's %v: the enclosed spans are not included", m.Name, dp.Sum, requests, writeSys)
			}
		}
	}
}
