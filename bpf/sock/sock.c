//go:build ignore

// The socket side of this process's TCP connections.
//
// Two programs on the socket layer's own tracepoints (sock_recv_length and
// sock_send_length, which fire inside every read, recv, write and send on a
// socket, with the struct sock and the result), filtered to our process,
// measure per connection and per published goroutine: bytes moved, and
// "socket wait", the time from a call that found nothing to read (or no room
// to write) and returned EAGAIN to the next call on that socket that moved
// data. Four programs on the TCP tracepoints (inet_sock_set_state,
// tcp_retransmit_skb, tcp_receive_reset, tcp_send_reset) count connects,
// refusals, failures, resets and retransmissions per peer. Those fire in
// whatever context the network stack runs (softirq, timers, other
// processes), so they are attributed through `socks`, the map of this
// process's own sockets, which only programs running in our own context
// fill (connect, first I/O) and which loses a socket when the kernel
// destroys it (tcp_destroy_sock).
//
// User space reads everything from memory-mapped arrays: `conns` (one entry
// per connection, open addressing by a hash of its addresses and ports that
// user space computes from net.Conn addresses), `gslots` (per published
// goroutine, the same protocol as bpf/sched.c's slots), `peers` and `stats`.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual MIT/GPL";

#define PROBE_LIMIT 8
#define EAGAIN 11
#define ECONNREFUSED 111
#define AF_INET 2
#define AF_INET6 10
#define PROTO_TCP 6
#define MSG_PEEK 2

#define ST_ESTABLISHED 1
#define ST_SYN_SENT 2
#define ST_CLOSE 7

#define SEED_CONN 0x7665726469637431ULL
#define SEED_PEER 0x7665726469637432ULL

// One connection. key and the counters are written by the kernel; user space
// only reads. gen changes after every claim, once the entry is reset, so a
// reader that saw one gen at the start of a span and another at its end knows
// the entry now holds another connection. 128 bytes.
struct conn {
	__u64 key;        // hash of the addresses and ports; 0: free
	__u64 gen;        // bumped after each claim
	__u64 rx_bytes;   // bytes received
	__u64 tx_bytes;   // bytes sent
	__u64 rd_wait_ns; // completed read waits
	__u64 rd_waits;   // their number
	__u64 rd_pend;    // start of the read wait in progress, 0: none
	__u64 wr_wait_ns; // completed write waits (send buffer full)
	__u64 wr_waits;
	__u64 wr_pend;
	__u64 retrans;    // retransmitted segments
	__u64 resets;     // resets received or sent
	__u64 connect_ns; // SYN sent to established, connections made here
	__u64 est_ts;     // when that connect completed
	__u64 closed;     // when the socket closed, 0 while open
	__u64 _pad;
};

// One published goroutine: what its own socket calls did while published.
// key, gen and since are written by user space; the counters by the kernel.
// 128 bytes.
struct gslot {
	__u64 key;   // the goroutine (its g), 0: free
	__u64 gen;   // bumped by user space at each claim
	__u64 since; // ktime of the claim: waits count from here
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 rd_wait_ns;
	__u64 wr_wait_ns;
	__u64 retrans;
	__u64 resets;
	__u64 _pad[7];
};

// One peer: the remote address and port of connections this process made,
// or the remote address alone (port 0) of connections it accepted. 128 bytes.
struct peer {
	__u64 key;   // hash of addr and port; 0: free
	__u64 ready; // 1 once addr and port are written
	__u8 addr[16];
	__u16 port;
	__u16 _p1;
	__u32 _p2;
	__u64 connects;    // connection attempts (SYN sent)
	__u64 established; // attempts that completed
	__u64 refused;     // attempts answered with a reset
	__u64 failed;      // attempts that failed otherwise (timeout, unreachable)
	__u64 resets_rx;   // resets received on established connections
	__u64 resets_tx;   // resets sent
	__u64 retrans;     // retransmitted segments
	__u64 _pad[4];
};

#define NUM_PEER_COUNTERS 7

// Process-wide state shared with user space. 128 bytes.
struct stats {
	__u64 host_tgid;  // our tgid in the initial pid namespace, learnt by the kernel
	__u64 published;  // written by user space: gslots holding a key
	__u64 sock_drops; // sockets not tracked: the socks map was full
	__u64 conn_drops; // connections without an entry: no free entry in their window
	__u64 peer_drops; // events of peers without an entry (counted in other[])
	__u64 other[NUM_PEER_COUNTERS]; // peer counters of those peers
	__u64 _pad[4];
};

#define SI_ACTIVE 1 // this process connected it
#define SI_RESET 2  // a reset arrived while connecting

// One socket of this process. Kernel only.
struct sockinfo {
	__u64 syn_ts;    // when the SYN was sent (active)
	__u64 conn_gen;  // gen of conns[conn-1] when claimed
	__u64 owner_gen; // gen of gslots[owner-1] when it last did I/O here
	__u64 rd_pend;
	__u64 wr_pend;
	__u32 conn;  // conns index + 1, 0: none
	__u32 owner; // gslots index + 1, 0: none
	__u32 peer;  // peers index + 1, 0: none
	__u32 flags;
};

// Set by user space before loading.
volatile const __u64 ns_dev;
volatile const __u64 ns_ino;
volatile const __u32 ns_tgid;
volatile const __u32 conn_mask;
volatile const __u32 gslot_mask;
volatile const __u32 peer_mask;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct conn);
	__uint(max_entries, 4096);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct gslot);
	__uint(max_entries, 1024);
} gslots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct peer);
	__uint(max_entries, 1024);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 1);
} stats_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u64); // the struct sock's address
	__type(value, struct sockinfo);
	__uint(max_entries, 16384);
} socks SEC(".maps");

static __always_inline struct stats *get_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats_map, &zero);
}

// ours reports whether the current task belongs to our process (as in
// bpf/sched.c: the host tgid is learnt from the first event whose
// namespaced tgid matches ours).
static __always_inline bool ours(struct stats *st)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 host = *(volatile __u64 *)&st->host_tgid;
	if (host)
		return host == tgid;

	struct bpf_pidns_info ns = {};
	if (bpf_get_ns_current_pid_tgid(ns_dev, ns_ino, &ns, sizeof(ns)))
		return false;
	if (ns.tgid != ns_tgid)
		return false;
	st->host_tgid = tgid;
	return true;
}

static __always_inline bool tcp_sock(const struct sock *sk)
{
	if (!sk || sk->sk_protocol != PROTO_TCP)
		return false;
	unsigned short fam = sk->__sk_common.skc_family;
	return fam == AF_INET || fam == AF_INET6;
}

static __always_inline __u64 mix(__u64 h, __u64 v)
{
	h ^= v;
	h *= 0x9E3779B97F4A7C15ULL;
	h ^= h >> 29;
	return h;
}

// addr16 reads an address as two little-endian words of its 16-byte form
// (IPv4 as ::ffff:a.b.c.d), the form user space hashes.
static __always_inline void remote_addr(const struct sock *sk, __u64 a[2])
{
	const struct sock_common *c = &sk->__sk_common;
	if (c->skc_family == AF_INET) {
		a[0] = 0;
		a[1] = 0xffff0000ULL | ((__u64)c->skc_daddr << 32);
		return;
	}
	a[0] = (__u64)c->skc_v6_daddr.in6_u.u6_addr32[0] | ((__u64)c->skc_v6_daddr.in6_u.u6_addr32[1] << 32);
	a[1] = (__u64)c->skc_v6_daddr.in6_u.u6_addr32[2] | ((__u64)c->skc_v6_daddr.in6_u.u6_addr32[3] << 32);
}

static __always_inline void local_addr(const struct sock *sk, __u64 a[2])
{
	const struct sock_common *c = &sk->__sk_common;
	if (c->skc_family == AF_INET) {
		a[0] = 0;
		a[1] = 0xffff0000ULL | ((__u64)c->skc_rcv_saddr << 32);
		return;
	}
	a[0] = (__u64)c->skc_v6_rcv_saddr.in6_u.u6_addr32[0] | ((__u64)c->skc_v6_rcv_saddr.in6_u.u6_addr32[1] << 32);
	a[1] = (__u64)c->skc_v6_rcv_saddr.in6_u.u6_addr32[2] | ((__u64)c->skc_v6_rcv_saddr.in6_u.u6_addr32[3] << 32);
}

static __always_inline __u16 remote_port(const struct sock *sk)
{
	return __builtin_bswap16(sk->__sk_common.skc_dport);
}

// conn_key hashes the connection as user space does (sock.go, connKey).
static __always_inline __u64 conn_key(const struct sock *sk)
{
	__u64 l[2], r[2];
	local_addr(sk, l);
	remote_addr(sk, r);
	__u64 ports = ((__u64)sk->__sk_common.skc_num << 16) | remote_port(sk);
	__u64 h = mix(mix(mix(mix(mix(SEED_CONN, l[0]), l[1]), r[0]), r[1]), ports);
	return h ? h : 1;
}

static __always_inline __u64 user_g(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!regs)
		return 0;
#if defined(__TARGET_ARCH_x86)
	return regs->r14;
#elif defined(__TARGET_ARCH_arm64)
	return regs->regs[28];
#else
	return 0;
#endif
}

static __always_inline __u32 g_hash(__u64 g)
{
	return (__u32)((g * 0x9E3779B97F4A7C15ULL) >> 32);
}

static __always_inline struct gslot *find_gslot(__u64 g, __u32 *idx)
{
	if (!g)
		return NULL;
	__u32 h = g_hash(g);
#pragma unroll
	for (int i = 0; i < PROBE_LIMIT; i++) {
		__u32 k = (h + i) & gslot_mask;
		struct gslot *s = bpf_map_lookup_elem(&gslots, &k);
		if (s && *(volatile __u64 *)&s->key == g) {
			*idx = k;
			return s;
		}
	}
	return NULL;
}

static __always_inline struct gslot *owner_of(struct sockinfo *si)
{
	if (!si->owner)
		return NULL;
	__u32 k = si->owner - 1;
	struct gslot *s = bpf_map_lookup_elem(&gslots, &k);
	if (!s || !*(volatile __u64 *)&s->key || *(volatile __u64 *)&s->gen != si->owner_gen)
		return NULL;
	return s;
}

static __always_inline struct conn *conn_of(struct sockinfo *si)
{
	if (!si->conn)
		return NULL;
	__u32 k = si->conn - 1;
	struct conn *c = bpf_map_lookup_elem(&conns, &k);
	if (!c || *(volatile __u64 *)&c->gen != si->conn_gen)
		return NULL;
	return c;
}

// claim_conn gives the socket an entry in conns: a free one in its window,
// or else one whose connection closed.
static __always_inline void claim_conn(struct stats *st, const struct sock *sk, struct sockinfo *si)
{
	__u64 key = conn_key(sk);
#pragma unroll
	for (int i = 0; i < PROBE_LIMIT; i++) {
		__u32 k = ((__u32)key + i) & conn_mask;
		struct conn *c = bpf_map_lookup_elem(&conns, &k);
		if (!c)
			continue;
		__u64 old = *(volatile __u64 *)&c->key;
		if (old && !*(volatile __u64 *)&c->closed)
			continue;
		if (__sync_val_compare_and_swap(&c->key, old, key) != old)
			continue;
		c->rx_bytes = 0;
		c->tx_bytes = 0;
		c->rd_wait_ns = 0;
		c->rd_waits = 0;
		c->rd_pend = si->rd_pend;
		c->wr_wait_ns = 0;
		c->wr_waits = 0;
		c->wr_pend = si->wr_pend;
		c->retrans = 0;
		c->resets = 0;
		c->connect_ns = 0;
		c->est_ts = 0;
		c->closed = 0;
		__u64 gen = __sync_fetch_and_add(&c->gen, 1) + 1;
		si->conn = k + 1;
		si->conn_gen = gen;
		return;
	}
	__sync_fetch_and_add(&st->conn_drops, 1);
}

static __always_inline __u64 peer_key(__u64 a[2], __u16 port)
{
	__u64 h = mix(mix(mix(SEED_PEER, a[0]), a[1]), port);
	return h ? h : 1;
}

// find_peer returns the peers entry of the socket's peer, claiming one when
// needed; NULL when its window is full (the event then counts in
// stats.other).
static __always_inline __u32 find_peer(const struct sock *sk, bool active)
{
	__u64 a[2];
	remote_addr(sk, a);
	__u16 port = active ? remote_port(sk) : 0;
	__u64 key = peer_key(a, port);
#pragma unroll
	for (int i = 0; i < PROBE_LIMIT; i++) {
		__u32 k = ((__u32)key + i) & peer_mask;
		struct peer *p = bpf_map_lookup_elem(&peers, &k);
		if (!p)
			continue;
		__u64 old = *(volatile __u64 *)&p->key;
		if (old == key)
			return k + 1;
		if (old)
			continue;
		if (__sync_val_compare_and_swap(&p->key, 0, key) != 0) {
			if (*(volatile __u64 *)&p->key == key)
				return k + 1;
			continue;
		}
		__builtin_memcpy(p->addr, a, 16);
		p->port = port;
		__sync_fetch_and_add(&p->ready, 1);
		return k + 1;
	}
	return 0;
}

enum peer_counter {
	PC_CONNECTS = 0,
	PC_ESTABLISHED = 1,
	PC_REFUSED = 2,
	PC_FAILED = 3,
	PC_RESETS_RX = 4,
	PC_RESETS_TX = 5,
	PC_RETRANS = 6,
};

static __always_inline void peer_add(struct stats *st, struct sockinfo *si, int which)
{
	if (si->peer) {
		__u32 k = si->peer - 1;
		struct peer *p = bpf_map_lookup_elem(&peers, &k);
		if (p) {
			__u64 *ctr = &p->connects;
			switch (which) {
			case PC_CONNECTS: ctr = &p->connects; break;
			case PC_ESTABLISHED: ctr = &p->established; break;
			case PC_REFUSED: ctr = &p->refused; break;
			case PC_FAILED: ctr = &p->failed; break;
			case PC_RESETS_RX: ctr = &p->resets_rx; break;
			case PC_RESETS_TX: ctr = &p->resets_tx; break;
			default: ctr = &p->retrans; break;
			}
			__sync_fetch_and_add(ctr, 1);
			return;
		}
	}
	if (which >= 0 && which < NUM_PEER_COUNTERS) {
		__sync_fetch_and_add(&st->other[which], 1);
		__sync_fetch_and_add(&st->peer_drops, 1);
	}
}

// new_sock starts tracking a socket of ours. The caller runs in our
// process's context.
static __always_inline struct sockinfo *new_sock(struct stats *st, const struct sock *sk, bool active, __u64 now)
{
	__u64 key = (__u64)sk;
	struct sockinfo si = {};
	if (active) {
		si.flags = SI_ACTIVE;
		si.syn_ts = now;
	}
	si.peer = find_peer(sk, active);
	if (bpf_map_update_elem(&socks, &key, &si, BPF_NOEXIST)) {
		// Another CPU inserted it first (it claims the entry), or
		// the map is full.
		struct sockinfo *cur = bpf_map_lookup_elem(&socks, &key);
		if (!cur)
			__sync_fetch_and_add(&st->sock_drops, 1);
		return NULL;
	}
	struct sockinfo *p = bpf_map_lookup_elem(&socks, &key);
	if (p && !active)
		claim_conn(st, sk, p);
	return p;
}

#define DIR_RD 0
#define DIR_WR 1

static __always_inline void sock_io(const struct sock *sk, int ret, int dir)
{
	struct stats *st = get_stats();
	if (!st || !ours(st) || !tcp_sock(sk))
		return;
	__u64 key = (__u64)sk;
	__u64 now = bpf_ktime_get_ns();
	struct sockinfo *si = bpf_map_lookup_elem(&socks, &key);
	if (!si) {
		si = new_sock(st, sk, false, now);
		if (!si)
			return;
	}
	struct conn *c = conn_of(si);
	__u64 *pend = dir == DIR_RD ? &si->rd_pend : &si->wr_pend;
	if (ret == -EAGAIN) {
		if (!*pend) {
			*pend = now;
			if (c) {
				if (dir == DIR_RD)
					*(volatile __u64 *)&c->rd_pend = now;
				else
					*(volatile __u64 *)&c->wr_pend = now;
			}
		}
		return;
	}
	__u64 p = *pend;
	*pend = 0;
	if (c) {
		// Counters first, then the end of the pending wait: a reader
		// that sees the wait pending has not seen it counted.
		if (dir == DIR_RD) {
			if (ret > 0)
				__sync_fetch_and_add(&c->rx_bytes, ret);
			if (p && ret >= 0) {
				__sync_fetch_and_add(&c->rd_wait_ns, now - p);
				__sync_fetch_and_add(&c->rd_waits, 1);
			}
			*(volatile __u64 *)&c->rd_pend = 0;
		} else {
			if (ret > 0)
				__sync_fetch_and_add(&c->tx_bytes, ret);
			if (p && ret >= 0) {
				__sync_fetch_and_add(&c->wr_wait_ns, now - p);
				__sync_fetch_and_add(&c->wr_waits, 1);
			}
			*(volatile __u64 *)&c->wr_pend = 0;
		}
	}
	if (ret < 0 || !*(volatile __u64 *)&st->published)
		return;

	__u32 idx;
	struct gslot *gs = find_gslot(user_g(), &idx);
	if (!gs)
		return;
	if (p) {
		__u64 since = *(volatile __u64 *)&gs->since;
		__u64 from = p > since ? p : since;
		if (now > from) {
			if (dir == DIR_RD)
				__sync_fetch_and_add(&gs->rd_wait_ns, now - from);
			else
				__sync_fetch_and_add(&gs->wr_wait_ns, now - from);
		}
	}
	if (ret > 0) {
		if (dir == DIR_RD)
			__sync_fetch_and_add(&gs->rx_bytes, ret);
		else
			__sync_fetch_and_add(&gs->tx_bytes, ret);
	}
	si->owner = idx + 1;
	si->owner_gen = *(volatile __u64 *)&gs->gen;
}

SEC("tp_btf/sock_recv_length")
int sock_recv(__u64 *ctx)
{
	int flags = (int)ctx[2];
	if (flags & MSG_PEEK)
		return 0;
	sock_io((const struct sock *)ctx[0], (int)ctx[1], DIR_RD);
	return 0;
}

SEC("tp_btf/sock_send_length")
int sock_send(__u64 *ctx)
{
	sock_io((const struct sock *)ctx[0], (int)ctx[1], DIR_WR);
	return 0;
}

// tcp_event counts a TCP event on one of our sockets: per peer, per
// connection, and for the goroutine that last did I/O on it while published.
static __always_inline void tcp_event(const struct sock *sk, int which)
{
	__u64 key = (__u64)sk;
	struct sockinfo *si = bpf_map_lookup_elem(&socks, &key);
	if (!si)
		return;
	struct stats *st = get_stats();
	if (!st)
		return;
	if (which == PC_RESETS_RX && sk->__sk_common.skc_state == ST_SYN_SENT) {
		// The answer to our SYN: a refusal, counted when the socket
		// closes.
		si->flags |= SI_RESET;
		return;
	}
	peer_add(st, si, which);
	struct conn *c = conn_of(si);
	struct gslot *gs = owner_of(si);
	if (which == PC_RETRANS) {
		if (c)
			__sync_fetch_and_add(&c->retrans, 1);
		if (gs)
			__sync_fetch_and_add(&gs->retrans, 1);
	} else {
		if (c)
			__sync_fetch_and_add(&c->resets, 1);
		if (gs)
			__sync_fetch_and_add(&gs->resets, 1);
	}
}

SEC("tp_btf/tcp_retransmit_skb")
int tcp_retransmit(__u64 *ctx)
{
	tcp_event((const struct sock *)ctx[0], PC_RETRANS);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int tcp_rst_rx(__u64 *ctx)
{
	tcp_event((const struct sock *)ctx[0], PC_RESETS_RX);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int tcp_rst_tx(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	if (sk)
		tcp_event(sk, PC_RESETS_TX);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int tcp_state(__u64 *ctx)
{
	const struct sock *sk = (const struct sock *)ctx[0];
	int old = (int)ctx[1];
	int new = (int)ctx[2];
	if (!tcp_sock(sk))
		return 0;
	struct stats *st = get_stats();
	if (!st)
		return 0;
	__u64 key = (__u64)sk;

	if (new == ST_SYN_SENT) {
		// connect(): this runs in the connecting task's context.
		if (!ours(st)) {
			// A socket address we tracked, reused by another process.
			bpf_map_delete_elem(&socks, &key);
			return 0;
		}
		struct sockinfo *si = bpf_map_lookup_elem(&socks, &key);
		if (si)
			bpf_map_delete_elem(&socks, &key); // stale: start afresh
		si = new_sock(st, sk, true, bpf_ktime_get_ns());
		if (si)
			peer_add(st, si, PC_CONNECTS);
		return 0;
	}

	struct sockinfo *si = bpf_map_lookup_elem(&socks, &key);
	if (!si)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (old == ST_SYN_SENT && new == ST_ESTABLISHED) {
		peer_add(st, si, PC_ESTABLISHED);
		if (!si->conn)
			claim_conn(st, sk, si);
		struct conn *c = conn_of(si);
		if (c && si->syn_ts) {
			c->connect_ns = now - si->syn_ts;
			*(volatile __u64 *)&c->est_ts = now;
		}
		return 0;
	}
	if (new != ST_CLOSE)
		return 0;
	if (old == ST_SYN_SENT) {
		int err = sk->sk_err;
		if (err == ECONNREFUSED || (si->flags & SI_RESET))
			peer_add(st, si, PC_REFUSED);
		else if (err)
			peer_add(st, si, PC_FAILED);
		// else: closed by this process before it completed (a dial
		// that lost a race or was canceled), not a failure.
	}
	// The entry stays until the socket is destroyed: a reset sent by an
	// abortive close comes after the state changed to CLOSE.
	struct conn *c = conn_of(si);
	if (c)
		*(volatile __u64 *)&c->closed = now;
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int tcp_destroy(__u64 *ctx)
{
	__u64 key = ctx[0];
	bpf_map_delete_elem(&socks, &key);
	return 0;
}
