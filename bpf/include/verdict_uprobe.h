/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Minimal definitions for verdict's uprobe programs: fixed-width types,
 * section and map macros, the few helpers used, and the user register
 * layout that a uprobe program receives as its context. Kept here instead of
 * vmlinux.h/libbpf headers so the programs build with clang alone and the
 * output does not depend on the machine's kernel headers.
 */
#ifndef VERDICT_UPROBE_H
#define VERDICT_UPROBE_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef int __s32;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))

#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

enum {
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_RB_NO_WAKEUP = (1ULL << 0),
	BPF_RB_FORCE_WAKEUP = (1ULL << 1),
};

/* Helper numbers from include/uapi/linux/bpf.h (stable ABI). */
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
/* The cookie given for the probed instruction (uprobe_multi or perf link). */
static __u64 (*bpf_get_attach_cookie)(void *ctx) = (void *)174;

/*
 * struct pt_regs as seen by a uprobe program: the user registers at the
 * probed instruction. Layouts from arch/{x86,arm64}/include/asm/ptrace.h;
 * only the fields read here matter, the rest keep the offsets right.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
/* Go's amd64 register ABI: integer arguments in RAX, RBX, RCX, RDI, RSI, ... */
#define GO_PARAM1(r) ((r)->ax)
#define GO_PARAM2(r) ((r)->bx)
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	unsigned long regs[31];
	unsigned long sp, pc, pstate;
};
/* Go's arm64 register ABI: integer arguments in R0, R1, ... */
#define GO_PARAM1(r) ((r)->regs[0])
#define GO_PARAM2(r) ((r)->regs[1])
#else
#error "unsupported target architecture: build with bpf2go -target amd64,arm64"
#endif

#endif /* VERDICT_UPROBE_H */
