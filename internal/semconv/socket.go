package semconv

// The socket side of HTTP, gRPC and database spans (probes nethttp, grpc,
// sql), measured by the kernel on the span's connection or goroutine.
// Durations are seconds (float64), counts int64.
const (
	// AttrSocketReadWait is the time the span's reads found nothing to
	// read and waited for data: from a read that returned EAGAIN to the
	// next read on that socket that returned data. For a server, the
	// client sending slowly; for a client, the server (and the network)
	// answering.
	AttrSocketReadWait = "verdict.socket.read_wait.duration"
	// AttrSocketWriteWait is the same for writes that found the send
	// buffer full: the peer reading slowly, or a congested network.
	AttrSocketWriteWait = "verdict.socket.write_wait.duration"
	// AttrSocketReadBytes and AttrSocketWriteBytes are the bytes the span's
	// sockets moved (TCP payload: headers, framing and TLS included).
	AttrSocketReadBytes  = "verdict.socket.read.bytes"
	AttrSocketWriteBytes = "verdict.socket.write.bytes"
	// AttrSocketSharedSpans is how many other spans used the same
	// connection during this one (HTTP/2 and gRPC streams): the socket
	// figures are then the connection's, shared by all of them. Absent
	// when no other span did.
	AttrSocketSharedSpans = "verdict.socket.shared_spans"
	// AttrSelfDuration is the span's duration less its socket waits (and,
	// on a database span, less its pool wait): the time in the handler,
	// or in the client, as opposed to blocked on the network.
	AttrSelfDuration = "verdict.self.duration"

	// AttrTCPRetransmits and AttrTCPResets count the TCP segments
	// retransmitted and the resets received or sent on the span's
	// connection during the span.
	AttrTCPRetransmits = "verdict.tcp.retransmits"
	AttrTCPResets      = "verdict.tcp.resets"
	// AttrTCPConnectDuration is the kernel's connect latency (SYN sent to
	// established) of a connection made for the span.
	AttrTCPConnectDuration = "verdict.tcp.connect.duration"

	// Groups of fields named in AttrUnmeasured.
	UnmeasuredSocket    = "socket"     // read/write wait, bytes, self time
	UnmeasuredTCP       = "tcp"        // retransmits, resets, connect
	UnmeasuredSocketTCP = "socket,tcp" // both

	// Histograms of the socket wait (read + write) per span, seconds.
	MetricHTTPServerSocketWait = "verdict.http.server.socket_wait.duration"
	MetricHTTPClientSocketWait = "verdict.http.client.socket_wait.duration"
	MetricRPCServerSocketWait  = "verdict.rpc.server.socket_wait.duration"
	MetricRPCClientSocketWait  = "verdict.rpc.client.socket_wait.duration"
	MetricDBClientSocketWait   = "verdict.db.client.socket_wait.duration"
	// MetricSocketUnmeasured counts spans whose socket side could not be
	// measured, by AttrUnmeasuredReason.
	MetricSocketUnmeasured = "verdict.socket.unmeasured"
	// AttrUnmeasuredReason is a bounded reason on MetricSocketUnmeasured:
	// one of the UnmeasuredReason* values.
	AttrUnmeasuredReason = "verdict.unmeasured.reason"

	UnmeasuredReasonEBPFOff   = "ebpf_off"   // the kernel side is not running
	UnmeasuredReasonUntracked = "untracked"  // the connection was not found (table full, not TCP, addresses rewritten)
	UnmeasuredReasonNoSocket  = "no_socket"  // the span has no socket (an in-process database)
	UnmeasuredReasonShared    = "shared"     // another database call was open on the goroutine
	UnmeasuredReasonReused    = "reused"     // the connection's entry went to another connection before the span ended
	UnmeasuredReasonTableFull = "table_full" // too many spans open at once: the span got no record
)

// TCP health of the process (probe tcp), per peer: network.peer.address and
// network.peer.port (absent for the process's clients, counted by address),
// at most the probe's top N peers, the others as address "_OTHER".
const (
	// MetricTCPConnects counts connection attempts by AttrTCPConnectOutcome.
	MetricTCPConnects     = "verdict.tcp.connects"
	AttrTCPConnectOutcome = "verdict.tcp.connect.outcome"
	// Values of AttrTCPConnectOutcome.
	TCPConnectEstablished = "established"
	TCPConnectRefused     = "refused" // answered with a reset: nothing listens
	TCPConnectFailed      = "failed"  // timed out or unreachable

	// MetricTCPResets counts resets by AttrNetworkIODirection ("receive",
	// "transmit").
	MetricTCPResets = "verdict.tcp.resets"
	// MetricTCPRetransmits counts retransmitted segments.
	MetricTCPRetransmits = "verdict.tcp.retransmits"

	// AttrNetworkIODirection is the OpenTelemetry attribute for a
	// direction ("receive", "transmit"); the peer attributes are
	// AttrNetworkPeerAddress and AttrNetworkPeerPort.
	AttrNetworkIODirection = "network.io.direction"
)
