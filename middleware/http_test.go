package middleware

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
)

func newClient(t testing.TB, opts ...Option) *http.Client {
	base := &http.Transport{}
	t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: NewTransport(base, opts...)}
}

func get(t testing.TB, c *http.Client, ctx context.Context, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestHTTPChain: client -> server A -> client -> server B yields one trace:
// root client span -> A server span -> A's client span -> B server span.
func TestHTTPChain(t *testing.T) {
	tel := newTelemetry(t)
	client := newClient(t, tel.opts()...)

	muxB := http.NewServeMux()
	muxB.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		if got := baggage.FromContext(r.Context()).Member("user").Value(); got != "alice b" {
			t.Errorf("baggage at B: %q", got)
		}
		fmt.Fprintf(w, "item %s", r.PathValue("id"))
	})
	srvB := httptest.NewServer(NewHandler(muxB, tel.opts()...))
	defer srvB.Close()

	muxA := http.NewServeMux()
	muxA.HandleFunc("GET /front", func(w http.ResponseWriter, r *http.Request) {
		_, body := get(t, client, r.Context(), srvB.URL+"/items/42")
		io.WriteString(w, "A:"+body)
	})
	srvA := httptest.NewServer(NewHandler(muxA, tel.opts()...))
	defer srvA.Close()

	m, _ := baggage.NewMemberRaw("user", "alice b")
	bg, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(context.Background(), bg)
	ctx, root := tel.tp.Tracer("test").Start(ctx, "root")
	code, body := get(t, client, ctx, srvA.URL+"/front")
	root.End()
	if code != 200 || body != "A:item 42" {
		t.Fatalf("got %d %q", code, body)
	}

	spans := tel.waitSpans(t, 5)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		key := s.Name() + "/" + s.SpanKind().String()
		byName[key] = s
		if s.SpanContext().TraceID() != root.SpanContext().TraceID() {
			t.Errorf("span %s in trace %s, want %s", key, s.SpanContext().TraceID(), root.SpanContext().TraceID())
		}
	}
	chain := []string{"root/internal", "GET/client", "GET /front/server", "GET/client", "GET /items/{id}/server"}
	var clientSpans []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.SpanKind() == trace.SpanKindClient {
			clientSpans = append(clientSpans, s)
		}
	}
	if len(clientSpans) != 2 {
		t.Fatalf("client spans: %d", len(clientSpans))
	}
	outer, inner := clientSpans[0], clientSpans[1]
	if outer.Parent().SpanID() != root.SpanContext().SpanID() {
		outer, inner = inner, outer
	}
	srvASpan, srvBSpan := byName[chain[2]], byName[chain[4]]
	if srvASpan == nil || srvBSpan == nil {
		t.Fatalf("server spans missing: %v", byName)
	}
	checks := []struct {
		child, parent sdktrace.ReadOnlySpan
		what          string
	}{
		{outer, nil, "outer client <- root"},
		{srvASpan, outer, "server A <- outer client"},
		{inner, srvASpan, "inner client <- server A"},
		{srvBSpan, inner, "server B <- inner client"},
	}
	for _, c := range checks {
		want := root.SpanContext().SpanID()
		if c.parent != nil {
			want = c.parent.SpanContext().SpanID()
		}
		if got := c.child.Parent().SpanID(); got != want {
			t.Errorf("%s: parent %s, want %s", c.what, got, want)
		}
	}
	if !srvBSpan.Parent().IsRemote() {
		t.Error("server B's parent is not remote")
	}
	a := attrMap(srvBSpan.Attributes())
	for k, want := range map[string]string{
		semconv.AttrHTTPRoute:         "/items/{id}",
		semconv.AttrHTTPRequestMethod: "GET",
		semconv.AttrURLPath:           "/items/42",
		semconv.AttrURLScheme:         "http",
		semconv.AttrServerAddress:     "127.0.0.1",
		semconv.AttrClientAddress:     "127.0.0.1",
	} {
		if got := a[k].Emit(); got != want {
			t.Errorf("server B %s = %q, want %q", k, got, want)
		}
	}
	if a[semconv.AttrHTTPResponseStatusCode].AsInt64() != 200 || a[semconv.AttrServerPort].AsInt64() == 0 {
		t.Errorf("status attr %v, port %v", a[semconv.AttrHTTPResponseStatusCode], a[semconv.AttrServerPort])
	}
	// Eight required/conditionally required/client.address, plus
	// network.protocol.version (as on the metric, issue 11).
	if n := len(srvBSpan.Attributes()); n > 9 {
		t.Errorf("server span has %d attributes by default, want <= 9", n)
	}
	ca := attrMap(inner.Attributes())
	for _, p := range []string{"request_write", "server_wait", "response_read"} {
		if v, ok := ca["http.client.phase."+p+".duration"]; !ok || v.AsFloat64() <= 0 {
			t.Errorf("client phase %s = %v, %v", p, v, ok)
		}
	}
	if _, ok := ca[semconv.AttrHTTPClientConnectionReused]; !ok {
		t.Error("connection reuse attribute missing")
	}

	rm := tel.collect(t)
	dur, ok := findMetric(rm, semconv.MetricHTTPServerRequestDuration)
	if !ok || histCount(dur) != 2 {
		t.Fatalf("server duration metric: %v %d", ok, histCount(dur))
	}
	found := false
	for _, s := range dataPointAttrs(dur) {
		if strings.Contains(s, "http.route=/items/{id}") && strings.Contains(s, "http.response.status_code=200") {
			found = true
		}
		if strings.Contains(s, "user_agent") || strings.Contains(s, "url.path") || strings.Contains(s, "client.address") {
			t.Errorf("unbounded attribute on metric: %s", s)
		}
	}
	if !found {
		t.Errorf("no /items/{id} series in %v", dataPointAttrs(dur))
	}
	if ph, ok := findMetric(rm, semconv.MetricHTTPClientPhaseDuration); !ok || histCount(ph) == 0 {
		t.Errorf("phase metric missing")
	} else {
		phases := strings.Join(dataPointAttrs(ph), " ")
		for _, p := range []string{"phase=connect", "phase=request_write", "phase=server_wait", "phase=response_read"} {
			if !strings.Contains(phases, p) {
				t.Errorf("phase series %s missing in %s", p, phases)
			}
		}
	}
	if act, ok := findMetric(rm, semconv.MetricHTTPServerActiveRequests); !ok {
		t.Error("active requests metric missing")
	} else if len(dataPointAttrs(act)) == 0 {
		t.Error("active requests has no points")
	}
}

// TestHTTPGlobalPropagatorDefault: with no propagator configured anywhere,
// the middleware still propagates W3C trace context.
func TestHTTPGlobalPropagatorDefault(t *testing.T) {
	tel := newTelemetry(t)
	var got trace.SpanContext
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = trace.SpanContextFromContext(r.Context())
		if r.Header.Get("Traceparent") == "" {
			t.Error("no traceparent header")
		}
	}), tel.opts()...))
	defer srv.Close()
	ctx, root := tel.tp.Tracer("t").Start(context.Background(), "root")
	get(t, newClient(t, tel.opts()...), ctx, srv.URL)
	root.End()
	if got.TraceID() != root.SpanContext().TraceID() {
		t.Fatalf("trace not propagated: %v", got.TraceID())
	}
}

// TestPropagatorInterop: our propagator and OTel's standard ones understand
// each other, in both directions, through the middleware and directly.
func TestPropagatorInterop(t *testing.T) {
	std := propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	ours := NewPropagator()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled,
	})
	ts, _ := trace.ParseTraceState("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")
	sc = sc.WithTraceState(ts)
	m, _ := baggage.NewMemberRaw("k", "v w,x")
	bg, _ := baggage.New(m)
	ctx := baggage.ContextWithBaggage(trace.ContextWithSpanContext(context.Background(), sc), bg)
	for _, dir := range []struct {
		name     string
		inj, ext propagation.TextMapPropagator
	}{{"ours->std", ours, std}, {"std->ours", std, ours}, {"ours->ours", ours, ours}} {
		for _, carrierName := range []string{"header", "map"} {
			var carrier propagation.TextMapCarrier = propagation.HeaderCarrier(http.Header{})
			if carrierName == "map" {
				carrier = propagation.MapCarrier{}
			}
			dir.inj.Inject(ctx, carrier)
			out := dir.ext.Extract(context.Background(), carrier)
			got := trace.SpanContextFromContext(out)
			if !got.Equal(sc.WithRemote(true)) {
				t.Errorf("%s/%s: span context %v, want %v", dir.name, carrierName, got, sc)
			}
			if v := baggage.FromContext(out).Member("k").Value(); v != "v w,x" {
				t.Errorf("%s/%s: baggage %q", dir.name, carrierName, v)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		p    propagation.TextMapPropagator
		want propMode
	}{
		{NewPropagator(), modeTraceContext | modeBaggage},
		{propagation.TraceContext{}, modeTraceContext},
		{propagation.Baggage{}, modeBaggage},
		{propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), modeTraceContext | modeBaggage},
		{propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}), modeTraceContext},
		{propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, fakeProp{}), modeGeneric},
		{fakeProp{}, modeGeneric},
	}
	for i, tt := range tests {
		if got := classify(tt.p, false); got != tt.want {
			t.Errorf("%d (%T): mode %b, want %b", i, tt.p, got, tt.want)
		}
	}
}

type fakeProp struct{}

func (fakeProp) Inject(ctx context.Context, c propagation.TextMapCarrier) { c.Set("x-fake", "1") }
func (fakeProp) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return ctx
}
func (fakeProp) Fields() []string { return []string{"x-fake"} }

// TestHTTPCustomPropagator: an injected non-W3C propagator is used through
// the carrier.
func TestHTTPCustomPropagator(t *testing.T) {
	tel := newTelemetry(t)
	var sawFake, sawTP bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawFake, sawTP = r.Header.Get("X-Fake") == "1", r.Header.Get("Traceparent") != ""
	}))
	defer srv.Close()
	get(t, newClient(t, tel.opts(WithPropagators(fakeProp{}))...), context.Background(), srv.URL)
	if !sawFake || sawTP {
		t.Fatalf("fake header %v, traceparent %v", sawFake, sawTP)
	}
}

// TestResponseWriterInterfaces: the writer handed to the handler keeps
// exactly the optional interfaces of the server's writer, for HTTP/1.1 and
// HTTP/2, and writes through them are counted.
func TestResponseWriterInterfaces(t *testing.T) {
	tel := newTelemetry(t)
	type ifaces struct{ flusher, hijacker, readerFrom, pusher, unwrap bool }
	check := func(w http.ResponseWriter) ifaces {
		_, f := w.(http.Flusher)
		_, h := w.(http.Hijacker)
		_, rf := w.(io.ReaderFrom)
		_, p := w.(http.Pusher)
		_, u := w.(interface{ Unwrap() http.ResponseWriter })
		return ifaces{f, h, rf, p, u}
	}
	var raw, wrapped ifaces
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wrapped = check(w)
		if rf, ok := w.(io.ReaderFrom); ok {
			rf.ReadFrom(strings.NewReader("hello "))
		} else {
			io.WriteString(w, "hello ")
		}
		w.(http.Flusher).Flush()
		io.WriteString(w, "world")
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil && r.ProtoMajor == 1 {
			t.Errorf("ResponseController through wrapper: %v", err)
		}
	})
	outer := NewHandler(inner, tel.opts(WithRecommendedAttributes())...)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw = check(w)
		outer.ServeHTTP(w, r)
	})

	srv := httptest.NewServer(h)
	defer srv.Close()
	_, body := get(t, newClient(t), context.Background(), srv.URL)
	if body != "hello world" {
		t.Fatalf("body %q", body)
	}
	raw.unwrap = true // the wrapper adds Unwrap for http.ResponseController
	if raw != wrapped || !wrapped.flusher || !wrapped.hijacker || !wrapped.readerFrom {
		t.Errorf("HTTP/1.1: raw %+v, wrapped %+v", raw, wrapped)
	}
	spans := tel.waitSpans(t, 1)
	if v, _ := spanAttr(spans[0], semconv.AttrHTTPResponseBodySize); v.AsInt64() != 11 {
		t.Errorf("response body size %v", v)
	}
	if v, _ := spanAttr(spans[0], semconv.AttrNetworkProtocolVersion); v.AsString() != "1.1" {
		t.Errorf("network.protocol.version %q", v.AsString())
	}
	if v, _ := spanAttr(spans[0], semconv.AttrUserAgentOriginal); v.AsString() == "" {
		t.Errorf("user_agent.original missing")
	}

	srv2 := httptest.NewUnstartedServer(h)
	srv2.EnableHTTP2 = true
	srv2.StartTLS()
	defer srv2.Close()
	c2 := srv2.Client()
	defer c2.CloseIdleConnections()
	resp, err := c2.Get(srv2.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("not HTTP/2: %s", resp.Proto)
	}
	raw.unwrap = true
	if raw != wrapped || wrapped.hijacker || !wrapped.flusher || !wrapped.pusher {
		t.Errorf("HTTP/2: raw %+v, wrapped %+v", raw, wrapped)
	}
}

// TestHijack: a hijacked connection works through the wrapper and the span
// still ends.
func TestHijack(t *testing.T) {
	tel := newTelemetry(t)
	srv := httptest.NewServer(NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
		brw.Flush()
	}), tel.opts()...))
	defer srv.Close()
	_, body := get(t, newClient(t), context.Background(), srv.URL)
	if body != "hi" {
		t.Fatalf("body %q", body)
	}
	tel.waitSpans(t, 1)
}

// TestServerPanicEndsSpan: a panicking handler still ends its span and
// decrements active requests; the panic reaches net/http.
func TestServerPanicEndsSpan(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }), tel.opts()...)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	tel.waitSpans(t, 1)
}

// TestUnknownMethodAndFlood: random methods, paths and user agents keep the
// number of series bounded; unknown methods become _OTHER.
func TestUnknownMethodAndFlood(t *testing.T) {
	tel := newTelemetry(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/known/{id}", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	srv := httptest.NewServer(NewHandler(mux, tel.opts()...))
	defer srv.Close()
	client := newClient(t, tel.opts()...)
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 400
	for i := range n {
		method := fmt.Sprintf("M%08X", rng.Uint32())
		if i%3 == 0 {
			method = "GET"
		}
		path := fmt.Sprintf("/known/%d", rng.Uint64())
		if i%2 == 0 {
			path = fmt.Sprintf("/random/%x/%x", rng.Uint64(), rng.Uint64())
		}
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("User-Agent", fmt.Sprintf("bot/%d", rng.Uint64()))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	rm := tel.collect(t)
	for _, name := range []string{semconv.MetricHTTPServerRequestDuration, semconv.MetricHTTPServerActiveRequests,
		semconv.MetricHTTPClientRequestDuration, semconv.MetricHTTPClientPhaseDuration} {
		m, ok := findMetric(rm, name)
		if !ok {
			t.Fatalf("%s missing", name)
		}
		sets := dataPointAttrs(m)
		// methods {GET, _OTHER} x routes {/known/{id}, /} x statuses {200, 404}
		// plus phase names for the phase metric.
		if len(sets) > 12 {
			t.Errorf("%s has %d series after %d random requests: %v", name, len(sets), n, sets)
		}
		for _, s := range sets {
			if strings.Contains(s, "bot/") || strings.Contains(s, "/random/") || strings.Contains(s, "=M") {
				t.Errorf("%s: unbounded value in series %s", name, s)
			}
		}
	}
	spans := tel.rec.Ended()
	sawOther := false
	for _, s := range spans {
		if s.SpanKind() != trace.SpanKindServer {
			continue
		}
		a := attrMap(s.Attributes())
		if a[semconv.AttrHTTPRequestMethod].AsString() == "_OTHER" {
			sawOther = true
			if !strings.HasPrefix(a[semconv.AttrHTTPRequestMethodOriginal].AsString(), "M") {
				t.Errorf("method_original %v", a[semconv.AttrHTTPRequestMethodOriginal])
			}
			if !strings.HasPrefix(s.Name(), "HTTP") {
				t.Errorf("span name for unknown method: %q", s.Name())
			}
		}
	}
	if !sawOther {
		t.Error("no _OTHER method seen")
	}
}

// TestMaxSeriesOverflow: a route function that (wrongly) returns raw paths
// cannot grow the series past the limit; the rest land in the overflow
// series.
func TestMaxSeriesOverflow(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}),
		tel.opts(WithRouteFunc(func(r *http.Request) string { return r.URL.Path }), WithMaxSeries(10))...)
	for i := range 100 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", fmt.Sprintf("/p/%d", i), nil))
	}
	m, _ := findMetric(tel.collect(t), semconv.MetricHTTPServerRequestDuration)
	sets := dataPointAttrs(m)
	if len(sets) != 11 {
		t.Fatalf("%d series, want 10 + overflow", len(sets))
	}
	if !strings.Contains(strings.Join(sets, " "), "otel.metric.overflow=true") {
		t.Fatalf("no overflow series: %v", sets)
	}
}

// TestServerSpanStatus: 5xx sets error.type and Error status; 4xx does not.
func TestServerSpanStatus(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(404)
	}), tel.opts()...)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/bad", nil))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/missing", nil))
	spans := tel.waitSpans(t, 2)
	for _, s := range spans {
		a := attrMap(s.Attributes())
		switch a[semconv.AttrURLPath].AsString() {
		case "/bad":
			if a[semconv.AttrErrorType].AsString() != "503" || s.Status().Code != codes.Error {
				t.Errorf("/bad: error.type %v status %v", a[semconv.AttrErrorType], s.Status())
			}
		case "/missing":
			if _, ok := a[semconv.AttrErrorType]; ok || s.Status().Code == codes.Error {
				t.Errorf("/missing: error.type %v status %v", a[semconv.AttrErrorType], s.Status())
			}
		}
	}
}

// TestPublicEndpoint: the incoming context becomes a link, not the parent.
func TestPublicEndpoint(t *testing.T) {
	tel := newTelemetry(t)
	h := NewHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), tel.opts(WithPublicEndpoint())...)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	s := tel.waitSpans(t, 1)[0]
	if s.Parent().IsValid() || len(s.Links()) != 1 || s.Links()[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("parent %v links %v", s.Parent(), s.Links())
	}
}

// TestExtractRejectsInvalid: an invalid traceparent starts a new trace and
// its tracestate is ignored.
func TestExtractRejectsInvalid(t *testing.T) {
	for _, tp := range []string{
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
	} {
		h := http.Header{}
		h.Set("traceparent", tp)
		h.Set("tracestate", "foo=bar")
		ctx := extractHeader(context.Background(), h, modeTraceContext)
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() || sc.TraceState().Len() != 0 {
			t.Errorf("%s accepted: %v", tp, sc)
		}
	}
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Add("tracestate", "foo=1 , ,bar=2")
	h.Add("tracestate", "baz=3")
	sc := trace.SpanContextFromContext(extractHeader(context.Background(), h, modeTraceContext))
	if sc.TraceState().String() != "foo=1,bar=2,baz=3" {
		t.Errorf("tracestate %q", sc.TraceState().String())
	}
	h.Add("tracestate", "foo=9") // duplicate key: the duplicate is dropped, the rest kept
	sc = trace.SpanContextFromContext(extractHeader(context.Background(), h, modeTraceContext))
	if !sc.IsValid() || sc.TraceState().String() != "foo=1,bar=2,baz=3" {
		t.Errorf("duplicate tracestate: %q", sc.TraceState().String())
	}
	h.Add("tracestate", "@bad=1") // a malformed member: the whole tracestate is ignored
	sc = trace.SpanContextFromContext(extractHeader(context.Background(), h, modeTraceContext))
	if !sc.IsValid() || sc.TraceState().Len() != 0 {
		t.Errorf("malformed tracestate kept: %v", sc.TraceState())
	}
}

// TestWriterShapes: every combination of optional interfaces a server
// writer can have is kept exactly by the wrapper.
func TestWriterShapes(t *testing.T) {
	tel := newTelemetry(t)
	type shape struct{ f, h, r, p bool }
	var got shape
	h := NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, got.f = w.(http.Flusher)
		_, got.h = w.(http.Hijacker)
		_, got.r = w.(io.ReaderFrom)
		_, got.p = w.(http.Pusher)
	}), tel.opts()...)
	for _, want := range []shape{{}, {f: true}, {f: true, h: true}, {f: true, h: true, r: true}, {f: true, p: true}} {
		var w http.ResponseWriter = httptest.NewRecorder()
		switch want {
		case shape{}:
			w = struct{ http.ResponseWriter }{w}
		case shape{f: true}:
			w = struct {
				http.ResponseWriter
				http.Flusher
			}{w, w.(http.Flusher)}
		case shape{f: true, h: true}:
			w = struct {
				http.ResponseWriter
				http.Flusher
				http.Hijacker
			}{w, w.(http.Flusher), nil}
		case shape{f: true, h: true, r: true}:
			w = struct {
				http.ResponseWriter
				http.Flusher
				http.Hijacker
				io.ReaderFrom
			}{w, w.(http.Flusher), nil, nil}
		case shape{f: true, p: true}:
			w = struct {
				http.ResponseWriter
				http.Flusher
				http.Pusher
			}{w, w.(http.Flusher), nil}
		}
		got = shape{}
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if got != want {
			t.Errorf("writer %+v wrapped as %+v", want, got)
		}
	}
}
