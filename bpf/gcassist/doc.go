// Package gcassist measures, per span, the time the span's own goroutine
// spent helping the garbage collector: GC assists, which the runtime makes
// a goroutine do when it allocates while the GC is marking, in proportion
// to what it allocates (runtime.gcAssistAlloc, including the time parked
// waiting for assist credit).
//
// [Attach] puts one program of a loaded [bpf.Timing] on the entry of
// runtime.gcAssistAlloc (an instruction the kernel emulates) and on every
// RET of it (never a uretprobe), with the PID filter, through package
// bpf/internal/uprobe. The program adds each assist's time to the slot of
// the goroutine's open span, so [bpf.Counters] of the span (GCAssist,
// GCAssists) carry it, with no system call at span end.
//
// Cost: an assist is a slow path of allocation (a goroutine in debt to the
// GC, a few times per GC cycle per allocating goroutine); each call then
// pays two uprobe hits, the entry emulated (~1 µs here) and the RET
// single-stepped (~10 µs). A service that allocates steadily calls it on
// many requests of every mark phase, mostly to take background credit
// without assisting, so the probes can cost far more than the assists:
// package probes/kernel attaches them only while the runtime's assist
// share is worth measuring (kernel.WithGCAssistThreshold). Attach clears
// entries left by calls whose return was not seen while detached.
package gcassist
