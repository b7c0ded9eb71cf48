// Package stw observes the Go runtime's stop-the-world pauses of the own
// process, exactly, with two uprobes: one at the entry of
// runtime.stopTheWorldWithSema and one on every RET of
// runtime.startTheWorldWithSema.
//
// Each completed pause becomes a [Window] with CLOCK_MONOTONIC start and end
// times. Windows cross from the kernel through a BPF ring buffer that is
// written without waking the reader; [Tracer.Drain] reads what is there
// without blocking, so the owner drains on a timer (and whenever
// [Tracer.Pending] says there is something to read).
package stw
