package middleware

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/metric"
	metricembedded "go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	traceembedded "go.opentelemetry.io/otel/trace/embedded"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// headerProp is a non-W3C propagator ("x-trace: <trace id>-<span id>").
type headerProp struct{}

func (headerProp) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		c.Set("x-trace", sc.TraceID().String()+"-"+sc.SpanID().String())
	}
}

func (headerProp) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	v := c.Get("x-trace")
	tid, sid, ok := strings.Cut(v, "-")
	if !ok {
		return ctx
	}
	t, err1 := trace.TraceIDFromHex(tid)
	s, err2 := trace.SpanIDFromHex(sid)
	if err1 != nil || err2 != nil {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: t, SpanID: s, TraceFlags: trace.FlagsSampled, Remote: true}))
}

func (headerProp) Fields() []string { return []string{"x-trace"} }

// TestGenericPropagatorChains: a non-W3C propagator carries the trace over
// HTTP and gRPC through the carrier path.
func TestGenericPropagatorChains(t *testing.T) {
	tel := newTelemetry(t)
	opts := tel.opts(WithPropagators(headerProp{}))
	l := startGRPCWith(t, opts, &testService{})
	gc := dialGRPCWith(t, opts, l)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Trace") == "" || r.Header.Get("Traceparent") != "" {
			t.Errorf("headers %v", r.Header)
		}
		if _, err := gc.UnaryCall(r.Context(), &testpb.SimpleRequest{}); err != nil {
			t.Error(err)
		}
	})
	srv := httptest.NewServer(NewHandler(mux, opts...))
	defer srv.Close()
	ctx, root := tel.tp.Tracer("t").Start(context.Background(), "root")
	get(t, newClient(t, opts...), ctx, srv.URL+"/x")
	root.End()
	checkChain(t, tel.waitSpans(t, 5), root, chainKinds)
}

// TestGRPCTraceStateAndBaggage: tracestate and baggage travel over gRPC;
// a public gRPC endpoint starts a new trace.
func TestGRPCTraceStateAndBaggage(t *testing.T) {
	tel := newTelemetry(t)
	got := make(chan context.Context, 1)
	svc := &ctxService{got: got}
	client := dialGRPC(t, tel, startGRPC(t, tel, svc))
	ts, _ := trace.ParseTraceState("vendor=abc")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}, TraceFlags: 1, TraceState: ts})
	m, _ := baggage.NewMemberRaw("tenant", "acme corp")
	bg, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bg)
	if _, err := client.EmptyCall(ctx, &testpb.Empty{}); err != nil {
		t.Fatal(err)
	}
	sctx := <-got
	ssc := trace.SpanContextFromContext(sctx)
	if ssc.TraceID() != sc.TraceID() || ssc.TraceState().Get("vendor") != "abc" {
		t.Errorf("server span context %v", ssc)
	}
	if v := baggage.FromContext(sctx).Member("tenant").Value(); v != "acme corp" {
		t.Errorf("baggage %q", v)
	}

	pub := dialGRPC(t, tel, startGRPCWith(t, tel.opts(WithPublicEndpoint()), svc))
	if _, err := pub.EmptyCall(ctx, &testpb.Empty{}); err != nil {
		t.Fatal(err)
	}
	if psc := trace.SpanContextFromContext(<-got); psc.TraceID() == sc.TraceID() || !psc.IsValid() {
		t.Errorf("public endpoint continued the caller's trace: %v", psc)
	}
}

type ctxService struct {
	testpb.UnimplementedTestServiceServer
	got chan context.Context
}

func (s *ctxService) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	s.got <- ctx
	return &testpb.Empty{}, nil
}

// TestFilterAndServerName: filtered requests get nothing; WithServerName
// sets server.address on spans and metrics.
func TestFilterAndServerName(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && trace.SpanContextFromContext(r.Context()).IsValid() {
			t.Error("filtered request has a span")
		}
	}), tel.opts(WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }), WithServerName("api.example"))...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/work", nil))
	spans := tel.waitSpans(t, 1)
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	if v, _ := spanAttr(spans[0], semconv.AttrServerAddress); v.AsString() != "api.example" {
		t.Errorf("server.address %q", v.AsString())
	}
	m, _ := findMetric(tel.collect(t), semconv.MetricHTTPServerRequestDuration)
	if sets := dataPointAttrs(m); len(sets) != 1 || !strings.Contains(sets[0], "server.address=api.example") {
		t.Errorf("series %v", sets)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	c := newClient(t, tel.opts(WithFilter(func(*http.Request) bool { return false }))...)
	get(t, c, context.Background(), srv.URL)
	if n := len(tel.rec.Ended()); n != 1 {
		t.Errorf("filtered client request made a span (%d spans)", n)
	}
}

// TestChunkedRequestBody: a request body of unknown length is counted.
func TestChunkedRequestBody(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if n != 5000 {
			t.Errorf("read %d", n)
		}
	}), tel.opts(WithRecommendedAttributes())...))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL, io.NopCloser(strings.NewReader(strings.Repeat("x", 5000))))
	req.ContentLength = -1 // chunked
	resp, err := newClient(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if v, _ := spanAttr(tel.waitSpans(t, 1)[0], semconv.AttrHTTPRequestBodySize); v.AsInt64() != 5000 {
		t.Errorf("request body size %v", v)
	}
	m, _ := findMetric(tel.collect(t), semconv.MetricHTTPServerRequestBodySize)
	if histCount(m) != 1 {
		t.Errorf("request size histogram count %d", histCount(m))
	}
}

// TestWriterVariantsWrite drives every writer variant's methods.
func TestWriterVariantsWrite(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-A", "1")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "ab")
		w.Write([]byte("cd"))
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if u, ok := w.(interface{ Unwrap() http.ResponseWriter }); !ok || u.Unwrap() == nil {
			t.Error("no Unwrap")
		}
	}), tel.opts(WithRecommendedAttributes())...)
	rec := httptest.NewRecorder()
	writers := []http.ResponseWriter{
		struct{ http.ResponseWriter }{rec},
		struct {
			http.ResponseWriter
			http.Flusher
		}{rec, rec},
		struct {
			http.ResponseWriter
			http.Flusher
			http.Pusher
		}{rec, rec, nil},
		struct {
			http.ResponseWriter
			http.Flusher
			http.Hijacker
		}{rec, rec, nil},
	}
	for _, w := range writers {
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	}
	for _, s := range tel.waitSpans(t, len(writers)) {
		a := attrMap(s.Attributes())
		if a[semconv.AttrHTTPResponseStatusCode].AsInt64() != 201 || a[semconv.AttrHTTPResponseBodySize].AsInt64() != 4 {
			t.Errorf("status %v size %v: %v", a[semconv.AttrHTTPResponseStatusCode], a[semconv.AttrHTTPResponseBodySize], s.Attributes())
		}
	}
}

// TestInformationalStatus: a 103 Early Hints before the final status is not
// taken for the response status (real server: the recorder cannot do 1xx).
func TestInformationalStatus(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</a.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ok")
	}), tel.opts(WithRecommendedAttributes())...))
	defer srv.Close()
	code, body := get(t, newClient(t), context.Background(), srv.URL)
	if code != 202 || body != "ok" {
		t.Fatalf("%d %q", code, body)
	}
	a := attrMap(tel.waitSpans(t, 1)[0].Attributes())
	if a[semconv.AttrHTTPResponseStatusCode].AsInt64() != 202 || a[semconv.AttrHTTPResponseBodySize].AsInt64() != 2 {
		t.Errorf("status %v size %v", a[semconv.AttrHTTPResponseStatusCode], a[semconv.AttrHTTPResponseBodySize])
	}
}

type nilMeterProvider struct{ metricembedded.MeterProvider }

func (nilMeterProvider) Meter(string, ...metric.MeterOption) metric.Meter { return nil }

type nilTracerProvider struct{ traceembedded.TracerProvider }

func (nilTracerProvider) Tracer(string, ...trace.TracerOption) trace.Tracer { return nil }

// TestNilProviders: providers that hand out nil never make the middleware
// panic.
func TestNilProviders(t *testing.T) {
	opts := []Option{WithMeterProvider(nilMeterProvider{}), WithTracerProvider(nilTracerProvider{})}
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), opts...))
	defer srv.Close()
	if code, body := get(t, newClient(t, opts...), context.Background(), srv.URL); code != 200 || body != "ok" {
		t.Fatalf("%d %q", code, body)
	}
	_ = NewGRPCServerHandler(opts...)
	_ = NewGRPCClientHandler(opts...)
}

// sumCounter returns the value of an int64 sum per attribute string.
func sumCounter(rm metricdata.ResourceMetrics, name string) map[string]int64 {
	out := map[string]int64{}
	m, ok := findMetric(rm, name)
	if !ok {
		return out
	}
	if d, ok := m.Data.(metricdata.Sum[int64]); ok {
		for _, dp := range d.DataPoints {
			v, _ := dp.Attributes.Value(semconv.AttrDropReason)
			out[v.AsString()] += dp.Value
		}
	}
	return out
}

// TestDroppedHeadersCounted: every ignored or cut propagation header is
// counted in verdict.telemetry.dropped, by reason, on HTTP and gRPC servers.
func TestDroppedHeadersCounted(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tel.opts()...)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	manyMembers := strings.Repeat("k=v,", 64) + "last=v"
	cases := []map[string]string{
		{"traceparent": "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"traceparent": tp, "tracestate": "foo=1,@foo=2"}, // a key may not start with @
		{"traceparent": tp, "baggage": "bad key=v"},
		{"traceparent": tp, "baggage": manyMembers},
		{"traceparent": tp, "tracestate": "ok=1", "baggage": "k=v"}, // nothing dropped
	}
	for _, hdrs := range cases {
		req := httptest.NewRequest("GET", "/", nil)
		for k, v := range hdrs {
			req.Header.Set(k, v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	want := map[string]int64{"invalid_traceparent": 1, "invalid_tracestate": 1, "invalid_baggage": 1, "baggage_limit": 1}
	got := sumCounter(tel.collect(t), semconv.MetricDropped)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("HTTP: dropped[%s] = %d, want %d (all %v)", k, got[k], v, got)
		}
	}

	// A plain client (no stats handler) sends the headers as they are.
	addr := startGRPC(t, tel, &ctxService{got: make(chan context.Context, 10)})
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	raw := testpb.NewTestServiceClient(cc)
	for _, hdrs := range cases {
		var kv []string
		for k, v := range hdrs {
			kv = append(kv, k, v)
		}
		ctx := metadata.AppendToOutgoingContext(context.Background(), kv...)
		if _, err := raw.EmptyCall(ctx, &testpb.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	got = sumCounter(tel.collect(t), semconv.MetricDropped)
	for k, v := range want {
		if got[k] != 2*v {
			t.Errorf("gRPC: dropped[%s] = %d, want %d (all %v)", k, got[k], 2*v, got)
		}
	}
}
