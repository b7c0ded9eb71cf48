// Package sql is the probe named "sql": it splits the spans of package
// sqlxprobe into the three parts of a slow query:
//
//   - pool wait: db.client.connection.wait_time (sqlxprobe's, from the call
//     until the pool handed it a connection);
//   - time on the wire: verdict.socket.read_wait.duration and
//     verdict.socket.write_wait.duration, the time the call's socket calls
//     waited for the database server and the network, as the kernel saw it;
//   - client-side time: verdict.self.duration, the rest (the driver, the
//     scanning of rows, the caller between rows).
//
// with the bytes on the wire and the connection's retransmissions and
// resets during the call (see package nethttp for each attribute).
//
// database/sql runs the driver on the caller's goroutine, so the call's I/O
// is found by goroutine: from the moment sqlxprobe sees the connection
// handed over, the probe publishes the goroutine in memory shared with the
// kernel programs (package bpf/sock), which count what its own socket calls
// do on any TCP connection, and the connection events while it was the
// last to use it. A driver that does its I/O on another goroutine, or over
// a unix socket, makes no TCP I/O on the call's goroutine: such a span gets
// verdict.unmeasured, not zeros. Two calls open at once on one goroutine (a
// query issued while another's rows are open) cannot be told apart: both
// get verdict.unmeasured.
//
// SQLite (modernc.org/sqlite) runs in the process: its spans have no
// socket, and say so (verdict.unmeasured = "socket,tcp: SQLite runs in the
// process, no socket"); their time is pool wait and client-side time.
//
// Without eBPF the probe runs degraded: spans keep sqlxprobe's fields (pool
// wait included) and get verdict.unmeasured = "socket,tcp: eBPF off: <why>".
// [Probe.Snapshot] sums the calls, pool wait included; the histogram
// verdict.db.client.socket_wait.duration records the wire time per call.
package sql
