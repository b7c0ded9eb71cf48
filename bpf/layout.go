//go:build linux && (386 || amd64 || arm64)

package bpf

// slot and stats are the kernel's struct slot and struct stats (sched.c) as
// bpf2go generates them (-type slot -type stats): user space reads and
// writes the memory the kernel programs use through these very types, so a
// field reordered in sched.c moves here too, and one renamed or removed
// breaks the build.
type (
	slot  = schedSlot
	stats = schedStats
)
