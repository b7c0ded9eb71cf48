package middleware

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
)

// durationBuckets (seconds) of the HTTP and RPC duration histograms: from
// 100 µs, a superset of the semantic conventions' advice (see
// semconv.DurationBuckets for why).
var durationBuckets = semconv.DurationBuckets()

// NewHandler returns a handler that serves each request with next inside a
// server span, continuing the caller's trace from the request headers, and
// records the HTTP server metrics of the OpenTelemetry semantic conventions:
// http.server.request.duration, http.server.active_requests,
// http.server.request.body.size and http.server.response.body.size.
//
// The span is named "METHOD route" once next returns (see [WithRouteFunc]);
// 5xx responses set error.type to the status code and the span status to
// Error. The http.ResponseWriter passed to next implements http.Flusher,
// http.Hijacker, io.ReaderFrom and http.Pusher exactly when the server's
// writer does, and unwraps for http.ResponseController.
//
// A nil next means http.DefaultServeMux. The returned handler is safe for
// concurrent use.
func NewHandler(next http.Handler, opts ...Option) http.Handler {
	if next == nil {
		next = http.DefaultServeMux
	}
	c := newConfig(opts)
	h := &handler{next: next, cfg: c}
	h.tracer = c.tracer()
	meter := c.meter()
	h.duration = f64Hist(meter, semconv.MetricHTTPServerRequestDuration,
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	h.active = i64UpDown(meter, semconv.MetricHTTPServerActiveRequests,
		metric.WithUnit("{request}"), metric.WithDescription("Number of active HTTP server requests."))
	h.reqSize = i64Hist(meter, semconv.MetricHTTPServerRequestBodySize,
		metric.WithUnit("By"), metric.WithDescription("Size of HTTP server request bodies."))
	h.respSize = i64Hist(meter, semconv.MetricHTTPServerResponseBodySz,
		metric.WithUnit("By"), metric.WithDescription("Size of HTTP server response bodies."))
	h.series = newSeriesCache(c.maxSeries, h.buildSeries)
	h.dropped = newDropCounter(meter)
	h.activeSeries = newSeriesCache(c.maxSeries, func(k activeKey) *series {
		return newSeries(attribute.String(semconv.AttrHTTPRequestMethod, k.method),
			attribute.String(semconv.AttrURLScheme, k.scheme))
	})
	h.names = &nameCache[routeKey]{max: c.maxSeries, build: func(k routeKey) string {
		if k.route == "" {
			if k.method == semconv.ValueOther {
				return "HTTP"
			}
			return k.method
		}
		if k.method == semconv.ValueOther {
			return "HTTP " + k.route
		}
		return k.method + " " + k.route
	}}
	return h
}

// timedSpan is implemented by spans that expose their timestamps, such as
// the OTel SDK's (its ReadOnlySpan methods); no SDK import is needed.
type timedSpan interface {
	StartTime() time.Time
	EndTime() time.Time
}

// methodSpanName is the span name before the route is known.
func methodSpanName(method string) string {
	if method == semconv.ValueOther {
		return "HTTP"
	}
	return method
}

// Version is the instrumentation scope version: verdict's version
// (internal/semconv.Version, the one place it is kept).
const Version = semconv.Version

type handler struct {
	next         http.Handler
	cfg          config
	tracer       trace.Tracer
	duration     metric.Float64Histogram
	active       metric.Int64UpDownCounter
	reqSize      metric.Int64Histogram
	respSize     metric.Int64Histogram
	series       *seriesCache[serverKey]
	activeSeries *seriesCache[activeKey]
	names        *nameCache[routeKey]
	dropped      *dropCounter
}

type serverKey struct {
	method, scheme, route, proto, errType string
	status                                int
}

type activeKey struct{ method, scheme string }

type routeKey struct{ method, route string }

func (h *handler) buildSeries(k serverKey) *series {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		attribute.String(semconv.AttrHTTPRequestMethod, k.method),
		attribute.String(semconv.AttrURLScheme, k.scheme))
	if k.route != "" {
		attrs = append(attrs, attribute.String(semconv.AttrHTTPRoute, k.route))
	}
	if k.status != 0 {
		attrs = append(attrs, attribute.Int(semconv.AttrHTTPResponseStatusCode, k.status))
	}
	if k.proto != "" {
		attrs = append(attrs, attribute.String(semconv.AttrNetworkProtocolVersion, k.proto))
	}
	if k.errType != "" {
		attrs = append(attrs, attribute.String(semconv.AttrErrorType, k.errType))
	}
	if h.cfg.serverName != "" {
		attrs = append(attrs, attribute.String(semconv.AttrServerAddress, h.cfg.serverName))
	}
	return newSeries(attrs...)
}

// routeOf returns http.route for r after the handler ran: the route
// function's answer, or the path part of the ServeMux pattern
// ("GET example.com/items/{id}" -> "/items/{id}").
func (h *handler) routeOf(r *http.Request) string {
	if h.cfg.routeFunc != nil {
		return h.cfg.routeFunc(r)
	}
	p := r.Pattern
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			return p[i:]
		}
	}
	return ""
}

// serverStartOpts is shared by all spans: options are values, and a slice
// built once does not allocate per request.
// noSpanCtx is the context for measurements that take no exemplar.
var noSpanCtx = context.Background()

var serverStartOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}

var serverStatePool = sync.Pool{New: func() any {
	s := new(serverState)
	s.full.s, s.flushHijack.s, s.push.s, s.flush.s, s.basic.s = s, s, s, s, s
	s.body.s = s
	return s
}}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.cfg.filter != nil && !h.cfg.filter(r) {
		h.next.ServeHTTP(w, r)
		return
	}
	ctx := r.Context()
	p, mode := h.cfg.propagators()
	startOpts := serverStartOpts
	if h.cfg.publicEP {
		remote, _ := extractWith(context.Background(), p, mode, r.Header)
		if sc := trace.SpanContextFromContext(remote); sc.IsValid() {
			startOpts = []trace.SpanStartOption{startOpts[0], trace.WithLinks(trace.Link{SpanContext: sc})}
		}
		ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
	} else {
		var d drops
		if ctx, d = extractWith(ctx, p, mode, r.Header); d != 0 {
			h.dropped.add(d)
		}
	}
	method, methodOK := normMethod(r.Method)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ctx, span := h.tracer.Start(ctx, methodSpanName(method), startOpts...)
	// The duration metric uses the span's own clock readings when the span
	// exposes them (the OTel SDK's spans do), saving two clock reads.
	timed, _ := span.(timedSpan)
	var start time.Time
	if timed != nil {
		start = timed.StartTime()
	}
	if start.IsZero() {
		timed, start = nil, time.Now()
	}
	nh := netspan.Begin(netspan.HTTPServer, span, start)
	if nh.Active() {
		serverConn(nh, r, start)
	}

	act := h.activeSeries.get(activeKey{method, scheme})
	// Exemplars (trace-linked samples) only make sense on the duration;
	// the other instruments are recorded without the span's context, which
	// also spares the SDK's exemplar reservoir on every request.
	h.active.Add(noSpanCtx, 1, act.add...)

	st := serverStatePool.Get().(*serverState)
	st.w = w
	r2 := r.WithContext(ctx)
	reqSize := r.ContentLength
	hasBody := r.Body != nil && r.Body != http.NoBody
	if hasBody && (reqSize < 0 || nh.Active()) {
		// Count a body of unknown length; with the socket probe, also
		// tell it when the request is read in full (its read waits end).
		st.body.rc = r.Body
		st.net = nh
		r2.Body = &st.body
	} else if !hasBody {
		nh.RequestRead() // nothing more to read: no read wait is the request's
	}
	defer func() {
		route := h.routeOf(r2)
		status := st.status
		if status == 0 && !st.hijacked {
			status = http.StatusOK
		}
		if reqSize < 0 {
			reqSize = st.body.n
		}
		respSize := st.written

		errType := ""
		if status >= 500 {
			errType = statusString(status)
		}
		proto := protoVersion(r.ProtoMajor, r.ProtoMinor)
		if span.IsRecording() {
			if route != "" {
				span.SetName(h.names.get(routeKey{method, route}))
			}
			a := st.attrs[:0]
			// Required and conditionally required attributes first, then
			// client.address and network.protocol.version (on the metric
			// too). The OTel SDK deduplicates a span's attributes with a
			// map that stays on the stack for at most 8 attributes and
			// costs three allocations beyond (the common case is 9, see
			// WithRecommendedAttributes), so the other recommended ones
			// are opt-in.
			host, port := splitHostPort(r.Host)
			if h.cfg.serverName != "" {
				host = h.cfg.serverName
			}
			peer, peerPort := splitHostPort(r.RemoteAddr)
			a = append(a,
				attribute.String(semconv.AttrHTTPRequestMethod, method),
				attribute.String(semconv.AttrURLScheme, scheme),
				attribute.String(semconv.AttrURLPath, r.URL.Path))
			if !methodOK {
				a = append(a, attribute.String(semconv.AttrHTTPRequestMethodOriginal, r.Method))
			}
			if route != "" {
				a = append(a, attribute.String(semconv.AttrHTTPRoute, route))
			}
			if status != 0 {
				a = append(a, attribute.Int(semconv.AttrHTTPResponseStatusCode, status))
			}
			if host != "" {
				a = append(a, attribute.String(semconv.AttrServerAddress, host))
				if port == 0 {
					port = defaultPort(scheme)
				}
				a = append(a, attribute.Int(semconv.AttrServerPort, port))
			}
			if peer != "" {
				a = append(a, attribute.String(semconv.AttrClientAddress, peer))
			}
			if proto != "" {
				// As on the duration metric, so that a span and its series
				// can be matched.
				a = append(a, attribute.String(semconv.AttrNetworkProtocolVersion, proto))
			}
			if h.cfg.recommended {
				if ua := r.UserAgent(); ua != "" {
					a = append(a, attribute.String(semconv.AttrUserAgentOriginal, ua))
				}
				if peer != "" {
					a = append(a, attribute.String(semconv.AttrNetworkPeerAddress, peer))
					if peerPort != 0 {
						a = append(a, attribute.Int(semconv.AttrNetworkPeerPort, peerPort))
					}
				}
				if reqSize > 0 {
					a = append(a, attribute.Int64(semconv.AttrHTTPRequestBodySize, reqSize))
				}
				if respSize > 0 {
					a = append(a, attribute.Int64(semconv.AttrHTTPResponseBodySize, respSize))
				}
			}
			if errType != "" {
				a = append(a, attribute.String(semconv.AttrErrorType, errType))
				span.SetStatus(codes.Error, "")
			}
			span.SetAttributes(a...)
		}
		span.End()
		st.reset()
		serverStatePool.Put(st)
		var end time.Time
		if timed != nil {
			end = timed.EndTime()
		}
		if end.IsZero() {
			end = time.Now()
		}

		s := h.series.get(serverKey{method: method, scheme: scheme, route: route, proto: proto, errType: errType, status: status})
		h.duration.Record(ctx, end.Sub(start).Seconds(), s.rec...)
		if reqSize > 0 || (reqSize == 0 && hasBody) {
			h.reqSize.Record(noSpanCtx, reqSize, s.rec...)
		}
		h.respSize.Record(noSpanCtx, respSize, s.rec...)
		h.active.Add(noSpanCtx, -1, act.add...)
	}()
	h.next.ServeHTTP(st.writer(w), r2)
}

// serverConn tells the socket probe the request's connection: its local
// address (net/http keeps it in the context) and the client's. A
// RemoteAddr rewritten by a proxy middleware finds no connection (the span
// then says so in verdict.unmeasured).
func serverConn(nh netspan.Handle, r *http.Request, at time.Time) {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	remote, err := netip.ParseAddrPort(r.RemoteAddr)
	if local == nil || err != nil {
		nh.Conn(nil, nil, at)
		return
	}
	if t, ok := local.(*net.TCPAddr); ok {
		nh.ConnAddrs(t.AddrPort(), remote, at)
		return
	}
	nh.Conn(local, nil, at)
}

func extractWith(ctx context.Context, p propagation.TextMapPropagator, mode propMode, h http.Header) (context.Context, drops) {
	if mode&modeGeneric != 0 {
		return p.Extract(ctx, propagation.HeaderCarrier(h)), 0
	}
	return extractHeaderChecked(ctx, h, mode)
}

// serverState is the per-request state of a server span, pooled: it holds
// the wrapped writer in four shapes so that the one handed to next has
// exactly the optional interfaces the server's writer has, without an
// allocation per request. (httpsnoop would allocate a wrapper per request
// and its generated combinations; net/http's writers come in few shapes.)
type serverState struct {
	w           http.ResponseWriter
	status      int
	written     int64
	wroteHeader bool
	hijacked    bool

	body countingBody
	net  netspan.Handle // the socket probe's record, told when the body is read in full

	// attrs is the buffer for the span's attributes (the span copies them).
	attrs [18]attribute.KeyValue

	full        rwFull        // Flusher + Hijacker + ReaderFrom (HTTP/1.x *http.response)
	flushHijack rwFlushHijack // Flusher + Hijacker (writers wrapped by other middleware)
	push        rwPush        // Flusher + Pusher (HTTP/2)
	flush       rwFlush       // Flusher only
	basic       rwBasic       // nothing optional
}

func (s *serverState) reset() {
	s.w = nil
	s.status, s.written, s.wroteHeader, s.hijacked = 0, 0, false, false
	s.body.rc, s.body.n = nil, 0
	s.net = netspan.Handle{}
}

func (s *serverState) writer(w http.ResponseWriter) http.ResponseWriter {
	if _, isF := w.(http.Flusher); isF {
		_, isH := w.(http.Hijacker)
		_, isR := w.(io.ReaderFrom)
		if isH && isR {
			return &s.full
		}
		if isH {
			return &s.flushHijack
		}
		if _, isP := w.(http.Pusher); isP {
			return &s.push
		}
		return &s.flush
	}
	return &s.basic
}

func (s *serverState) header() http.Header { return s.w.Header() }

func (s *serverState) writeHeader(code int) {
	if !s.wroteHeader {
		if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
			s.w.WriteHeader(code) // informational: the final status follows
			return
		}
		s.wroteHeader = true
		s.status = code
	}
	s.w.WriteHeader(code)
}

func (s *serverState) write(b []byte) (int, error) {
	if !s.wroteHeader {
		s.wroteHeader = true
		s.status = http.StatusOK
	}
	n, err := s.w.Write(b)
	s.written += int64(n)
	return n, err
}

func (s *serverState) writeString(str string) (int, error) {
	if !s.wroteHeader {
		s.wroteHeader = true
		s.status = http.StatusOK
	}
	n, err := io.WriteString(s.w, str)
	s.written += int64(n)
	return n, err
}

func (s *serverState) flushW() {
	if !s.wroteHeader {
		s.wroteHeader = true
		s.status = http.StatusOK
	}
	s.w.(http.Flusher).Flush()
}

func (s *serverState) hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := s.w.(http.Hijacker).Hijack()
	if err == nil {
		s.hijacked = true
	}
	return c, rw, err
}

func (s *serverState) readFrom(r io.Reader) (int64, error) {
	if !s.wroteHeader {
		s.wroteHeader = true
		s.status = http.StatusOK
	}
	n, err := s.w.(io.ReaderFrom).ReadFrom(r)
	s.written += n
	return n, err
}

type rwBasic struct{ s *serverState }

func (w *rwBasic) Header() http.Header                     { return w.s.header() }
func (w *rwBasic) Write(b []byte) (int, error)             { return w.s.write(b) }
func (w *rwBasic) WriteString(s string) (int, error)       { return w.s.writeString(s) }
func (w *rwBasic) WriteHeader(code int)                    { w.s.writeHeader(code) }
func (w *rwBasic) Unwrap() http.ResponseWriter             { return w.s.w }
func (w *rwFlush) Header() http.Header                     { return w.s.header() }
func (w *rwFlush) Write(b []byte) (int, error)             { return w.s.write(b) }
func (w *rwFlush) WriteString(s string) (int, error)       { return w.s.writeString(s) }
func (w *rwFlush) WriteHeader(code int)                    { w.s.writeHeader(code) }
func (w *rwFlush) Unwrap() http.ResponseWriter             { return w.s.w }
func (w *rwFlush) Flush()                                  { w.s.flushW() }
func (w *rwPush) Header() http.Header                      { return w.s.header() }
func (w *rwPush) Write(b []byte) (int, error)              { return w.s.write(b) }
func (w *rwPush) WriteString(s string) (int, error)        { return w.s.writeString(s) }
func (w *rwPush) WriteHeader(code int)                     { w.s.writeHeader(code) }
func (w *rwPush) Unwrap() http.ResponseWriter              { return w.s.w }
func (w *rwPush) Flush()                                   { w.s.flushW() }
func (w *rwPush) Push(t string, o *http.PushOptions) error { return w.s.w.(http.Pusher).Push(t, o) }
func (w *rwFull) Header() http.Header                      { return w.s.header() }
func (w *rwFull) Write(b []byte) (int, error)              { return w.s.write(b) }
func (w *rwFull) WriteString(s string) (int, error)        { return w.s.writeString(s) }
func (w *rwFull) WriteHeader(code int)                     { w.s.writeHeader(code) }
func (w *rwFull) Unwrap() http.ResponseWriter              { return w.s.w }
func (w *rwFull) Flush()                                   { w.s.flushW() }
func (w *rwFull) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.s.hijack()
}
func (w *rwFull) ReadFrom(r io.Reader) (int64, error) { return w.s.readFrom(r) }

type rwFlush struct{ s *serverState }
type rwFlushHijack struct{ s *serverState }

func (w *rwFlushHijack) Header() http.Header               { return w.s.header() }
func (w *rwFlushHijack) Write(b []byte) (int, error)       { return w.s.write(b) }
func (w *rwFlushHijack) WriteString(s string) (int, error) { return w.s.writeString(s) }
func (w *rwFlushHijack) WriteHeader(code int)              { w.s.writeHeader(code) }
func (w *rwFlushHijack) Unwrap() http.ResponseWriter       { return w.s.w }
func (w *rwFlushHijack) Flush()                            { w.s.flushW() }
func (w *rwFlushHijack) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.s.hijack()
}

type rwPush struct{ s *serverState }
type rwFull struct{ s *serverState }

// countingBody counts the bytes of a request body of unknown length, and
// tells the socket probe when the body is read in full.
type countingBody struct {
	s  *serverState
	rc io.ReadCloser
	n  int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err == io.EOF {
		b.s.net.RequestRead()
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }
