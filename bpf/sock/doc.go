// Package sock measures the process's own TCP sockets from the kernel: per
// connection and per published goroutine, the bytes moved and the "socket
// wait" (Go's sockets are non-blocking: a read that found nothing returns
// EAGAIN and the goroutine parks in the netpoller; the wait is the time
// from that call to the next call on the socket that moved data), and per
// peer the connects, refusals, failures, resets and retransmissions.
// Probes nethttp, grpc, sql and tcp build on it.
//
// # Programs
//
// Seven programs on BTF-enabled tracepoints (tp_btf; no kprobes, no
// tracefs): sock_recv_length and sock_send_length fire inside every
// read, recv, write and send on a socket, in the caller's context, with the
// struct sock and the result; inet_sock_set_state (connect, established,
// closed), tcp_retransmit_skb, tcp_receive_reset, tcp_send_reset and
// tcp_destroy_sock fire wherever the network stack runs. The first two are
// filtered to this process (its tgid in the initial pid namespace, learnt
// as package bpf does); the others find the socket in a map of this
// process's sockets, which only programs running in this process's context
// fill (its connect(), its first read or write on a socket it accepted) and
// which forgets a socket when the kernel destroys it. So events of other
// processes' connections are never counted, even to the same peers, and a
// socket address reused by another process is dropped at its connect.
//
// # Shared memory
//
// Everything user space reads is in BPF arrays memory-mapped into the
// process, read and written without a system call:
//
//   - connections, by a hash of their addresses and ports ([Conn] computes
//     it from net.Conn's LocalAddr and RemoteAddr, so instrumentation that
//     knows only addresses finds them): bytes, read and write waits
//     (completed, and the start of the one in progress), retransmissions,
//     resets, the connect latency of connections this process made.
//     [Tracer.MarkConn] and [Tracer.ConnSince] read a window of it
//     (allocation-free); a wait that began before the window counts only
//     from the window's start, and [Tracer.ReadsFrom] / [Tracer.ReadsUntil]
//     narrow the read side (a client waits for the answer once its request
//     is written; a server's request is read in full at some point, after
//     which its connection's reader waits for someone else);
//   - goroutines published with [Tracer.BeginGoroutine] (the same
//     open-addressing protocol as package bpf's slots): what their own
//     socket calls did, on any TCP socket;
//   - peers, with their counters ([Tracer.Peers]), and the process-wide
//     drops ([Tracer.Stats]).
//
// Entries are claimed by the kernel with compare-and-swap and carry a
// generation, so a reader that started a window on a connection whose entry
// went to another connection meanwhile is told (ConnSince's ok is false).
// Tables that are full are counted drops, never a wrong attribution.
//
// [Open] calibrates before returning: a published goroutine of this
// process waits for data on a loopback connection, and the kernel must have
// given exactly its bytes and its wait to that goroutine and to that
// connection, or Open fails. Every error wraps bpf.ErrNotSupported or
// os.ErrPermission.
//
// # Cost
//
// For processes other than this one, the two socket programs cost a load
// and a compare per socket call while attached. For this process, a hash
// lookup and a few atomic adds per socket call. User space: a window on a
// connection is about 130 ns of CPU here (two reads of a 128-byte entry and
// the clock conversion), a goroutine window less.
//
// The C source (sock.c, with bpf/include/vmlinux.h) is compiled by bpf2go
// with -mcpu=v3 (for compare-and-swap); `go generate ./bpf/...` reproduces
// the committed objects.
package sock
