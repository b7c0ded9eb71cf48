//go:build ignore

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Test program: counts uprobe hits, split into own process and others. */
#include "../../../../include/verdict_uprobe.h"

char __license[] SEC("license") = "Dual BSD/GPL";

volatile const __u32 target_tgid = 0;
__u64 hits = 0;
__u64 foreign = 0;
__u64 cookie_hits[4] = {}; /* own hits by attach cookie (0..3; others in 3) */

SEC("uprobe")
int count(struct pt_regs *ctx)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid) {
		__sync_fetch_and_add(&foreign, 1);
		return 0;
	}
	__sync_fetch_and_add(&hits, 1);
	__u64 c = bpf_get_attach_cookie(ctx);
	if (c > 3)
		c = 3;
	__sync_fetch_and_add(&cookie_hits[c], 1);
	return 0;
}
