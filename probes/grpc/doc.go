// Package grpc is the probe named "grpc": it gives the gRPC server and
// client spans of package middleware (its stats handlers) the same socket
// side as probe nethttp gives HTTP spans: read and write waits, bytes,
// retransmissions and resets on the connection during the span, and the
// span's own time (see package nethttp for each attribute).
//
// gRPC runs on HTTP/2: one connection carries the streams of every call
// between two peers, read by one transport goroutine and written by another,
// never by the goroutine of the call. So a span is attributed by its
// connection and its time window: the stats handler tells the probe the
// connection's addresses at the call's header event (OutHeader on the
// client, InHeader on the server), a client's read waits count from its
// last message sent (before, the connection's reader waits while the client
// still sends), a server's until its last message received (after, the
// reader waits for other streams). The counters are the connection's during
// that window.
//
// What cannot be attributed: when several calls are open on the connection
// at once, its waits and bytes are theirs together: each span then says how
// many others shared the connection (verdict.socket.shared_spans), and its
// figures are the connection's, not its own. Which stream a retransmitted
// segment carried is not known either. A connection that is not TCP (an
// in-memory bufconn, a unix socket) gets verdict.unmeasured.
//
// Without eBPF the probe runs degraded: spans keep the RPC fields and get
// verdict.unmeasured = "socket,tcp: eBPF off: <why>". [Probe.Snapshot] sums
// the server and the client spans; the histograms
// verdict.rpc.server.socket_wait.duration and
// verdict.rpc.client.socket_wait.duration record the socket wait per span.
package grpc
