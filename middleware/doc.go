// Package middleware instruments net/http and gRPC servers and clients with
// OpenTelemetry spans and metrics, continuing the caller's trace across
// process boundaries.
//
//   - [NewHandler] wraps an http.Handler (server spans, RED metrics).
//   - [NewTransport] wraps an http.RoundTripper (client spans, RED metrics and
//     the phase breakdown of each request).
//   - [NewGRPCServerHandler] and [NewGRPCClientHandler] are gRPC
//     stats.Handlers (grpc.StatsHandler / grpc.WithStatsHandler) for unary
//     and streaming RPCs.
//
// The package uses only the OpenTelemetry API. The TracerProvider,
// MeterProvider and propagator default to the OTel globals, read when a
// handler is built (providers) or per request (propagator), and can be set
// with [WithTracerProvider], [WithMeterProvider] and [WithPropagators]. It
// works under any SDK set-up; verdict's tracer package wires one.
//
// # Propagation
//
// W3C Trace Context (traceparent, tracestate) and W3C Baggage are parsed by
// this package's own implementation, which applies the specifications
// exactly: version ff is invalid, a future version is parsed by the
// version-00 layout, all-zero IDs and upper-case hex are rejected, an
// invalid or duplicated traceparent makes the tracestate ignored too, a
// tracestate with a malformed member or more than 32 members is dropped as
// a whole, a tracestate member whose key came earlier is dropped alone, and
// baggage keeps whole members up to 64 members and 8192 bytes (a malformed
// baggage header is ignored). Parsing traceparent does not allocate
// ([ExtractSpanContext]); injecting it into an http.Header costs one
// allocation (the value and its []string together).
//
// Tracestate keys follow the current grammar (Trace Context Level 2: up to
// 256 characters, "@" anywhere but first, a digit or letter first).
// OpenTelemetry's trace.TraceState still enforces the Level 1 grammar, so a
// received tracestate is split: the span context's TraceState holds the
// members it accepts, and the context carries the list as received, which
// [NewTransport], the gRPC client handler and [NewPropagator]'s Inject send
// to the next hop — as received while the TraceState is unchanged, or the
// changed TraceState followed by the members it could not hold. Other
// propagators forward only what TraceState holds.
//
// Incoming headers that are present but ignored or cut are counted in
// verdict.telemetry.dropped with verdict.signal=propagation and
// verdict.reason one of invalid_traceparent, invalid_tracestate,
// invalid_baggage and baggage_limit (servers, W3C fast path).
//
// The fast path serves any propagator made of W3C parts: [NewPropagator],
// propagation.TraceContext, propagation.Baggage and composites of these
// (what OTEL_PROPAGATORS=tracecontext,baggage gives). Any other propagator is
// called through its TextMapCarrier. When no global propagator has been set
// and none is given, the middleware propagates W3C Trace Context and Baggage
// anyway (the OTEL_PROPAGATORS default): an unset global would otherwise
// silently break every trace at the first hop.
//
// # Server spans and metrics
//
// Server spans are named "METHOD route", the route being the pattern the Go
// 1.22+ http.ServeMux matched (or [WithRouteFunc]'s answer), never the raw
// path. They carry the required and conditionally required HTTP semantic
// convention attributes (http.request.method, url.scheme, url.path,
// http.route, http.response.status_code, server.address, server.port,
// error.type) and client.address; [WithRecommendedAttributes] adds
// user_agent.original, network.protocol.version, network.peer.* and body
// sizes. Metrics: http.server.request.duration, http.server.active_requests,
// http.server.request.body.size (requests with a body) and
// http.server.response.body.size.
//
// # Client spans, phases and metrics
//
// A client span starts in RoundTrip and ends when the response body is read
// to EOF or closed. From net/http/httptrace it records the phases of the
// request as span attributes http.client.phase.<phase>.duration (seconds)
// and as the histogram verdict.http.client.phase.duration with attribute
// phase:
//
//	dns            name resolution (new connections to a host name)
//	connect        TCP connect (new connections)
//	tls            TLS handshake (new HTTPS connections)
//	request_write  from having a connection to the request written
//	server_wait    from the request written to the first response byte
//	response_read  from the first response byte to the end of the body
//
// plus http.client.connection.reused (and the idle time of a reused
// connection). Metrics: http.client.request.duration and the body sizes.
//
// # Error taxonomy
//
// A failed client request sets error.type on its span and metrics to exactly
// one of:
//
//	dns_nxdomain           the host name does not exist (NXDOMAIN)
//	dns_timeout            the resolver did not answer in time
//	dns_error              any other resolution failure (SERVFAIL, refused, ...)
//	connection_refused     nothing listens on the port (RST in answer to SYN)
//	connection_reset       the peer reset an established connection (or EPIPE)
//	connect_timeout        the TCP handshake did not complete in time
//	tls_handshake_timeout  the TLS handshake did not complete in time
//	tls_certificate        the peer's certificate was not accepted
//	timeout                a deadline passed once the connection was up
//	canceled               the caller canceled the request's context
//	unexpected_eof         the peer closed the connection early (truncated body)
//	_OTHER                 none of the above
//
// A response with status 400 or more on a client span, or 500 or more on a
// server span, sets error.type to the status code ("503"), following the
// HTTP semantic conventions. Timeouts are attributed to the phase that was
// running when the deadline passed. For gRPC, error.type is the canonical
// name of the status code ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED",
// ...), and rpc.grpc.status_code carries the number.
//
// # Bounded cardinality
//
// Metrics never carry raw paths, user agents, client addresses or peer
// ports. Unknown HTTP methods become "_OTHER" (the original is kept on the
// span as http.request.method_original); gRPC methods a server answers with
// Unimplemented become "_OTHER". Each instrument records at most
// [WithMaxSeries] attribute sets (default [DefaultMaxSeries]); further sets
// fold into one series marked otel.metric.overflow=true.
//
// # gRPC
//
// The stats handlers create one span per RPC, unary or streaming, with
// rpc.system.name, rpc.method ("package.Service/Method"),
// rpc.grpc.status_code and rpc.response.status_code — on client spans also
// server.address and server.port, the address of the connection the call
// went out on (as gRPC reports it: an IP address, not the target's name;
// absent when no connection was made) — and record
// rpc.{server,client}.call.duration (seconds) plus message sizes
// (rpc.*.request.size, rpc.*.response.size) and counts
// (rpc.*.requests_per_rpc, rpc.*.responses_per_rpc); the client's metrics
// carry server.address and server.port too, a series per back end (bounded
// by WithMaxSeries, like every series). A server span ends when
// the handler returns; a client span ends when gRPC reports the RPC
// finished, which for a stream the caller abandons without CloseSend or a
// final Recv happens when its context is canceled or its deadline passes.
// gRPC reports no end for calls to a service or method the server does not
// register, so such calls export no span and record no metric; a registered
// method answering Unimplemented is recorded with rpc.method "_OTHER".
//
// # Cost
//
// Configuration is resolved at construction; per request the middleware
// reuses prepared attribute sets and span options and pools its server and
// client state, so that what remains are the allocations of the OTel SDK
// itself, the request copy net/http requires, and the trace headers. Each gRPC
// stats handler allocates one state per RPC besides the SDK's span; the
// client carries the trace headers in that state instead of adding them with
// metadata.AppendToOutgoingContext, so injecting them costs no allocation
// unless the caller added metadata of its own.
package middleware
