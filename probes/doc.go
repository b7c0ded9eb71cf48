// Package probes holds verdict's signal sources behind one [Probe] interface:
// runtime probes that read the Go runtime without stopping the world, and
// eBPF-backed probes that measure the process from the kernel side.
//
// Each probe keeps an immutable Snapshot of what it measured (see
// goruntime.Snapshot, kernel.Snapshot, gcstw.Snapshot); the tracer hands the
// running probes out (tracer.Tracer.Runtime, tracer.Tracer.EBPF).
//
// The tracer starts the probes it is configured with, applies each probe's
// [FailurePolicy] when one cannot start, shows every probe's [Status], and
// shuts them down on Shutdown.
package probes
