// Package gcstw measures the Go runtime's stop-the-world pauses exactly, from
// the kernel, and attributes them to the spans they interrupted.
//
// Two uprobes on the own executable (entry of runtime.stopTheWorldWithSema,
// every RET of runtime.procresize, where the world restarts; see package
// [github.com/verdict-obs/verdict/bpf/stw]) record each pause as a
// [start, end] window. The windows are drained from a BPF ring buffer on a
// timer, and whenever a span ends while unread windows wait, into a bounded
// ring in memory. [Probe.SpanEnd] then adds to the span:
//
//   - verdict.gc.pause.duration: seconds of the span's duration during which
//     the world was stopped (only the overlapping part of each window);
//   - verdict.gc.pause.count: how many pauses overlapped the span.
//
// Under the tracer, package probes/gc reads [Probe.Overlap] (pauses, GC
// pauses and the GC mark phases inside a span) and gives spans their GC
// figures; the pause histogram verdict.gc.pause.duration (with the
// reason) is recorded here.
//
// Spans that no pause overlapped get no attributes. Every stop counts, not
// only those of the garbage collector: a ReadMemStats or GOMAXPROCS stop
// pauses the request just the same (the pause-length histogram carries the
// reason).
//
// [Probe.Snapshot] gives every pause since Start (count, total, longest),
// the pauses of the last window, the most recent ones and the losses.
//
// The probe needs root or CAP_BPF+CAP_PERFMON; without them [Probe.Start]
// returns an error wrapping os.ErrPermission or bpf.ErrNotSupported and
// [Probe.Status] says why. Until Start succeeds and after Shutdown, SpanEnd
// adds nothing.
//
// Cost: per request, none measurable (BenchmarkHTTPRequest: ~1.0x with and
// without the probe); the uprobes fire only at stop-the-world pauses. Start
// and Shutdown take tens of milliseconds each: Shutdown waits for the
// kernel to detach the uprobes (one RCU grace period).
package gcstw
