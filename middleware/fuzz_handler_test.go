package middleware

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/w3c"
)

// The routes of the fuzzed server: whatever a request carries, http.route
// is one of these or absent.
var fuzzRoutes = []string{"/items/{id}", "/orders", "/static/", "/{$}"}

var knownMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", semconv.ValueOther}

// fuzzServer is the instrumented mux of FuzzServerRequest, built once.
type fuzzServer struct {
	tel     *telemetry
	handler http.Handler

	mu      sync.Mutex
	seenCtx context.Context // the context the inner handler got

	drops map[string]int64 // verdict.telemetry.dropped after the last request
}

func newFuzzServer(t testing.TB) *fuzzServer {
	fs := &fuzzServer{tel: newTelemetry(t)}
	mux := http.NewServeMux()
	inner := func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		fs.seenCtx = r.Context()
		fs.mu.Unlock()
		if r.URL.Query().Has("fail") {
			w.WriteHeader(http.StatusBadGateway)
		}
		_, _ = w.Write([]byte("ok"))
	}
	mux.HandleFunc("GET /items/{id}", inner)
	mux.HandleFunc("POST /orders", inner)
	mux.HandleFunc("/static/", inner)
	mux.HandleFunc("/{$}", inner)
	fs.handler = NewHandler(mux, fs.tel.opts(WithRecommendedAttributes(), WithMaxSeries(50))...)
	return fs
}

// dropCounts returns verdict.telemetry.dropped by reason.
func dropCounts(rm metricdata.ResourceMetrics) map[string]int64 {
	out := map[string]int64{}
	m, ok := findMetric(rm, semconv.MetricDropped)
	if !ok {
		return out
	}
	for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
		r, _ := dp.Attributes.Value(semconv.AttrDropReason)
		out[r.AsString()] += dp.Value
	}
	return out
}

// allowedMetricValue says which values each string attribute of the server
// metrics may take: none of them is text the client chose.
func allowedMetricValue(key, v string) bool {
	switch key {
	case semconv.AttrHTTPRequestMethod:
		return slices.Contains(knownMethods, v)
	case semconv.AttrURLScheme:
		return v == "http" || v == "https"
	case semconv.AttrHTTPRoute:
		return slices.Contains(fuzzRoutes, v)
	case semconv.AttrNetworkProtocolVersion:
		return v == "1.0" || v == "1.1" || v == "2" || v == "3"
	case semconv.AttrErrorType:
		n, err := strconv.Atoi(v)
		return err == nil && n >= 500 && n <= 599
	case semconv.AttrDropSignal:
		return v == "propagation"
	case semconv.AttrDropReason:
		return slices.Contains(dropReasonNames[:], v)
	}
	return false
}

// FuzzServerRequest sends arbitrary request lines and headers through
// net/http's request parser into the instrumented handler, as a server
// receives them, and checks properties, not just the absence of a panic:
//
//   - one server span, named after a known method (or HTTP) and a route
//     of the mux; http.request.method is known or _OTHER, and
//     http.request.method_original is the raw method exactly when _OTHER;
//   - the trace continues exactly when traceparent is valid (same trace
//     ID, the header's span as parent, the sampled flag kept), and an
//     invalid one is counted as a drop;
//   - the span's tracestate holds only members of the header, at most 32;
//   - the baggage the handler sees respects the W3C limits, and each of its
//     members comes from the header;
//   - no metric attribute carries text the client chose: every value is
//     from a closed set (methods, routes, schemes, versions, status codes),
//     and the number of series stays bounded.
func FuzzServerRequest(f *testing.F) {
	f.Add("GET", "/items/42?x=1", "example.com:8080", "curl/8", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "userId=alice,serverNode=DF%2028;p=1", "10.0.0.1:5555")
	f.Add("FOO", "/orders", "[::1]:99999", "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "a@b=c", "k=v", "[2001:db8::1]:443")
	f.Add("POST", "/static/../../etc/passwd", "h", "x\x01y", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-x", strings.Repeat("k=v,", 40), "k=%zz", "garbage")
	f.Add("DELETE", "/?fail=1", "", "ua", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", strings.Repeat("a=b,", 70)+"a=b", "1.2.3.4")
	f.Add("GET", "*", "xn--nxasmq6b.example:0", "Mozilla", " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\t", " , ,a=b ", "k = v ; p", ":80")
	fs := newFuzzServer(f)
	var mu sync.Mutex // the fuzz function may run in parallel workers' goroutines
	f.Fuzz(func(t *testing.T, method, target, host, ua, tp, ts, bg, remote string) {
		raw := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nTraceparent: %s\r\nTracestate: %s\r\nBaggage: %s\r\n\r\n",
			method, target, host, ua, tp, ts, bg)
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return // net/http answers 400 before any handler runs
		}
		r.RemoteAddr = remote
		mu.Lock()
		defer mu.Unlock()
		before := fs.drops
		fs.tel.rec.Reset()
		fs.seenCtx = nil
		fs.handler.ServeHTTP(httptest.NewRecorder(), r)

		spans := fs.tel.rec.Ended()
		if len(spans) != 1 {
			t.Fatalf("%d spans for one request", len(spans))
		}
		s := spans[0]
		if s.SpanKind() != trace.SpanKindServer {
			t.Fatalf("span kind %v", s.SpanKind())
		}
		a := attrMap(s.Attributes())
		m := a[semconv.AttrHTTPRequestMethod].AsString()
		if !slices.Contains(knownMethods, m) {
			t.Fatalf("http.request.method %q for method %q", m, r.Method)
		}
		orig, hasOrig := a[semconv.AttrHTTPRequestMethodOriginal]
		if (m == semconv.ValueOther) != hasOrig || hasOrig && orig.AsString() != r.Method {
			t.Fatalf("method %q: http.request.method %q, method_original %v", r.Method, m, orig.Emit())
		}
		route, hasRoute := a[semconv.AttrHTTPRoute]
		if hasRoute && !slices.Contains(fuzzRoutes, route.AsString()) {
			t.Fatalf("http.route %q not a route of the mux", route.AsString())
		}
		nameMethod := m
		if m == semconv.ValueOther {
			nameMethod = "HTTP"
		}
		wantName := nameMethod
		if hasRoute {
			wantName += " " + route.AsString()
		}
		if s.Name() != wantName {
			t.Fatalf("span name %q, want %q", s.Name(), wantName)
		}
		if p, ok := a[semconv.AttrServerPort]; ok && (p.AsInt64() < 1 || p.AsInt64() > 65535) {
			t.Fatalf("server.port %d", p.AsInt64())
		}
		if c, ok := a[semconv.AttrClientAddress]; ok && !strings.Contains(remote, c.AsString()) {
			t.Fatalf("client.address %q not from RemoteAddr %q", c.AsString(), remote)
		}

		// Trace continuation follows W3C Trace Context exactly.
		rm := fs.tel.collect(t)
		after := dropCounts(rm)
		fs.drops = after
		want, valid := w3c.ParseTraceParentValues(r.Header.Values("Traceparent"))
		parent := s.Parent()
		switch {
		case valid:
			if !parent.IsValid() || !parent.IsRemote() || parent.TraceID() != want.TraceID || parent.SpanID() != want.SpanID ||
				s.SpanContext().TraceID() != want.TraceID || parent.IsSampled() != (want.Flags&w3c.FlagSampled != 0) {
				t.Fatalf("traceparent %q: parent %v, span %v", tp, parent, s.SpanContext())
			}
		case parent.IsValid():
			t.Fatalf("invalid traceparent %q continued as %v", tp, parent)
		case len(r.Header.Values("Traceparent")) > 0 && after["invalid_traceparent"] != before["invalid_traceparent"]+1:
			t.Fatalf("invalid traceparent %q not counted: %v -> %v", tp, before, after)
		}
		tsHeader := strings.Join(r.Header.Values("Tracestate"), ",")
		if st := s.SpanContext().TraceState(); st.Len() > w3c.MaxTraceStateMembers {
			t.Fatalf("tracestate with %d members", st.Len())
		} else {
			st.Walk(func(k, v string) bool {
				if !strings.Contains(tsHeader, k+"="+v) {
					t.Fatalf("tracestate member %s=%s not in the header %q", k, v, tsHeader)
				}
				return true
			})
		}

		// Baggage: the W3C limits, and nothing invented.
		fs.mu.Lock()
		ctx := fs.seenCtx
		fs.mu.Unlock()
		if ctx != nil {
			b := baggage.FromContext(ctx)
			if b.Len() > w3c.MaxBaggageMembers {
				t.Fatalf("%d baggage members", b.Len())
			}
			bgHeader := strings.Join(r.Header.Values("Baggage"), ",")
			for _, mem := range b.Members() {
				if !strings.Contains(bgHeader, mem.Key()) {
					t.Fatalf("baggage key %q not in the header %q", mem.Key(), bgHeader)
				}
			}
		}

		// Metrics: closed sets only, bounded series.
		for _, sm := range rm.ScopeMetrics {
			for _, met := range sm.Metrics {
				sets := metricAttrSets(met)
				if len(sets) > 50+1 {
					t.Fatalf("%s has %d series with WithMaxSeries(50)", met.Name, len(sets))
				}
				for _, set := range sets {
					for _, kv := range set.ToSlice() {
						if kv.Value.Type() == attribute.STRING && !allowedMetricValue(string(kv.Key), kv.Value.AsString()) {
							t.Fatalf("metric %s: %s=%q is not from a closed set", met.Name, kv.Key, kv.Value.AsString())
						}
					}
				}
			}
		}
	})
}

// metricAttrSets returns the attribute sets of m's data points.
func metricAttrSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Histogram[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Sum[int64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, dp := range d.DataPoints {
			out = append(out, dp.Attributes)
		}
	}
	return out
}

// FuzzSplitHostPort: the allocation-free splitter agrees with
// net.SplitHostPort wherever that one succeeds with a port verdict can use,
// returns a substring of its input, and never a port outside 0-65535.
func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"example.com:80", "[::1]:443", "::1", "[fe80::1%eth0]:8080", "h:", ":80", "h:99999", "h:0080", "[::1", "a:b:c", "[]:1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, hp string) {
		host, port := splitHostPort(hp)
		if port < 0 || port > 65535 {
			t.Fatalf("splitHostPort(%q) port %d", hp, port)
		}
		if !strings.Contains(hp, host) {
			t.Fatalf("splitHostPort(%q) host %q is not from the input", hp, host)
		}
		h, p, err := net.SplitHostPort(hp)
		if err != nil {
			return
		}
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 0 || n > 65535 || len(p) > 5 || strings.ContainsAny(p, "+-") {
			return
		}
		if host != h || port != n {
			t.Fatalf("splitHostPort(%q) = %q, %d; net.SplitHostPort = %q, %q", hp, host, port, h, p)
		}
	})
}

// FuzzRedactURL: url.full never carries a user name, a password, a
// fragment, or the value of a signature query key, and is otherwise the URL
// as sent.
func FuzzRedactURL(f *testing.F) {
	for _, s := range []string{
		"https://user:pass@example.com/p?q=1",
		"https://token@example.com/",
		"https://s3.example.com/o?AWSAccessKeyId=AKIA&Signature=abc%2F&Expires=1",
		"https://x.blob.core.windows.net/c?sv=1&sig=secret&se=2",
		"https://storage.googleapis.com/b/o?X-Goog-Signature=deadbeef&X-Goog-Date=1",
		"http://h/p#frag",
		"http://h/p?sig",
		"/relative?sig=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		out := redactURL(u)
		back, err := url.Parse(out)
		if err != nil {
			t.Fatalf("redactURL(%q) = %q does not parse: %v", raw, out, err)
		}
		if (u.User == nil) != (back.User == nil) {
			t.Fatalf("redactURL(%q) = %q: user info %v -> %v", raw, out, u.User, back.User)
		}
		if back.User != nil {
			pw, hasPW := back.User.Password()
			if _, had := u.User.Password(); back.User.Username() != redacted || had != hasPW || hasPW && pw != redacted {
				t.Fatalf("redactURL(%q) = %q keeps credentials", raw, out)
			}
		}
		if back.Fragment != "" {
			t.Fatalf("redactURL(%q) = %q keeps the fragment", raw, out)
		}
		for _, pair := range strings.Split(back.RawQuery, "&") {
			if k, v, ok := strings.Cut(pair, "="); ok && slices.Contains(sensitiveQueryKeys[:], k) && v != redacted {
				t.Fatalf("redactURL(%q) = %q keeps %s", raw, out, pair)
			}
		}
		if u.User == nil && !hasSensitiveKey(u.RawQuery) && u.Fragment == "" && out != u.String() {
			t.Fatalf("redactURL(%q) = %q, want it unchanged (%q)", raw, out, u.String())
		}
	})
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://example.com/p?q=1", "https://example.com/p?q=1"},
		{"https://user:pass@example.com/p", "https://REDACTED:REDACTED@example.com/p"},
		{"https://ghp_token@github.com/x.git", "https://REDACTED@github.com/x.git"},
		{"https://s3/o?AWSAccessKeyId=AKIA&Expires=1&Signature=abc", "https://s3/o?AWSAccessKeyId=REDACTED&Expires=1&Signature=REDACTED"},
		{"https://blob/c?sv=1&sig=secret", "https://blob/c?sv=1&sig=REDACTED"},
		{"https://gcs/o?X-Goog-Signature=f00&a=b", "https://gcs/o?X-Goog-Signature=REDACTED&a=b"},
		{"https://h/p?signature=kept&Sig=kept", "https://h/p?signature=kept&Sig=kept"},
		{"http://h/p#secret-fragment", "http://h/p"},
	} {
		u, err := url.Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redactURL(u); got != c.want {
			t.Errorf("redactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
