package middleware

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/w3c"
)

// sizeBuckets (bytes) for message size histograms.
var sizeBuckets = []float64{0, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216}

// countBuckets for messages per RPC.
var countBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 500, 1000}

// NewGRPCServerHandler returns a gRPC stats.Handler for servers
// (grpc.StatsHandler(h)). Each RPC, unary or streaming, gets a server span
// that continues the trace of the caller's metadata, ends when the handler
// returns, and carries rpc.grpc.status_code; the handler records
// rpc.server.call.duration (seconds), rpc.server.request.size and
// rpc.server.response.size per message, and rpc.server.requests_per_rpc and
// rpc.server.responses_per_rpc per RPC. Methods the server reports as
// Unimplemented are recorded as rpc.method "_OTHER" so that probes with
// random method names cannot create series.
//
// The returned handler is safe for concurrent use.
func NewGRPCServerHandler(opts ...Option) stats.Handler {
	return newGRPCHandler(false, opts)
}

// NewGRPCClientHandler returns a gRPC stats.Handler for clients
// (grpc.WithStatsHandler(h)). Each RPC gets a client span whose context is
// injected into the outgoing metadata. The span ends when gRPC reports the
// RPC finished: for streams, when the last message or the status has been
// received, or when the stream's context is canceled or its deadline passes —
// so a stream abandoned without CloseSend or a final Recv still ends, as
// soon as its context is done. A non-OK status sets error.type to the
// canonical status code name (for example "UNAVAILABLE"). The handler records
// rpc.client.call.duration and the client message size and count metrics.
//
// The returned handler is safe for concurrent use.
func NewGRPCClientHandler(opts ...Option) stats.Handler {
	return newGRPCHandler(true, opts)
}

type grpcHandler struct {
	client     bool
	cfg        config
	tracer     trace.Tracer
	duration   metric.Float64Histogram
	reqSize    metric.Int64Histogram
	respSize   metric.Int64Histogram
	reqPerRPC  metric.Int64Histogram
	respPerRPC metric.Int64Histogram
	series     *seriesCache[rpcKey]
	msgSeries  *seriesCache[msgKey]
	dropped    *dropCounter
	// begun holds the server methods that reached gRPC's Begin event: the
	// registered ones (or those an unknown-service handler took). Bounded
	// by the series limit.
	begun *nameCache[string]
	// peers holds server.address and server.port of the client's
	// connections' remote addresses, built once each (bounded by the
	// series limit; past it, each RPC formats its own).
	peers *valueCache[netip.AddrPort, *peerName]
}

type rpcKey struct {
	method string
	code   grpccodes.Code
	peer   netip.AddrPort // client: the connection's remote address, if known
}

// msgKey is the series of the per-message and per-RPC count metrics.
type msgKey struct {
	method string
	peer   netip.AddrPort
}

// peerAttrs appends server.address and server.port for a known peer: on
// the client's metrics as on its spans (recommended by the RPC semantic
// conventions), so that a slow or failing back end has its own series.
func peerAttrs(attrs []attribute.KeyValue, peer netip.AddrPort) []attribute.KeyValue {
	if !peer.IsValid() {
		return attrs
	}
	p := newPeerName(peer)
	return append(attrs, p.address, p.port)
}

func newGRPCHandler(client bool, opts []Option) *grpcHandler {
	c := newConfig(opts)
	h := &grpcHandler{client: client, cfg: c}
	h.tracer = c.tracer()
	meter := c.meter()
	dur, reqSz, respSz, reqN, respN := semconv.MetricRPCServerCallDuration, semconv.MetricRPCServerRequestSize,
		semconv.MetricRPCServerResponseSize, semconv.MetricRPCServerRequestsPerRPC, semconv.MetricRPCServerResponsesPerRPC
	if client {
		dur, reqSz, respSz, reqN, respN = semconv.MetricRPCClientCallDuration, semconv.MetricRPCClientRequestSize,
			semconv.MetricRPCClientResponseSize, semconv.MetricRPCClientRequestsPerRPC, semconv.MetricRPCClientResponsesPerRPC
	}
	h.duration = f64Hist(meter, dur, metric.WithUnit("s"),
		metric.WithDescription("Duration of RPCs."), metric.WithExplicitBucketBoundaries(durationBuckets...))
	h.reqSize = i64Hist(meter, reqSz, metric.WithUnit("By"),
		metric.WithDescription("Size of RPC request messages (uncompressed)."), metric.WithExplicitBucketBoundaries(sizeBuckets...))
	h.respSize = i64Hist(meter, respSz, metric.WithUnit("By"),
		metric.WithDescription("Size of RPC response messages (uncompressed)."), metric.WithExplicitBucketBoundaries(sizeBuckets...))
	h.reqPerRPC = i64Hist(meter, reqN, metric.WithUnit("{count}"),
		metric.WithDescription("Request messages per RPC."), metric.WithExplicitBucketBoundaries(countBuckets...))
	h.respPerRPC = i64Hist(meter, respN, metric.WithUnit("{count}"),
		metric.WithDescription("Response messages per RPC."), metric.WithExplicitBucketBoundaries(countBuckets...))
	h.series = newSeriesCache(c.maxSeries, func(k rpcKey) *series {
		attrs := []attribute.KeyValue{
			attribute.String(semconv.AttrRPCSystemName, "grpc"),
			attribute.String(semconv.AttrRPCMethod, k.method),
			attribute.String(semconv.AttrRPCResponseStatusCode, codeName(k.code)),
			attribute.Int(semconv.AttrRPCGRPCStatusCode, int(k.code)),
		}
		if k.code != grpccodes.OK {
			attrs = append(attrs, attribute.String(semconv.AttrErrorType, codeName(k.code)))
		}
		return newSeries(peerAttrs(attrs, k.peer)...)
	})
	h.dropped = newDropCounter(meter)
	h.begun = &nameCache[string]{max: c.maxSeries, build: func(m string) string { return m }}
	h.peers = &valueCache[netip.AddrPort, *peerName]{max: c.maxSeries, build: newPeerName}
	h.msgSeries = newSeriesCache(c.maxSeries, func(k msgKey) *series {
		return newSeries(peerAttrs([]attribute.KeyValue{attribute.String(semconv.AttrRPCSystemName, "grpc"),
			attribute.String(semconv.AttrRPCMethod, k.method)}, k.peer)...)
	})
	return h
}

type rpcCtxKey struct{}

// rpcState is the state of one RPC. HandleRPC may be called concurrently
// for one streaming RPC (sends and receives on different goroutines), so
// the counters are atomic.
type rpcState struct {
	// The RPC's parent context; rpcState is itself the context the span is
	// started in, answering rpcCtxKey (and the span key with the remote
	// parent, when there is one).
	context.Context
	hasRemote bool
	remote    remoteSpan
	rawTS     *rawTraceState // received tracestate OTel could not hold (propagator.go)

	span     trace.Span
	method   string      // "pkg.Service/Method"
	begun    atomic.Bool // server: gRPC reported the RPC's Begin
	start    time.Time
	sentN    atomic.Int64
	recvN    atomic.Int64
	sentSize atomic.Int64
	recvSize atomic.Int64
	ended    atomic.Bool
	net      netspan.Handle // the socket probe's record (header events tell it the connection)
	tpBuf    [w3c.TraceParentLen]byte
	attrs    [12]attribute.KeyValue
	// Client: the connection's remote address, from gRPC's OutHeader.
	peer atomic.Pointer[peerName]

	// Client only: the outgoing metadata (see setOutgoing). mdVal, when
	// set, answers metadata's outgoing key; raw, added and kv back it.
	mdVal any
	raw   rawMDLayout
	added [1][]string
	kv    [6]string
}

// Value implements context.Context.
func (st *rpcState) Value(k any) any {
	if _, ok := k.(rpcCtxKey); ok {
		return st
	}
	if st.hasRemote && k == spanKey {
		return &st.remote
	}
	if _, ok := k.(rawTraceStateKey); ok && st.rawTS != nil {
		return st.rawTS
	}
	if st.mdVal != nil && k == outgoingMD.key {
		return st.mdVal
	}
	return st.Context.Value(k)
}

func (h *grpcHandler) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (h *grpcHandler) HandleConn(context.Context, stats.ConnStats) {}

func (h *grpcHandler) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	method := strings.TrimPrefix(info.FullMethodName, "/")
	st := &rpcState{method: method, start: time.Now()}
	p, mode := h.cfg.propagators()
	startOpts := clientStartOpts
	if !h.client {
		startOpts = serverStartOpts
		switch {
		case h.cfg.publicEP:
			// A zero remote span context makes the span a root.
			st.hasRemote = spanKey != nil
			if !st.hasRemote {
				ctx = trace.ContextWithSpanContext(ctx, trace.SpanContext{})
			}
		case mode&modeGeneric != 0:
			md, _ := metadata.FromIncomingContext(ctx)
			ctx = p.Extract(ctx, mdCarrier(md))
		default:
			md := incomingMD(ctx)
			var d, d2 drops
			if mode&modeTraceContext != 0 {
				if tp := md[w3c.TraceParentHeader]; len(tp) > 0 {
					var sc trace.SpanContext
					sc, d, st.rawTS = spanContextChecked(tp, md[w3c.TraceStateHeader])
					if sc.IsValid() {
						if spanKey != nil {
							st.hasRemote, st.remote.sc = true, sc
						} else {
							ctx = withRawTraceState(trace.ContextWithRemoteSpanContext(ctx, sc), st.rawTS)
							st.rawTS = nil
						}
					}
				}
			}
			if mode&modeBaggage != 0 {
				if bg := md[w3c.BaggageHeader]; len(bg) > 0 {
					ctx, d2 = extractBaggageChecked(ctx, bg)
				}
			}
			if d|d2 != 0 {
				h.dropped.add(d | d2)
			}
		}
	}
	st.Context = ctx
	if !h.client && !h.begun.has(method) {
		// gRPC answers a method it does not know with Unimplemented and
		// never reports that RPC's Begin or End: the span would stay open
		// (never exported, holding a kernel slot with eBPF on). So, until a
		// method has been seen to begin, its span also ends when the
		// stream is done without having begun. Methods that begin are
		// learnt, and then cost nothing here.
		context.AfterFunc(ctx, func() {
			if !st.begun.Load() {
				h.end(st, st, &stats.End{Error: status.Error(grpccodes.Unimplemented, "unknown method")})
			}
		})
	}
	ctx, st.span = h.tracer.Start(st, method, startOpts...)
	kind := netspan.GRPCServer
	if h.client {
		kind = netspan.GRPCClient
	}
	st.net = netspan.Begin(kind, st.span, st.start)
	if h.client {
		ctx = st.inject(ctx, p, mode)
	}
	return ctx
}

// incomingKey is the context key of gRPC's incoming metadata, learnt once
// through the public API like spanKey, so the server reads the trace headers
// without metadata.ValueFromIncomingContext's copy. The metadata is only
// read. Falls back to FromIncomingContext if the probe learnt nothing.
var incomingKey = func() any {
	p := &keyProbe{Context: context.Background()}
	metadata.FromIncomingContext(p)
	return p.key
}()

func incomingMD(ctx context.Context) metadata.MD {
	if incomingKey != nil {
		if md, ok := ctx.Value(incomingKey).(metadata.MD); ok {
			return md
		}
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return md
}

// spanKey is the key under which the OTel API keeps the current span in a
// context, learnt once through the public API (trace.SpanFromContext asks
// the context for it). An rpcState answers it with the remote parent, so the
// extracted parent, the RPC state and the caller's context cost one
// allocation together instead of three. nil if the probe learnt nothing; the
// plain context path is used then.
var spanKey = func() any {
	p := &keyProbe{Context: context.Background()}
	trace.SpanFromContext(p)
	return p.key
}()

type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(k any) any {
	p.key = k
	return nil
}

// remoteSpan is the non-recording span of an extracted remote parent.
type remoteSpan struct {
	noop.Span
	sc trace.SpanContext
}

func (s *remoteSpan) SpanContext() trace.SpanContext { return s.sc }

func (h *grpcHandler) HandleRPC(ctx context.Context, rs stats.RPCStats) {
	st, _ := ctx.Value(rpcCtxKey{}).(*rpcState)
	if st == nil {
		return
	}
	switch s := rs.(type) {
	case *stats.Begin:
		if !h.client {
			st.begun.Store(true)
			h.begun.get(st.method)
		}
	case *stats.InPayload:
		if !h.client {
			st.net.RequestRead() // read waits after the last message are the connection's, not this call's
		}
		st.recvN.Add(1)
		st.recvSize.Add(int64(s.Length))
		ms := h.msgSeries.get(msgKey{st.method, st.peerAddr()})
		if h.client {
			h.respSize.Record(noSpanCtx, int64(s.Length), ms.rec...)
		} else {
			h.reqSize.Record(noSpanCtx, int64(s.Length), ms.rec...)
		}
	case *stats.OutPayload:
		if h.client && st.net.Active() {
			at := s.SentTime
			if at.IsZero() {
				at = time.Now()
			}
			st.net.RequestWritten(at) // waits for the answer count from the last message sent
		}
		st.sentN.Add(1)
		st.sentSize.Add(int64(s.Length))
		ms := h.msgSeries.get(msgKey{st.method, st.peerAddr()})
		if h.client {
			h.reqSize.Record(noSpanCtx, int64(s.Length), ms.rec...)
		} else {
			h.respSize.Record(noSpanCtx, int64(s.Length), ms.rec...)
		}
	case *stats.OutHeader:
		if h.client {
			if p := h.peerOf(s.RemoteAddr); p != nil {
				st.peer.Store(p)
			}
			if st.net.Active() {
				st.net.Conn(s.LocalAddr, s.RemoteAddr, time.Now())
			}
		}
	case *stats.InHeader:
		if !h.client && st.net.Active() {
			st.net.Conn(s.LocalAddr, s.RemoteAddr, time.Now())
		}
	case *stats.End:
		h.end(ctx, st, s)
	}
}

func (h *grpcHandler) end(ctx context.Context, st *rpcState, e *stats.End) {
	if !st.ended.CompareAndSwap(false, true) {
		return
	}
	end := e.EndTime
	if end.IsZero() {
		end = time.Now()
	}
	code := grpccodes.OK
	msg := ""
	if e.Error != nil {
		s, _ := status.FromError(e.Error)
		code, msg = s.Code(), s.Message()
	}
	metricMethod := st.method
	if !h.client && code == grpccodes.Unimplemented {
		metricMethod = semconv.ValueOther
	}
	span := st.span
	if span.IsRecording() {
		a := st.attrs[:0]
		a = append(a,
			attribute.String(semconv.AttrRPCSystemName, "grpc"),
			attribute.String(semconv.AttrRPCSystem, "grpc"),
			attribute.String(semconv.AttrRPCMethod, metricMethod),
			attribute.Int(semconv.AttrRPCGRPCStatusCode, int(code)),
			attribute.String(semconv.AttrRPCResponseStatusCode, codeName(code)),
			attribute.Int64(semconv.AttrRPCRequestCount, h.requests(st)),
			attribute.Int64(semconv.AttrRPCResponseCount, h.responses(st)),
		)
		if p := st.peer.Load(); p != nil {
			a = append(a, p.address, p.port)
		}
		if metricMethod != st.method {
			// An unknown method is a name the caller chose: the span name
			// and rpc.method stay bounded (semantic conventions: the span
			// is named after rpc.system.name), the name is kept aside.
			span.SetName("grpc")
			a = append(a, attribute.String(semconv.AttrRPCMethodOriginal, st.method))
		}
		if code != grpccodes.OK {
			a = append(a, attribute.String(semconv.AttrErrorType, codeName(code)))
			if h.client || serverErrorCode(code) {
				span.SetStatus(codes.Error, msg)
			}
		}
		span.SetAttributes(a...)
	}
	span.End()

	peer := st.peerAddr()
	s := h.series.get(rpcKey{method: metricMethod, code: code, peer: peer})
	h.duration.Record(ctx, end.Sub(st.start).Seconds(), s.rec...)
	ms := h.msgSeries.get(msgKey{metricMethod, peer})
	h.reqPerRPC.Record(noSpanCtx, h.requests(st), ms.rec...)
	h.respPerRPC.Record(noSpanCtx, h.responses(st), ms.rec...)
}

func (h *grpcHandler) requests(st *rpcState) int64 {
	if h.client {
		return st.sentN.Load()
	}
	return st.recvN.Load()
}

func (h *grpcHandler) responses(st *rpcState) int64 {
	if h.client {
		return st.recvN.Load()
	}
	return st.sentN.Load()
}

// serverErrorCode reports the codes for which a server span's status is
// Error (the RPC semantic conventions: the server's own faults).
func serverErrorCode(c grpccodes.Code) bool {
	switch c {
	case grpccodes.Unknown, grpccodes.DeadlineExceeded, grpccodes.Unimplemented,
		grpccodes.Internal, grpccodes.Unavailable, grpccodes.DataLoss:
		return true
	}
	return false
}

var codeNames = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

// codeName returns the canonical name of a gRPC status code, as used in
// error.type and rpc.response.status_code.
func codeName(c grpccodes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return semconv.ValueOther
}

// inject adds the trace context of ctx to the outgoing metadata. The
// traceparent value is built in st's own buffer and the pairs are kept in
// st: st is never reused and the bytes never change once written, so the
// strings may alias them and st can carry the metadata itself (see
// setOutgoing; no allocation when the caller added no metadata).
func (st *rpcState) inject(ctx context.Context, p propagation.TextMapPropagator, mode propMode) context.Context {
	if mode&modeGeneric != 0 {
		md := metadata.MD{}
		p.Inject(ctx, mdCarrier(md))
		if len(md) == 0 {
			return ctx
		}
		kv := make([]string, 0, 2*len(md))
		for k, vs := range md {
			for _, v := range vs {
				kv = append(kv, k, v)
			}
		}
		return metadata.AppendToOutgoingContext(ctx, kv...)
	}
	kv := &st.kv
	n := 0
	if mode&modeTraceContext != 0 {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			b := w3c.AppendTraceParent(st.tpBuf[:0], sc.TraceID(), sc.SpanID(), byte(sc.TraceFlags()))
			kv[0], kv[1] = w3c.TraceParentHeader, unsafe.String(&b[0], len(b))
			n = 2
			if ts := outgoingTraceState(ctx, sc); ts != "" {
				kv[n], kv[n+1] = w3c.TraceStateHeader, ts
				n += 2
			}
		}
	}
	if mode&modeBaggage != 0 {
		if b := baggageFromContext(ctx); b != "" {
			kv[n], kv[n+1] = w3c.BaggageHeader, b
			n += 2
		}
	}
	if n == 0 {
		return ctx
	}
	if st.setOutgoing(kv[:n:n]) {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, kv[:n]...)
}

// mdCarrier adapts gRPC metadata to the TextMapCarrier interface.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func (c mdCarrier) Values(key string) []string { return metadata.MD(c).Get(key) }

// peerName is server.address and server.port of a remote address.
type peerName struct {
	ap            netip.AddrPort
	address, port attribute.KeyValue
}

// peerAddr is the client's remote address, once gRPC reported it (the
// zero AddrPort before, and always on the server).
func (st *rpcState) peerAddr() netip.AddrPort {
	if p := st.peer.Load(); p != nil {
		return p.ap
	}
	return netip.AddrPort{}
}

// peerOf returns the peerName of a (a *net.TCPAddr; nil otherwise), from
// the handler's cache.
func (h *grpcHandler) peerOf(a net.Addr) *peerName {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp == nil {
		return nil
	}
	ap := tcp.AddrPort()
	return h.peers.get(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

func newPeerName(ap netip.AddrPort) *peerName {
	return &peerName{ap, attribute.String(semconv.AttrServerAddress, ap.Addr().String()), attribute.Int(semconv.AttrServerPort, int(ap.Port()))}
}
