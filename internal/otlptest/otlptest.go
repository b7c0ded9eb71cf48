// Package otlptest is a real OTLP receiver for tests: a gRPC server and an
// HTTP server on 127.0.0.1 that implement the OpenTelemetry collector trace,
// metrics and logs services and record what arrives.
//
// It speaks the wire protocol (protobuf over gRPC; protobuf or JSON over HTTP,
// optionally gzip-compressed), so exporters under test run their real code
// path. It can be told to refuse requests to test exporter failure handling.
package otlptest

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Protocol names as used by OTEL_EXPORTER_OTLP_PROTOCOL.
const (
	ProtocolGRPC = "grpc"
	ProtocolHTTP = "http/protobuf"
)

// maxBody bounds one HTTP request body (after decompression).
const maxBody = 32 << 20

// Request describes one export request the receiver accepted.
type Request struct {
	Protocol string // ProtocolGRPC or ProtocolHTTP
	Signal   string // "traces", "metrics" or "logs"
	Items    int    // spans, data points or log records in the request
}

// Receiver is a running OTLP receiver. All methods are safe for concurrent
// use.
type Receiver struct {
	grpcSrv *grpc.Server
	grpcLis net.Listener
	httpSrv *http.Server
	httpLis net.Listener
	grpcErr chan error
	httpErr chan error

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every accepted request
	refuse   bool
	requests []Request
	spans    []*tracepb.ResourceSpans
	metrics  []*metricspb.ResourceMetrics
	logs     []*logspb.ResourceLogs
}

// Start starts a receiver on two ephemeral loopback ports. Close it when
// done.
func Start() (*Receiver, error) {
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("otlptest: listen grpc: %w", err)
	}
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		gl.Close()
		return nil, fmt.Errorf("otlptest: listen http: %w", err)
	}
	r := &Receiver{
		grpcLis: gl,
		httpLis: hl,
		grpcErr: make(chan error, 1),
		httpErr: make(chan error, 1),
		changed: make(chan struct{}),
	}
	r.grpcSrv = grpc.NewServer()
	coltrace.RegisterTraceServiceServer(r.grpcSrv, traceService{r: r})
	colmetrics.RegisterMetricsServiceServer(r.grpcSrv, metricsService{r: r})
	collogs.RegisterLogsServiceServer(r.grpcSrv, logsService{r: r})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.handleHTTP(func() proto.Message { return &coltrace.ExportTraceServiceRequest{} }, &coltrace.ExportTraceServiceResponse{}))
	mux.HandleFunc("POST /v1/metrics", r.handleHTTP(func() proto.Message { return &colmetrics.ExportMetricsServiceRequest{} }, &colmetrics.ExportMetricsServiceResponse{}))
	mux.HandleFunc("POST /v1/logs", r.handleHTTP(func() proto.Message { return &collogs.ExportLogsServiceRequest{} }, &collogs.ExportLogsServiceResponse{}))
	r.httpSrv = &http.Server{Handler: mux}

	go func() { r.grpcErr <- r.grpcSrv.Serve(gl) }()
	go func() { r.httpErr <- r.httpSrv.Serve(hl) }()
	return r, nil
}

// GRPCEndpoint is the gRPC endpoint as a URL, e.g. "http://127.0.0.1:40123".
func (r *Receiver) GRPCEndpoint() string { return "http://" + r.grpcLis.Addr().String() }

// HTTPEndpoint is the base URL of the HTTP receiver (without /v1/traces),
// e.g. "http://127.0.0.1:40124".
func (r *Receiver) HTTPEndpoint() string { return "http://" + r.httpLis.Addr().String() }

// Refuse makes the receiver answer every request with "unavailable"
// (gRPC code Unavailable, HTTP 503) while on is true.
func (r *Receiver) Refuse(on bool) {
	r.mu.Lock()
	r.refuse = on
	r.mu.Unlock()
}

// Requests returns the accepted requests in arrival order.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// ResourceSpans returns every ResourceSpans received so far.
func (r *Receiver) ResourceSpans() []*tracepb.ResourceSpans {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.ResourceSpans(nil), r.spans...)
}

// ResourceMetrics returns every ResourceMetrics received so far.
func (r *Receiver) ResourceMetrics() []*metricspb.ResourceMetrics {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*metricspb.ResourceMetrics(nil), r.metrics...)
}

// ResourceLogs returns every ResourceLogs received so far.
func (r *Receiver) ResourceLogs() []*logspb.ResourceLogs {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*logspb.ResourceLogs(nil), r.logs...)
}

// Spans returns every span received so far, flattened.
func (r *Receiver) Spans() []*tracepb.Span {
	var out []*tracepb.Span
	for _, rs := range r.ResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			out = append(out, ss.GetSpans()...)
		}
	}
	return out
}

// Metrics returns every metric received so far, flattened.
func (r *Receiver) Metrics() []*metricspb.Metric {
	var out []*metricspb.Metric
	for _, rm := range r.ResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			out = append(out, sm.GetMetrics()...)
		}
	}
	return out
}

// LogRecords returns every log record received so far, flattened.
func (r *Receiver) LogRecords() []*logspb.LogRecord {
	var out []*logspb.LogRecord
	for _, rl := range r.ResourceLogs() {
		for _, sl := range rl.GetScopeLogs() {
			out = append(out, sl.GetLogRecords()...)
		}
	}
	return out
}

// Wait blocks until cond returns true (it is evaluated now and after every
// accepted request) or ctx is done, in which case it returns ctx's error.
func (r *Receiver) Wait(ctx context.Context, cond func() bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("otlptest: wait: %w", ctx.Err())
		}
	}
}

// Close stops both servers and waits for them to exit.
func (r *Receiver) Close() error {
	r.grpcSrv.Stop()
	herr := r.httpSrv.Close()
	gerr := <-r.grpcErr
	if errors.Is(gerr, grpc.ErrServerStopped) {
		gerr = nil
	}
	if e := <-r.httpErr; !errors.Is(e, http.ErrServerClosed) {
		herr = errors.Join(herr, e)
	}
	return errors.Join(gerr, herr)
}

// accept records one request; it returns false if the receiver refuses.
func (r *Receiver) accept(protocol string, msg proto.Message) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
	req := Request{Protocol: protocol}
	switch m := msg.(type) {
	case *coltrace.ExportTraceServiceRequest:
		req.Signal = "traces"
		for _, rs := range m.GetResourceSpans() {
			for _, ss := range rs.GetScopeSpans() {
				req.Items += len(ss.GetSpans())
			}
		}
		r.spans = append(r.spans, m.GetResourceSpans()...)
	case *colmetrics.ExportMetricsServiceRequest:
		req.Signal = "metrics"
		for _, rm := range m.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, mm := range sm.GetMetrics() {
					req.Items += dataPoints(mm)
				}
			}
		}
		r.metrics = append(r.metrics, m.GetResourceMetrics()...)
	case *collogs.ExportLogsServiceRequest:
		req.Signal = "logs"
		for _, rl := range m.GetResourceLogs() {
			for _, sl := range rl.GetScopeLogs() {
				req.Items += len(sl.GetLogRecords())
			}
		}
		r.logs = append(r.logs, m.GetResourceLogs()...)
	}
	r.requests = append(r.requests, req)
	close(r.changed)
	r.changed = make(chan struct{})
	return true
}

func dataPoints(m *metricspb.Metric) int {
	switch d := m.GetData().(type) {
	case *metricspb.Metric_Gauge:
		return len(d.Gauge.GetDataPoints())
	case *metricspb.Metric_Sum:
		return len(d.Sum.GetDataPoints())
	case *metricspb.Metric_Histogram:
		return len(d.Histogram.GetDataPoints())
	case *metricspb.Metric_ExponentialHistogram:
		return len(d.ExponentialHistogram.GetDataPoints())
	case *metricspb.Metric_Summary:
		return len(d.Summary.GetDataPoints())
	}
	return 0
}

var errRefused = status.Error(codes.Unavailable, "otlptest: refusing requests")

type traceService struct {
	coltrace.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	if !s.r.accept(ProtocolGRPC, req) {
		return nil, errRefused
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	colmetrics.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s metricsService) Export(_ context.Context, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	if !s.r.accept(ProtocolGRPC, req) {
		return nil, errRefused
	}
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

type logsService struct {
	collogs.UnimplementedLogsServiceServer
	r *Receiver
}

func (s logsService) Export(_ context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	if !s.r.accept(ProtocolGRPC, req) {
		return nil, errRefused
	}
	return &collogs.ExportLogsServiceResponse{}, nil
}

func (r *Receiver) handleHTTP(newReq func() proto.Message, resp proto.Message) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		var body io.Reader = http.MaxBytesReader(w, hr.Body, maxBody)
		if hr.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(body)
			if err != nil {
				http.Error(w, "bad gzip body: "+err.Error(), http.StatusBadRequest)
				return
			}
			defer zr.Close()
			body = io.LimitReader(zr, maxBody)
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		msg := newReq()
		isJSON := strings.HasPrefix(hr.Header.Get("Content-Type"), "application/json")
		if isJSON {
			err = protojson.Unmarshal(data, msg)
		} else {
			err = proto.Unmarshal(data, msg)
		}
		if err != nil {
			http.Error(w, "decode body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !r.accept(ProtocolHTTP, msg) {
			http.Error(w, "otlptest: refusing requests", http.StatusServiceUnavailable)
			return
		}
		var out []byte
		if isJSON {
			w.Header().Set("Content-Type", "application/json")
			out, err = protojson.Marshal(resp)
		} else {
			w.Header().Set("Content-Type", "application/x-protobuf")
			out, err = proto.Marshal(resp)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(out)
	}
}
