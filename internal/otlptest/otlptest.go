// Package otlptest is a real OTLP receiver for tests: a gRPC server and an
// HTTP server on 127.0.0.1 that implement the OpenTelemetry collector trace,
// metrics and logs services and record what arrives.
//
// It speaks the wire protocol (protobuf over gRPC; protobuf or JSON over HTTP,
// optionally gzip-compressed, optionally over TLS), so exporters under test
// run their real code path. It can be told to refuse requests (an outage), to
// answer slowly, or to serve only some signals, as a traces-only backend such
// as Jaeger does: the others then get gRPC Unimplemented and HTTP 404, which
// is what a real server without that service answers.
package otlptest

import (
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
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

// Request describes one export request the receiver accepted (or, in
// [Receiver.Unserved], one it answered with Unimplemented or 404).
type Request struct {
	Protocol   string            // ProtocolGRPC or ProtocolHTTP
	Signal     string            // "traces", "metrics" or "logs"
	Items      int               // spans, data points or log records in the request
	Encoding   string            // "protobuf" or "json"
	Compressed bool              // the body was gzip-compressed
	Path       string            // the HTTP path or the gRPC method
	Headers    map[string]string // HTTP headers or gRPC metadata, keys in lower case
}

// Options configure [StartWith]. The zero value is what [Start] uses.
type Options struct {
	// Signals lists the signals served ("traces", "metrics", "logs"); nil
	// means all three. Requests for the others are answered as a server
	// without that service answers: gRPC Unimplemented, HTTP 404.
	Signals []string
	// TLS, when not nil, makes both servers speak TLS with this
	// configuration (set ClientAuth and ClientCAs to require client
	// certificates).
	TLS *tls.Config
	// GRPCAddr and HTTPAddr are the listen addresses; empty means an
	// ephemeral port on 127.0.0.1. Give a closed receiver's GRPCAddr and
	// HTTPAddr to start it again on the same ports (a collector restarted).
	GRPCAddr, HTTPAddr string
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
	tls     bool

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every accepted request
	refuse   bool
	delay    time.Duration
	requests []Request
	unserved []Request
	spans    []*tracepb.ResourceSpans
	metrics  []*metricspb.ResourceMetrics
	logs     []*logspb.ResourceLogs
}

// Start starts a receiver on two ephemeral loopback ports, serving every
// signal in plain text. Close it when done.
func Start() (*Receiver, error) { return StartWith(Options{}) }

// StartWith starts a receiver configured by o. Close it when done.
func StartWith(o Options) (*Receiver, error) {
	addr := func(a string) string {
		if a == "" {
			return "127.0.0.1:0"
		}
		return a
	}
	gl, err := net.Listen("tcp", addr(o.GRPCAddr))
	if err != nil {
		return nil, fmt.Errorf("otlptest: listen grpc: %w", err)
	}
	hl, err := net.Listen("tcp", addr(o.HTTPAddr))
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
		tls:     o.TLS != nil,
	}
	serves := func(signal string) bool { return o.Signals == nil || slices.Contains(o.Signals, signal) }
	gopts := []grpc.ServerOption{grpc.UnknownServiceHandler(r.unknownService), grpc.StatsHandler(compressionRecorder{})}
	if o.TLS != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(o.TLS)))
	}
	r.grpcSrv = grpc.NewServer(gopts...)
	mux := http.NewServeMux()
	if serves("traces") {
		coltrace.RegisterTraceServiceServer(r.grpcSrv, traceService{r: r})
		mux.HandleFunc("POST /v1/traces", r.handleHTTP(func() proto.Message { return &coltrace.ExportTraceServiceRequest{} }, &coltrace.ExportTraceServiceResponse{}))
	}
	if serves("metrics") {
		colmetrics.RegisterMetricsServiceServer(r.grpcSrv, metricsService{r: r})
		mux.HandleFunc("POST /v1/metrics", r.handleHTTP(func() proto.Message { return &colmetrics.ExportMetricsServiceRequest{} }, &colmetrics.ExportMetricsServiceResponse{}))
	}
	if serves("logs") {
		collogs.RegisterLogsServiceServer(r.grpcSrv, logsService{r: r})
		mux.HandleFunc("POST /v1/logs", r.handleHTTP(func() proto.Message { return &collogs.ExportLogsServiceRequest{} }, &collogs.ExportLogsServiceResponse{}))
	}
	mux.HandleFunc("/", r.notFound)
	r.httpSrv = &http.Server{Handler: mux, TLSConfig: o.TLS}

	go func() { r.grpcErr <- r.grpcSrv.Serve(gl) }()
	go func() {
		if o.TLS != nil {
			r.httpErr <- r.httpSrv.ServeTLS(hl, "", "")
			return
		}
		r.httpErr <- r.httpSrv.Serve(hl)
	}()
	return r, nil
}

// GRPCEndpoint is the gRPC endpoint as a URL, e.g. "http://127.0.0.1:40123"
// ("https://..." with TLS).
func (r *Receiver) GRPCEndpoint() string { return r.scheme() + r.grpcLis.Addr().String() }

// HTTPEndpoint is the base URL of the HTTP receiver (without /v1/traces),
// e.g. "http://127.0.0.1:40124" ("https://..." with TLS).
func (r *Receiver) HTTPEndpoint() string { return r.scheme() + r.httpLis.Addr().String() }

// GRPCAddr is the gRPC listener's host:port, without a scheme.
func (r *Receiver) GRPCAddr() string { return r.grpcLis.Addr().String() }

// HTTPAddr is the HTTP listener's host:port, without a scheme.
func (r *Receiver) HTTPAddr() string { return r.httpLis.Addr().String() }

func (r *Receiver) scheme() string {
	if r.tls {
		return "https://"
	}
	return "http://"
}

// SetDelay makes the receiver wait d before answering each request, as a
// slow backend does; a request whose client gives up meanwhile is answered
// with an error and not recorded. Zero answers at once.
func (r *Receiver) SetDelay(d time.Duration) {
	r.mu.Lock()
	r.delay = d
	r.mu.Unlock()
}

// Unserved returns the requests for signals the receiver does not serve
// (see [Options.Signals]), in arrival order. Items is not counted for them.
func (r *Receiver) Unserved() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.unserved...)
}

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

// accept records one request; it returns false if the receiver refuses or
// the client gave up during the configured delay.
func (r *Receiver) accept(ctx context.Context, req Request, msg proto.Message) bool {
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			// The client gave up (gRPC carries its deadline to the server):
			// answering now could still beat its own timer.
			return false
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return false
	}
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

// grpcRequest describes the gRPC call in ctx.
func grpcRequest(ctx context.Context) Request {
	req := Request{Protocol: ProtocolGRPC, Encoding: "protobuf", Headers: map[string]string{}}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		req.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	if c, ok := ctx.Value(compressionKey{}).(*string); ok {
		req.Compressed = *c == "gzip"
	}
	if m, ok := grpc.Method(ctx); ok {
		req.Path = m
	}
	return req
}

// compressionRecorder notes the compression of each incoming call (gRPC
// removes grpc-encoding from the metadata handlers see).
type compressionRecorder struct{}

type compressionKey struct{}

func (compressionRecorder) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, compressionKey{}, new(string))
}

func (compressionRecorder) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if h, ok := s.(*stats.InHeader); ok {
		if c, ok := ctx.Value(compressionKey{}).(*string); ok {
			*c = h.Compression
		}
	}
}

func (compressionRecorder) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (compressionRecorder) HandleConn(context.Context, stats.ConnStats) {}

// signalOf names the signal of an OTLP path or gRPC method ("" if none).
func signalOf(path string) string {
	switch {
	case strings.Contains(path, "trace"):
		return "traces"
	case strings.Contains(path, "metric"):
		return "metrics"
	case strings.Contains(path, "log"):
		return "logs"
	}
	return ""
}

// unknownService answers calls to services the receiver does not serve, as
// gRPC does without this handler, and records them.
func (r *Receiver) unknownService(_ any, stream grpc.ServerStream) error {
	req := grpcRequest(stream.Context())
	req.Path, _ = grpc.MethodFromServerStream(stream)
	req.Signal = signalOf(req.Path)
	r.mu.Lock()
	r.unserved = append(r.unserved, req)
	r.mu.Unlock()
	return status.Errorf(codes.Unimplemented, "unknown service %s", strings.TrimPrefix(req.Path, "/"))
}

// notFound answers HTTP requests to paths the receiver does not serve with
// 404, as net/http's mux does, and records them.
func (r *Receiver) notFound(w http.ResponseWriter, hr *http.Request) {
	req := httpRequest(hr)
	req.Signal = signalOf(hr.URL.Path)
	r.mu.Lock()
	r.unserved = append(r.unserved, req)
	r.mu.Unlock()
	http.NotFound(w, hr)
}

// httpRequest describes the HTTP request hr.
func httpRequest(hr *http.Request) Request {
	req := Request{Protocol: ProtocolHTTP, Encoding: "protobuf", Path: hr.URL.Path, Headers: map[string]string{},
		Compressed: hr.Header.Get("Content-Encoding") == "gzip"}
	if strings.HasPrefix(hr.Header.Get("Content-Type"), "application/json") {
		req.Encoding = "json"
	}
	for k, v := range hr.Header {
		req.Headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	return req
}

type traceService struct {
	coltrace.UnimplementedTraceServiceServer
	r *Receiver
}

func (s traceService) Export(ctx context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	if !s.r.accept(ctx, grpcRequest(ctx), req) {
		return nil, errRefused
	}
	return &coltrace.ExportTraceServiceResponse{}, nil
}

type metricsService struct {
	colmetrics.UnimplementedMetricsServiceServer
	r *Receiver
}

func (s metricsService) Export(ctx context.Context, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	if !s.r.accept(ctx, grpcRequest(ctx), req) {
		return nil, errRefused
	}
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

type logsService struct {
	collogs.UnimplementedLogsServiceServer
	r *Receiver
}

func (s logsService) Export(ctx context.Context, req *collogs.ExportLogsServiceRequest) (*collogs.ExportLogsServiceResponse, error) {
	if !s.r.accept(ctx, grpcRequest(ctx), req) {
		return nil, errRefused
	}
	return &collogs.ExportLogsServiceResponse{}, nil
}

func (r *Receiver) handleHTTP(newReq func() proto.Message, resp proto.Message) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		var body io.Reader = http.MaxBytesReader(w, hr.Body, maxBody)
		req := httpRequest(hr)
		if req.Compressed {
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
		isJSON := req.Encoding == "json"
		if isJSON {
			err = protojson.Unmarshal(data, msg)
		} else {
			err = proto.Unmarshal(data, msg)
		}
		if err != nil {
			http.Error(w, "decode body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if !r.accept(hr.Context(), req, msg) {
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
