package semconv

// HTTP and RPC names verdict adds to the OpenTelemetry semantic conventions
// (the standard ones come from go.opentelemetry.io/otel/semconv).
const (
	// AttrHTTPClientPhasePrefix + phase + ".duration" is the span attribute
	// for one client phase, e.g. "http.client.phase.dns.duration".
	AttrHTTPClientPhasePrefix     = "http.client.phase."
	MetricHTTPClientPhaseDuration = "verdict.http.client.phase.duration"
	AttrPhase                     = "phase"

	// AttrHTTPClientConnectionReused is true when the request went out on
	// a connection that an earlier request had opened.
	AttrHTTPClientConnectionReused = "http.client.connection.reused"
	// AttrHTTPClientConnectionIdleTime is how long (seconds) a reused
	// connection sat idle in the pool before this request took it.
	AttrHTTPClientConnectionIdleTime = "http.client.connection.idle_time"
)

// Client phases, the values of AttrPhase.
const (
	PhaseDNS          = "dns"
	PhaseConnect      = "connect"
	PhaseTLS          = "tls"
	PhaseRequestWrite = "request_write"
	PhaseServerWait   = "server_wait"
	PhaseResponseRead = "response_read"
)

// OpenTelemetry HTTP semantic conventions (stable, v1.26+) used by the
// middleware, kept here so dashboards and rules use the same strings.
const (
	MetricHTTPServerRequestDuration = "http.server.request.duration"
	MetricHTTPServerActiveRequests  = "http.server.active_requests"
	MetricHTTPServerRequestBodySize = "http.server.request.body.size"
	MetricHTTPServerResponseBodySz  = "http.server.response.body.size"
	MetricHTTPClientRequestDuration = "http.client.request.duration"
	MetricHTTPClientRequestBodySize = "http.client.request.body.size"
	MetricHTTPClientResponseBodySz  = "http.client.response.body.size"

	AttrHTTPRequestMethod         = "http.request.method"
	AttrHTTPRequestMethodOriginal = "http.request.method_original"
	AttrHTTPResponseStatusCode    = "http.response.status_code"
	AttrHTTPRoute                 = "http.route"
	AttrHTTPRequestBodySize       = "http.request.body.size"
	AttrHTTPResponseBodySize      = "http.response.body.size"
	AttrURLScheme                 = "url.scheme"
	AttrURLPath                   = "url.path"
	AttrURLFull                   = "url.full"
	AttrClientAddress             = "client.address"
	AttrNetworkPeerAddress        = "network.peer.address"
	AttrNetworkPeerPort           = "network.peer.port"
	AttrNetworkProtocolVersion    = "network.protocol.version"
	AttrUserAgentOriginal         = "user_agent.original"

	// AttrOverflow marks the one series that collects measurements once a
	// metric's series limit is reached (the OTel SDK's overflow attribute).
	AttrOverflow = "otel.metric.overflow"

	// ValueOther replaces an unknown HTTP method or an unbounded value.
	ValueOther = "_OTHER"
)

// OpenTelemetry RPC semantic conventions used by the gRPC handlers. The
// durations follow the current conventions (rpc.*.call.duration, seconds);
// message sizes and counts and rpc.grpc.status_code follow the earlier RPC
// conventions that otelgrpc dashboards use.
const (
	MetricRPCServerCallDuration    = "rpc.server.call.duration"
	MetricRPCClientCallDuration    = "rpc.client.call.duration"
	MetricRPCServerRequestSize     = "rpc.server.request.size"
	MetricRPCServerResponseSize    = "rpc.server.response.size"
	MetricRPCServerRequestsPerRPC  = "rpc.server.requests_per_rpc"
	MetricRPCServerResponsesPerRPC = "rpc.server.responses_per_rpc"
	MetricRPCClientRequestSize     = "rpc.client.request.size"
	MetricRPCClientResponseSize    = "rpc.client.response.size"
	MetricRPCClientRequestsPerRPC  = "rpc.client.requests_per_rpc"
	MetricRPCClientResponsesPerRPC = "rpc.client.responses_per_rpc"

	AttrRPCSystemName         = "rpc.system.name"
	AttrRPCSystem             = "rpc.system"
	AttrRPCMethod             = "rpc.method"
	AttrRPCMethodOriginal     = "rpc.method_original"
	AttrRPCService            = "rpc.service"
	AttrRPCResponseStatusCode = "rpc.response.status_code"
	AttrRPCGRPCStatusCode     = "rpc.grpc.status_code"
	AttrRPCMessageType        = "rpc.message.type"
	AttrRPCMessageID          = "rpc.message.id"
	AttrRPCMessageSize        = "rpc.message.uncompressed_size"
	AttrRPCRequestCount       = "verdict.rpc.request.count"  // messages the client sent
	AttrRPCResponseCount      = "verdict.rpc.response.count" // messages the server sent
)
