// Package stw observes the Go runtime's stop-the-world pauses of the own
// process, exactly, with two uprobes: one at the entry of
// runtime.stopTheWorldWithSema and one on every RET of
// runtime.procresize, which returns when startTheWorldWithSema hands the
// processors back (see [SymbolEnd]). Both are served by one program, told apart by
// attach cookies, so that where the kernel has uprobe_multi links (Linux
// 6.6+) they share one link and [Tracer.Close] waits for one RCU grace
// period (~25-50 ms here) instead of ~200 ms.
//
// Each completed pause becomes a [Window] with CLOCK_MONOTONIC start and end
// times. Windows cross from the kernel through a BPF ring buffer that is
// written without waking the reader; [Tracer.Drain] reads what is there
// without blocking, so the owner drains on a timer (and whenever
// [Tracer.Pending] says there is something to read).
package stw
