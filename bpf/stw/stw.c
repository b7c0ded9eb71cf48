//go:build ignore

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Exact stop-the-world windows of the Go runtime, for one process.
 *
 * One program, stw_probe, sits at the entry of runtime.stopTheWorldWithSema
 * (on the instruction after the stack check, which the kernel emulates;
 * attach cookie STW_COOKIE_BEGIN) and on every RET of
 * runtime.procresize, which hands the processors back when the world
 * restarts (cookie STW_COOKIE_END). One program for
 * both lets user space attach every instruction with a single uprobe_multi
 * link: detaching then waits for one RCU tasks-trace grace period instead
 * of several per perf-event uprobe (~100 ms each here). The runtime
 * serialises stops (worldsema), so one pending window is enough. Each
 * completed window goes to a ring buffer without waking the reader; user
 * space drains it on a timer. Nothing is ever blocked or retried: a full
 * ring buffer is counted in `lost`.
 */
#include "../include/verdict_uprobe.h"

char __license[] SEC("license") = "Dual BSD/GPL";

struct stw_event {
	__u64 start_ns; /* CLOCK_MONOTONIC, when the stop began */
	__u64 end_ns;   /* CLOCK_MONOTONIC, when the world was running again */
	__u32 reason;   /* runtime.stwReason */
	__u32 pad;
};

/* Makes the type visible in BTF for bpf2go -type. */
const struct stw_event *unused_stw_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} stw_events SEC(".maps");

/* Set by the loader: the only process whose events count. */
volatile const __u32 target_tgid = 0;

__u64 pending_start = 0;
__u32 pending_reason = 0;
__u64 windows = 0;   /* completed windows */
__u64 lost = 0;      /* completed windows dropped: ring buffer full */
__u64 unmatched = 0; /* an end without a begin (probe attached mid-stop) */
__u64 foreign = 0;   /* hits from another process (must stay 0: PID filter) */

static __always_inline int ours(void)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid)
		return 1;
	__sync_fetch_and_add(&foreign, 1);
	return 0;
}

/* Attach cookies; stw_linux.go has the same values. */
#define STW_COOKIE_BEGIN 1
#define STW_COOKIE_END 2

static __always_inline int stw_begin(struct pt_regs *ctx)
{
	pending_reason = (__u32)(GO_PARAM1(ctx) & 0xff); /* reason stwReason (uint8) */
	pending_start = bpf_ktime_get_ns();
	return 0;
}

static __always_inline int stw_end(void)
{
	__u64 now = bpf_ktime_get_ns();
	__u64 start = pending_start;
	if (start == 0) {
		__sync_fetch_and_add(&unmatched, 1);
		return 0;
	}
	pending_start = 0;
	__sync_fetch_and_add(&windows, 1);

	struct stw_event *e = bpf_ringbuf_reserve(&stw_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost, 1);
		return 0;
	}
	e->start_ns = start;
	e->end_ns = now;
	e->reason = pending_reason;
	e->pad = 0;
	bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("uprobe")
int stw_probe(struct pt_regs *ctx)
{
	if (!ours())
		return 0;
	switch (bpf_get_attach_cookie(ctx)) {
	case STW_COOKIE_BEGIN:
		return stw_begin(ctx);
	case STW_COOKIE_END:
		return stw_end();
	}
	return 0;
}
