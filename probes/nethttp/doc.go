// Package nethttp is the probe named "nethttp": it gives the HTTP server and
// client spans of package middleware their socket side, as the kernel saw
// it (eBPF), so that a slow span says whether it waited on the network or
// worked:
//
//   - verdict.socket.read_wait.duration: the time the span's reads found
//     nothing to read and waited for data, from a read that returned EAGAIN
//     (Go's sockets are non-blocking) to the next read on that socket that
//     returned data. On a server span it counts until the request was read
//     in full (a client sending slowly); on a client span, from the moment
//     its request was written (the server, and the network, answering);
//   - verdict.socket.write_wait.duration: writes that found the send buffer
//     full, until there was room (the peer reading slowly);
//   - verdict.socket.read.bytes, verdict.socket.write.bytes: bytes on the
//     connection (TCP payload: headers and TLS records included);
//   - verdict.tcp.retransmits, verdict.tcp.resets: on the connection during
//     the span; verdict.tcp.connect.duration: the kernel's connect latency
//     when the connection was made for the span;
//   - verdict.self.duration: the rest of the span, the time in the handler
//     (server) or in the client;
//   - verdict.socket.shared_spans: on HTTP/2, how many other spans used the
//     same connection during this one (then the figures above are the
//     connection's, shared by all of them; absent when none did).
//
// # How a span finds its connection
//
// The middleware tells the probe, through internal/netspan, which
// connection a span uses: a server span by the request's addresses
// (http.LocalAddrContextKey and RemoteAddr), a client span by the
// connection httptrace's GotConn hands it (its I/O runs on net/http's
// transport goroutines, not the caller's). The kernel programs of package
// bpf/sock keep counters per connection, found by those addresses; the
// probe reads them at the start and at the end of the span (memory shared
// with the kernel, no system call, no allocation) and its span hook adds
// the attributes when the span ends, in the tracer's span pipeline.
//
// An HTTP/1.1 connection carries one request at a time, so its counters
// during a span are the request's. HTTP/2 multiplexes: the counters are the
// connection's during the span's window, shared with the other streams,
// which verdict.socket.shared_spans says; what one stream waited on the
// socket alone cannot be told apart (the kernel sees one byte stream).
//
// Not measured: a server span's response written after the handler returns
// (net/http flushes small responses then, after the span ended), a
// connection this process accepted and did not read or write yet when the
// span started (never the case for a request: its headers were read), and
// a RemoteAddr rewritten by a proxy middleware (the connection is not
// found). Each such span carries verdict.unmeasured saying so, never zeros.
//
// # Without eBPF
//
// The probe runs degraded: spans keep the middleware's fields (client
// phases from httptrace, sizes, status) and get one attribute
// verdict.unmeasured = "socket,tcp: eBPF off: <why>" (the tracer's pipeline
// joins it with the other probes' reasons), and Status says the same.
//
// [Probe.Snapshot] sums the server and the client spans for the judge and
// rules ([probes.SocketStats]); the histograms
// verdict.http.server.socket_wait.duration and
// verdict.http.client.socket_wait.duration record the socket wait per span,
// and verdict.socket.unmeasured counts spans without figures by reason.
//
// The tracer runs this probe by itself, after the "ebpf" probe whose socket
// tracer it reads ([WithEBPF]).
package nethttp
