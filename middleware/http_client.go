package middleware

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/errclass"
	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
)

// Client phases in the order they happen.
const (
	phaseDNS = iota
	phaseConnect
	phaseTLS
	phaseRequestWrite
	phaseServerWait
	phaseResponseRead
	numPhases
)

var phaseNames = [numPhases]string{
	semconv.PhaseDNS, semconv.PhaseConnect, semconv.PhaseTLS,
	semconv.PhaseRequestWrite, semconv.PhaseServerWait, semconv.PhaseResponseRead,
}

var phaseAttrKeys = func() (k [numPhases]attribute.Key) {
	for i, p := range phaseNames {
		k[i] = attribute.Key(semconv.AttrHTTPClientPhasePrefix + p + ".duration")
	}
	return k
}()

// Bucket boundaries (seconds) of the phase histogram: phases are often
// sub-millisecond on a LAN, so the buckets start lower than the request
// duration's.
var phaseBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewTransport returns a RoundTripper that sends each request through base
// inside a client span, injects the trace context into the outgoing
// headers, and records http.client.request.duration, the body sizes and the
// phase breakdown verdict.http.client.phase.duration (attribute phase).
//
// The span ends when the response body is read to EOF or closed (or at once
// when RoundTrip fails or there is no body). It carries the phases the
// request went through as http.client.phase.<phase>.duration attributes in
// seconds — dns, connect, tls (only on a new connection), request_write,
// server_wait (until the first response byte) and response_read — and
// http.client.connection.reused. A failure sets error.type to a kind of the
// package's error taxonomy; a response of status 400 or more sets it to the
// status code.
//
// The request passed to base is a shallow copy with its own header map: the
// caller's request is not modified. A nil base means http.DefaultTransport.
// The returned RoundTripper is safe for concurrent use.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	t := &transport{base: base, cfg: c}
	t.tracer = c.tracer()
	meter := c.meter()
	t.duration = f64Hist(meter, semconv.MetricHTTPClientRequestDuration,
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	t.reqSize = i64Hist(meter, semconv.MetricHTTPClientRequestBodySize,
		metric.WithUnit("By"), metric.WithDescription("Size of HTTP client request bodies."))
	t.respSize = i64Hist(meter, semconv.MetricHTTPClientResponseBodySz,
		metric.WithUnit("By"), metric.WithDescription("Size of HTTP client response bodies."))
	t.phase = f64Hist(meter, semconv.MetricHTTPClientPhaseDuration,
		metric.WithUnit("s"), metric.WithDescription("Time HTTP client requests spent in each phase."),
		metric.WithExplicitBucketBoundaries(phaseBuckets...))
	t.series = newSeriesCache(c.maxSeries, buildClientSeries)
	t.phaseSeries = newSeriesCache(c.maxSeries, buildPhaseSeries)
	return t
}

type transport struct {
	base        http.RoundTripper
	cfg         config
	tracer      trace.Tracer
	duration    metric.Float64Histogram
	reqSize     metric.Int64Histogram
	respSize    metric.Int64Histogram
	phase       metric.Float64Histogram
	series      *seriesCache[clientKey]
	phaseSeries *seriesCache[phaseKey]
}

type clientKey struct {
	method, scheme, host, proto, errType string
	port, status                         int
}

type phaseKey struct {
	method, host string
	port, phase  int
}

func buildClientSeries(k clientKey) *series {
	attrs := make([]attribute.KeyValue, 0, 7)
	attrs = append(attrs,
		attribute.String(semconv.AttrHTTPRequestMethod, k.method),
		attribute.String(semconv.AttrURLScheme, k.scheme),
		attribute.String(semconv.AttrServerAddress, k.host))
	if k.port != 0 {
		attrs = append(attrs, attribute.Int(semconv.AttrServerPort, k.port))
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
	return newSeries(attrs...)
}

func buildPhaseSeries(k phaseKey) *series {
	attrs := []attribute.KeyValue{
		attribute.String(semconv.AttrPhase, phaseNames[k.phase]),
		attribute.String(semconv.AttrHTTPRequestMethod, k.method),
		attribute.String(semconv.AttrServerAddress, k.host),
	}
	if k.port != 0 {
		attrs = append(attrs, attribute.Int(semconv.AttrServerPort, k.port))
	}
	return newSeries(attrs...)
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.cfg.filter != nil && !t.cfg.filter(r) {
		return t.base.RoundTrip(r)
	}
	var cr *clientReq
	if httptrace.ContextClientTrace(r.Context()) == nil {
		cr = clientReqPool.Get().(*clientReq)
	} else {
		// The caller traces too: httptrace composes its hooks into ours,
		// so this state is used once.
		cr = newClientReq()
		cr.noReuse = true
	}
	cr.t, cr.start = t, time.Now()
	cr.method, cr.methodOK = normMethod(r.Method)
	cr.origMethod = r.Method
	if r.URL != nil {
		cr.scheme = r.URL.Scheme
		cr.host, cr.port = splitHostPort(r.URL.Host)
		if cr.port == 0 {
			cr.port = defaultPort(cr.scheme)
		}
		cr.url = r.URL
	}
	ctx, span := t.tracer.Start(r.Context(), methodSpanName(cr.method), clientStartOpts...)
	cr.span = span
	cr.ctx = ctx
	cr.net = netspan.Begin(netspan.HTTPClient, span, cr.start)
	if r.ContentLength > 0 {
		cr.reqSize = r.ContentLength
	}

	// The per-response part (body wrapper, traceparent value) is one
	// allocation; it is never reused, so it may outlive the pooled state.
	pr := new(clientPerReq)
	ctx = httptrace.WithClientTrace(ctx, &cr.ct)
	r2 := r.WithContext(ctx)
	h := make(http.Header, len(r.Header)+3)
	for k, v := range r.Header {
		h[k] = v
	}
	p, mode := t.cfg.propagators()
	if mode&modeGeneric != 0 {
		p.Inject(cr.ctx, propagation.HeaderCarrier(h))
	} else {
		injectHeader(cr.ctx, h, mode, &pr.tp)
	}
	r2.Header = h

	resp, err := t.base.RoundTrip(r2)
	if err != nil {
		cr.finish(err, 0, time.Now())
		cr.release()
		return resp, err
	}
	cr.status = resp.StatusCode
	cr.proto = protoVersion(resp.ProtoMajor, resp.ProtoMinor)
	if resp.Body == nil || resp.Body == http.NoBody || resp.StatusCode == http.StatusSwitchingProtocols {
		// No body to wait for (a 101 body is the upgraded connection,
		// which outlives the request).
		cr.finish(nil, 0, time.Now())
		cr.release()
		return resp, nil
	}
	if _, ok := resp.Body.(io.Writer); ok {
		rw := &readWriteBody{}
		rw.rc = resp.Body
		rw.cr.Store(cr)
		resp.Body = rw
	} else {
		pr.body.rc = resp.Body
		pr.body.cr.Store(cr)
		resp.Body = &pr.body
	}
	return resp, nil
}

// clientReq is the state of one client request, with its httptrace hooks
// built once. It is pooled, because building the nine hook closures per
// request would cost nine allocations. httptrace hooks can fire late, from
// the transport's dial and write goroutines, so a state goes back to the
// pool only when no hook can still fire for it (see quiescent); otherwise it
// is left to the garbage collector.
type clientReq struct {
	t          *transport
	ctx        context.Context
	span       trace.Span
	start      time.Time
	method     string
	origMethod string
	methodOK   bool
	noReuse    bool
	scheme     string
	host       string
	port       int
	url        *url.URL
	status     int
	proto      string
	reqSize    int64
	finished   atomic.Bool
	finishDone atomic.Bool // finish has returned

	// Phase marks in nanoseconds since start, written by httptrace hooks on
	// other goroutines; 0 means "not seen". Done marks are set on success
	// only, so a failed phase stays "in progress" for the error taxonomy.
	dnsStart, dnsDone, connStart, connDone, tlsStart, tlsDone atomic.Int64
	gotConn, wrote, firstByte                                 atomic.Int64
	reused, wasIdle                                           atomic.Bool
	idleTime                                                  atomic.Int64
	// net is the socket probe's record of the span (inactive without
	// one); GotConn tells it the connection.
	net netspan.Handle
	// Hook calls still outstanding (starts minus dones, success or not).
	pendingDNS, pendingConn, pendingTLS atomic.Int32

	ct    httptrace.ClientTrace
	attrs [24]attribute.KeyValue
}

var clientStartOpts = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}

var clientReqPool = sync.Pool{New: func() any { return newClientReq() }}

func newClientReq() *clientReq {
	cr := new(clientReq)
	cr.ct = httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) {
			cr.pendingDNS.Add(1)
			cr.mark(&cr.dnsStart)
		},
		DNSDone: func(i httptrace.DNSDoneInfo) {
			if i.Err == nil {
				cr.mark(&cr.dnsDone)
			}
			cr.pendingDNS.Add(-1)
		},
		ConnectStart: func(string, string) {
			cr.pendingConn.Add(1)
			if cr.connStart.Load() == 0 {
				cr.mark(&cr.connStart)
			}
		},
		ConnectDone: func(network, addr string, err error) {
			if err == nil {
				cr.mark(&cr.connDone)
			}
			if netspan.ObservingConnects() {
				netspan.ConnectDone(network, addr, err)
			}
			cr.pendingConn.Add(-1)
		},
		TLSHandshakeStart: func() {
			cr.pendingTLS.Add(1)
			cr.mark(&cr.tlsStart)
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err == nil {
				cr.mark(&cr.tlsDone)
			}
			cr.pendingTLS.Add(-1)
		},
		GotConn: func(i httptrace.GotConnInfo) {
			cr.reused.Store(i.Reused)
			if i.WasIdle {
				cr.wasIdle.Store(true)
				cr.idleTime.Store(int64(i.IdleTime))
			}
			d := cr.mark(&cr.gotConn)
			if cr.net.Active() && i.Conn != nil {
				cr.net.Conn(i.Conn.LocalAddr(), i.Conn.RemoteAddr(), cr.start.Add(time.Duration(d)))
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			d := cr.mark(&cr.wrote)
			if cr.net.Active() {
				cr.net.RequestWritten(cr.start.Add(time.Duration(d)))
			}
		},
		GotFirstResponseByte: func() { cr.mark(&cr.firstByte) },
	}
	return cr
}

func (cr *clientReq) mark(a *atomic.Int64) int64 {
	d := int64(time.Since(cr.start))
	if d <= 0 {
		d = 1
	}
	a.Store(d)
	return d
}

// quiescent reports whether no httptrace hook can fire for this request any
// more: it got a connection that was idle in the pool when it asked (so the
// transport started no dial for it) or that was dialed for it with every
// dial step finished, and the request was written.
func (cr *clientReq) quiescent() bool {
	if cr.gotConn.Load() == 0 || cr.wrote.Load() == 0 {
		return false
	}
	if cr.pendingDNS.Load() != 0 || cr.pendingConn.Load() != 0 || cr.pendingTLS.Load() != 0 {
		return false
	}
	if cr.reused.Load() && !cr.wasIdle.Load() {
		// Handed a connection another request released while this one
		// waited: a dial queued for it may still start.
		return false
	}
	return true
}

// release returns cr to the pool when that is safe. It is called once,
// after finish, by the owner of the request.
func (cr *clientReq) release() {
	if cr.noReuse || !cr.finishDone.Load() || !cr.quiescent() {
		// A finish still running on another goroutine (a Read racing
		// the Close), or hooks that may still fire: leave it to the GC.
		return
	}
	cr.t, cr.ctx, cr.span, cr.url = nil, nil, nil, nil
	cr.net = netspan.Handle{}
	cr.method, cr.origMethod, cr.scheme, cr.host, cr.proto = "", "", "", "", ""
	cr.methodOK, cr.port, cr.status, cr.reqSize = false, 0, 0, 0
	cr.finished.Store(false)
	cr.finishDone.Store(false)
	for _, a := range []*atomic.Int64{&cr.dnsStart, &cr.dnsDone, &cr.connStart, &cr.connDone,
		&cr.tlsStart, &cr.tlsDone, &cr.gotConn, &cr.wrote, &cr.firstByte, &cr.idleTime} {
		a.Store(0)
	}
	cr.reused.Store(false)
	cr.wasIdle.Store(false)
	clear(cr.attrs[:])
	clientReqPool.Put(cr)
}

// failedPhase returns the connection phase in progress when the request
// failed, which refines timeouts.
func (cr *clientReq) failedPhase() errclass.Phase {
	if cr.gotConn.Load() != 0 {
		return errclass.PhaseNone
	}
	switch {
	case cr.tlsStart.Load() != 0 && cr.tlsDone.Load() == 0:
		return errclass.PhaseTLS
	case cr.connStart.Load() != 0 && cr.connDone.Load() == 0:
		return errclass.PhaseConnect
	case cr.dnsStart.Load() != 0 && cr.dnsDone.Load() == 0:
		return errclass.PhaseDNS
	}
	return errclass.PhaseNone
}

func span2(a, b int64) (float64, bool) {
	if a == 0 || b == 0 || b < a {
		return 0, false
	}
	return time.Duration(b - a).Seconds(), true
}

// finish ends the span and records the metrics, once. respSize is the
// number of response body bytes read.
func (cr *clientReq) finish(err error, respSize int64, end time.Time) {
	if !cr.finished.CompareAndSwap(false, true) {
		return
	}
	t := cr.t
	endOff := int64(end.Sub(cr.start))
	var phases [numPhases]float64
	var have [numPhases]bool
	phases[phaseDNS], have[phaseDNS] = span2(cr.dnsStart.Load(), cr.dnsDone.Load())
	phases[phaseConnect], have[phaseConnect] = span2(cr.connStart.Load(), cr.connDone.Load())
	phases[phaseTLS], have[phaseTLS] = span2(cr.tlsStart.Load(), cr.tlsDone.Load())
	gotConn, wrote, first := cr.gotConn.Load(), cr.wrote.Load(), cr.firstByte.Load()
	phases[phaseRequestWrite], have[phaseRequestWrite] = span2(gotConn, wrote)
	if wrote != 0 {
		phases[phaseServerWait], have[phaseServerWait] = span2(wrote, first)
	} else {
		phases[phaseServerWait], have[phaseServerWait] = span2(gotConn, first)
	}
	phases[phaseResponseRead], have[phaseResponseRead] = span2(first, endOff)

	errType := ""
	if err != nil {
		errType = errclass.Classify(err, cr.failedPhase())
	} else if cr.status >= 400 {
		errType = statusString(cr.status)
	}

	span := cr.span
	if span.IsRecording() {
		a := cr.attrs[:0]
		a = append(a, attribute.String(semconv.AttrHTTPRequestMethod, cr.method))
		if !cr.methodOK {
			a = append(a, attribute.String(semconv.AttrHTTPRequestMethodOriginal, cr.origMethod))
		}
		if cr.host != "" {
			a = append(a, attribute.String(semconv.AttrServerAddress, cr.host),
				attribute.Int(semconv.AttrServerPort, cr.port))
		}
		if cr.url != nil {
			a = append(a, attribute.String(semconv.AttrURLFull, redactURL(cr.url)))
		}
		if cr.status != 0 {
			a = append(a, attribute.Int(semconv.AttrHTTPResponseStatusCode, cr.status))
		}
		if cr.proto != "" {
			a = append(a, attribute.String(semconv.AttrNetworkProtocolVersion, cr.proto))
		}
		if cr.reqSize > 0 {
			a = append(a, attribute.Int64(semconv.AttrHTTPRequestBodySize, cr.reqSize))
		}
		if n := respSize; n > 0 {
			a = append(a, attribute.Int64(semconv.AttrHTTPResponseBodySize, n))
		}
		if gotConn != 0 {
			a = append(a, attribute.Bool(semconv.AttrHTTPClientConnectionReused, cr.reused.Load()))
			if cr.wasIdle.Load() {
				a = append(a, attribute.Float64(semconv.AttrHTTPClientConnectionIdleTime,
					time.Duration(cr.idleTime.Load()).Seconds()))
			}
		}
		for i := range phases {
			if have[i] {
				a = append(a, phaseAttrKeys[i].Float64(phases[i]))
			}
		}
		if errType != "" {
			a = append(a, attribute.String(semconv.AttrErrorType, errType))
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			span.SetStatus(codes.Error, msg)
		}
		span.SetAttributes(a...)
	}
	span.End()

	ctx := cr.ctx
	s := t.series.get(clientKey{method: cr.method, scheme: cr.scheme, host: cr.host, port: cr.port,
		proto: cr.proto, errType: errType, status: cr.status})
	t.duration.Record(ctx, end.Sub(cr.start).Seconds(), s.rec...)
	if cr.reqSize > 0 {
		// Only requests with a body of known length: a GET has no body
		// to measure (recording 0 would drag the distribution to zero),
		// and a streamed body's length is not known here.
		t.reqSize.Record(noSpanCtx, cr.reqSize, s.rec...)
	}
	if err == nil {
		t.respSize.Record(noSpanCtx, respSize, s.rec...)
	}
	for i := range phases {
		if have[i] {
			ps := t.phaseSeries.get(phaseKey{method: cr.method, host: cr.host, port: cr.port, phase: i})
			t.phase.Record(ctx, phases[i], ps.rec...)
		}
	}
	cr.finishDone.Store(true)
}

// clientPerReq is what one client request needs beyond its pooled state.
type clientPerReq struct {
	body clientBody
	tp   tpValue
}

// clientBody ends the client span when the response body reaches EOF, fails,
// or is closed, and releases the request state on Close. It is allocated per
// response so that a Read or Close after the state was recycled cannot reach
// another request.
type clientBody struct {
	cr atomic.Pointer[clientReq] // nil once closed
	rc io.ReadCloser
	n  atomic.Int64 // Close may run concurrently with Read
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	total := b.n.Add(int64(n))
	if err != nil {
		if cr := b.cr.Load(); cr != nil {
			if err == io.EOF {
				cr.finish(nil, total, time.Now())
			} else {
				cr.finish(err, total, time.Now())
			}
		}
	}
	return n, err
}

func (b *clientBody) Close() error {
	err := b.rc.Close()
	if cr := b.cr.Swap(nil); cr != nil {
		cr.finish(nil, b.n.Load(), time.Now())
		cr.release()
	}
	return err
}

// readWriteBody keeps io.Writer on bodies that have it.
type readWriteBody struct{ clientBody }

func (b *readWriteBody) Write(p []byte) (int, error) { return b.rc.(io.Writer).Write(p) }
