//go:build ignore

// Kernel-side timing per goroutine key.
//
// User space publishes "goroutine g works for a span" by writing g into a
// slot of the memory-mapped `slots` array (open addressing: g may sit in any
// of PROBE_LIMIT slots starting at hash(g)). These programs, attached to
// BTF-enabled raw tracepoints (tp_btf: typed arguments, so kernel memory is
// read with plain loads instead of bpf_probe_read_kernel) and filtered to our
// own process, find the goroutine running on
// the current thread (R14 at sys_enter on amd64, R28 on arm64, TLS at
// fsbase-8 from the scheduler on amd64) and add what they measure to that
// goroutine's slot. Nothing is sent to user space: it reads the slot
// counters directly from the shared mapping.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h> /* bpf_core_field_exists */

char __license[] SEC("license") = "Dual MIT/GPL";

#define MAX_SYSCALL 512
#define NUM_CLASSES 3
#define PROBE_LIMIT 8

enum syscall_class {
	CLASS_OTHER = 0,
	CLASS_FILE = 1,
	CLASS_NET = 2,
};

// One published goroutine key and the kernel time attributed to it.
// key, span_id and trace_id are written by user space only; the counters
// by the kernel only, with atomic adds. 128 bytes.
struct slot {
	__u64 key;
	__u64 span_id;
	__u64 trace_id[2];
	__u64 sys_count[NUM_CLASSES];
	__u64 sys_ns[NUM_CLASSES];
	__u64 offcpu_ns;
	__u64 runq_ns;
	__u64 nivcsw;
	__u64 gen; // bumped by user space each time the slot is claimed
	__u64 assist_ns;    // in runtime.gcAssistAlloc (gc_assist)
	__u64 assist_count; // calls of runtime.gcAssistAlloc that returned
};

// Process-wide state shared with user space.
struct stats {
	__u64 host_tgid;    // our tgid in the initial pid namespace, learnt by the kernel
	__u64 calib_key;    // written by user space during calibration
	__u64 calib_fs_ok;  // sys_enter: TLS g agreed with the register g
	__u64 calib_fs_bad; // sys_enter: TLS g differed
	__u64 thread_drops; // per-thread state could not be stored
	__u64 published;    // written by user space: number of slots holding a key
	__u64 _pad[2];
};

enum off_mode {
	OFF_NONE = 0,
	OFF_BLOCKED = 1, // switched out while blocked in a syscall
	OFF_RUNQ = 2,    // runnable, waiting for a CPU
};

// Per-thread state, keyed by thread id. A slot is identified by index, key
// and generation, so state left behind (an event skipped because nothing was
// published) never matches a slot claimed again later.
struct thread {
	__u64 sys_g;
	__u64 sys_gen;
	__u64 sys_ts;
	__u32 sys_slot;
	__u32 sys_class;
	__u64 off_g;
	__u64 off_gen;
	__u64 off_ts;
	__u32 off_slot;
	__u32 off_mode;
};

// Set by user space before loading.
volatile const __u64 ns_dev;
volatile const __u64 ns_ino;
volatile const __u32 ns_tgid;
volatile const __u32 slot_mask;
volatile const __u8 syscall_class[MAX_SYSCALL];

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct slot);
	__uint(max_entries, 4096);
} slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 1);
} stats_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u32);
	__type(value, struct thread);
	__uint(max_entries, 4096);
} threads SEC(".maps");

// An assist under way: when it began and the slot of the goroutine's span
// (index and generation, so a slot claimed again meanwhile never matches).
struct assist {
	__u64 ts;
	__u64 gen;
	__u32 slot;
	__u32 pad;
};

// Assists under way, keyed by goroutine: an assist may park the goroutine
// (waiting for credit) and resume it on another thread.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, __u64);
	__type(value, struct assist);
	__uint(max_entries, 4096);
} assists SEC(".maps");

static __always_inline struct stats *get_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats_map, &zero);
}

// ours reports whether the current task belongs to our process. The tgid in
// the initial pid namespace is learnt from the first event whose namespaced
// tgid matches ours, so the filter also works inside a container.
static __always_inline bool ours(struct stats *st, __u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
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

static __always_inline __u32 slot_hash(__u64 g)
{
	return (__u32)((g * 0x9E3779B97F4A7C15ULL) >> 32);
}

static __always_inline struct slot *find_slot(__u64 g, __u32 *idx)
{
	if (!g)
		return NULL;
	__u32 h = slot_hash(g);
#pragma unroll
	for (int i = 0; i < PROBE_LIMIT; i++) {
		__u32 k = (h + i) & slot_mask;
		struct slot *s = bpf_map_lookup_elem(&slots, &k);
		if (s && *(volatile __u64 *)&s->key == g) {
			*idx = k;
			return s;
		}
	}
	return NULL;
}

static __always_inline struct slot *slot_at(__u32 idx, __u64 g, __u64 gen)
{
	struct slot *s = bpf_map_lookup_elem(&slots, &idx);
	if (!s || *(volatile __u64 *)&s->key != g || *(volatile __u64 *)&s->gen != gen)
		return NULL;
	return s;
}

// idle reports whether no goroutine key is published: every program returns
// at once then.
static __always_inline bool idle(struct stats *st)
{
	return *(volatile __u64 *)&st->published == 0;
}

static __always_inline __u64 regs_g(struct pt_regs *regs)
{
	__u64 g = 0;
#if defined(__TARGET_ARCH_x86)
	g = regs->r14;
#elif defined(__TARGET_ARCH_arm64)
	g = regs->regs[28];
#endif
	return g;
}

// tls_g reads the goroutine of the current thread from its TLS block. Only
// on amd64, where Go keeps g at fsbase-8; elsewhere it reports 0 (unknown).
static __always_inline __u64 tls_g(void)
{
	__u64 g = 0;
#if defined(__TARGET_ARCH_x86)
	struct task_struct *task = bpf_get_current_task_btf();
	unsigned long fsbase = task->thread.fsbase;
	if (fsbase > 8)
		bpf_probe_read_user(&g, sizeof(g), (void *)(fsbase - 8));
#endif
	return g;
}

static __always_inline long task_state(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state;
	struct task_struct___pre514 *old = (void *)t;
	return old->state;
}

static __always_inline struct thread *thread_get(struct stats *st, __u32 tid)
{
	struct thread *t = bpf_map_lookup_elem(&threads, &tid);
	if (t)
		return t;
	struct thread zero = {};
	bpf_map_update_elem(&threads, &tid, &zero, BPF_NOEXIST);
	t = bpf_map_lookup_elem(&threads, &tid);
	if (!t)
		__sync_fetch_and_add(&st->thread_drops, 1);
	return t;
}

SEC("tp_btf/sys_enter")
int sys_enter(__u64 *ctx)
{
	struct stats *st = get_stats();
	if (!st || idle(st))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!ours(st, pid_tgid))
		return 0;

	__u64 g = regs_g((struct pt_regs *)ctx[0]);
	__u32 idx;
	struct slot *s = find_slot(g, &idx);
	if (!s)
		return 0;

	if (g == *(volatile __u64 *)&st->calib_key) {
		if (tls_g() == g)
			__sync_fetch_and_add(&st->calib_fs_ok, 1);
		else
			__sync_fetch_and_add(&st->calib_fs_bad, 1);
	}

	struct thread *t = thread_get(st, (__u32)pid_tgid);
	if (!t)
		return 0;

	long nr = (long)ctx[1];
	__u32 class = CLASS_OTHER;
	if (nr >= 0 && nr < MAX_SYSCALL)
		class = syscall_class[nr];

	t->sys_g = g;
	t->sys_gen = *(volatile __u64 *)&s->gen;
	t->sys_slot = idx;
	t->sys_class = class;
	t->sys_ts = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sys_exit")
int sys_exit(__u64 *ctx)
{
	struct stats *st = get_stats();
	if (!st || idle(st))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!ours(st, pid_tgid))
		return 0;

	__u32 tid = (__u32)pid_tgid;
	struct thread *t = bpf_map_lookup_elem(&threads, &tid);
	if (!t || !t->sys_g)
		return 0;
	__u64 g = t->sys_g;
	t->sys_g = 0;

	struct slot *s = slot_at(t->sys_slot, g, t->sys_gen);
	if (!s)
		return 0;
	__u64 d = bpf_ktime_get_ns() - t->sys_ts;
	__u32 class = t->sys_class;
	if (class >= NUM_CLASSES)
		class = CLASS_OTHER;
	__sync_fetch_and_add(&s->sys_count[class], 1);
	__sync_fetch_and_add(&s->sys_ns[class], d);
	return 0;
}

static __always_inline void switch_out(struct stats *st, struct task_struct *prev, __u32 tid, bool preempt, __u64 now)
{
	bool runnable = preempt || task_state(prev) == 0;
	struct thread *t = bpf_map_lookup_elem(&threads, &tid);
	bool in_sys = t && t->sys_g;

	if (!runnable) {
		if (in_sys) {
			t->off_g = t->sys_g;
			t->off_gen = t->sys_gen;
			t->off_slot = t->sys_slot;
		} else {
			// Blocked outside a traced system call (page fault, or
			// system calls not traced at all): the goroutine in TLS.
			// A thread parking in the Go scheduler has g0 there,
			// which is never published.
			__u32 idx;
			__u64 g = tls_g();
			struct slot *s = find_slot(g, &idx);
			if (!s)
				return;
			if (!t) {
				t = thread_get(st, tid);
				if (!t)
					return;
			}
			t->off_g = g;
			t->off_gen = *(volatile __u64 *)&s->gen;
			t->off_slot = idx;
		}
		t->off_ts = now;
		t->off_mode = OFF_BLOCKED;
		return;
	}

	__u64 g, gen;
	__u32 idx;
	struct slot *s;
	if (in_sys) {
		g = t->sys_g;
		gen = t->sys_gen;
		idx = t->sys_slot;
		s = slot_at(idx, g, gen);
	} else {
		g = tls_g();
		s = find_slot(g, &idx);
		gen = s ? *(volatile __u64 *)&s->gen : 0;
	}
	if (!s)
		return;
	// Like the kernel's nivcsw: every switch-out while still runnable
	// (preemption on return to user space has preempt == false).
	__sync_fetch_and_add(&s->nivcsw, 1);
	if (!t) {
		t = thread_get(st, tid);
		if (!t)
			return;
	}
	t->off_g = g;
	t->off_gen = gen;
	t->off_slot = idx;
	t->off_ts = now;
	t->off_mode = OFF_RUNQ;
}

static __always_inline void switch_in(__u32 tid, __u64 now)
{
	struct thread *t = bpf_map_lookup_elem(&threads, &tid);
	if (!t || t->off_mode == OFF_NONE)
		return;
	__u32 mode = t->off_mode;
	t->off_mode = OFF_NONE;
	struct slot *s = slot_at(t->off_slot, t->off_g, t->off_gen);
	if (!s)
		return;
	__u64 d = now - t->off_ts;
	if (mode == OFF_RUNQ)
		__sync_fetch_and_add(&s->runq_ns, d);
	else
		__sync_fetch_and_add(&s->offcpu_ns, d);
}

SEC("tp_btf/sched_switch")
int sched_switch(__u64 *ctx)
{
	struct stats *st = get_stats();
	if (!st || idle(st))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u64 host = *(volatile __u64 *)&st->host_tgid;
	if (!host) {
		// Not learnt yet (system calls are not traced): learn from prev.
		if (!ours(st, pid_tgid))
			return 0;
		host = pid_tgid >> 32;
	}

	bool preempt = ctx[0] & 1;
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	bool out = (pid_tgid >> 32) == host;
	bool in = (__u64)next->tgid == host;
	if (!out && !in)
		return 0;

	__u64 now = bpf_ktime_get_ns();
	if (out)
		switch_out(st, prev, (__u32)pid_tgid, preempt, now);
	if (in)
		switch_in((__u32)next->pid, now);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int sched_wakeup(__u64 *ctx)
{
	struct stats *st = get_stats();
	if (!st || idle(st))
		return 0;
	__u64 host = *(volatile __u64 *)&st->host_tgid;
	struct task_struct *p = (struct task_struct *)ctx[0];
	if (!host || (__u64)p->tgid != host)
		return 0;

	__u32 tid = p->pid;
	struct thread *t = bpf_map_lookup_elem(&threads, &tid);
	if (!t || t->off_mode != OFF_BLOCKED)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct slot *s = slot_at(t->off_slot, t->off_g, t->off_gen);
	if (s)
		__sync_fetch_and_add(&s->offcpu_ns, now - t->off_ts);
	t->off_mode = OFF_RUNQ;
	t->off_ts = now;
	return 0;
}

// Attach cookies of gc_assist; timing_linux.go has the same values.
#define ASSIST_COOKIE_ENTRY 1
#define ASSIST_COOKIE_RETURN 2

// gc_assist sits at the entry of runtime.gcAssistAlloc (on an instruction
// the kernel emulates) and on each of its RETs, told apart by the attach
// cookie. The goroutine is the g register of the Go ABI (R14 on amd64, R28
// on arm64). The time from entry to return, parked waits for credit
// included, goes to the slot of the goroutine's open span, if any.
SEC("uprobe")
int gc_assist(struct pt_regs *ctx)
{
	struct stats *st = get_stats();
	if (!st || idle(st))
		return 0;
	if (!ours(st, bpf_get_current_pid_tgid()))
		return 0;
	__u64 g = regs_g(ctx);
	if (!g)
		return 0;
	if (bpf_get_attach_cookie(ctx) == ASSIST_COOKIE_ENTRY) {
		__u32 idx;
		struct slot *s = find_slot(g, &idx);
		if (!s)
			return 0;
		struct assist a = {
			.ts = bpf_ktime_get_ns(),
			.gen = *(volatile __u64 *)&s->gen,
			.slot = idx,
		};
		bpf_map_update_elem(&assists, &g, &a, BPF_ANY);
		return 0;
	}
	struct assist *a = bpf_map_lookup_elem(&assists, &g);
	if (!a)
		return 0;
	__u64 d = bpf_ktime_get_ns() - a->ts;
	struct slot *s = slot_at(a->slot, g, a->gen);
	bpf_map_delete_elem(&assists, &g);
	if (!s)
		return 0;
	__sync_fetch_and_add(&s->assist_ns, d);
	__sync_fetch_and_add(&s->assist_count, 1);
	return 0;
}
