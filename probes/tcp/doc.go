// Package tcp is the probe named "tcp": the TCP health of the process, per
// peer, from the kernel's TCP tracepoints (eBPF, package bpf/sock): connects
// that completed, were refused (answered with a reset: nothing listens) or
// failed (timed out, unreachable), resets received and sent, and segments
// retransmitted.
//
// Those tracepoints fire wherever the network stack runs (softirq, timers,
// other processes), so the kernel programs attribute them by socket: a map
// of this process's own sockets, filled only from this process's context
// (its connect, its first read or write on a socket it accepted) and
// emptied when the kernel destroys the socket. Another process's
// connections, even to the same peers, never appear (a test proves it with
// a second process).
//
// A peer is the remote address and port of a connection the process made,
// or the remote address alone for the connections it accepted (their ports
// are the clients' ephemeral ports). A connect the process itself abandoned
// before it completed (a dial that lost a race, a canceled context) is
// neither refused nor failed.
//
// # Metrics
//
// verdict.tcp.connects (by verdict.tcp.connect.outcome: established,
// refused, failed), verdict.tcp.resets (by network.io.direction: receive,
// transmit) and verdict.tcp.retransmits, each by network.peer.address and
// network.peer.port. Cardinality is bounded: at most [WithTopPeers] peers
// (default 20) have their own series, the busiest; the others are summed
// under network.peer.address "_OTHER". Every series only grows (see
// [WithTopPeers] for how a busier peer takes a series).
//
// [Probe.Snapshot] lists the peers, the most troubled first, with their
// counts and their rates over the last window (a peer refusing
// connections: [Peer].RefusedRate), for the judge and rules.
//
// # Without eBPF
//
// The probe runs degraded: it counts the connects that verdict's HTTP
// client middleware saw succeed or fail (httptrace's ConnectDone), per
// peer, and nothing else (no resets, no retransmissions, no connects made
// by other code); Status says what is missing and why.
package tcp
