// Package goruntime is verdict's Go runtime probe: it measures GC pauses,
// heap growth, allocation hotspots, scheduler latency and goroutine blocking
// causes without privileges and without stopping the world for metrics.
//
// A [Probe] built by [New] implements [probes.Probe] and spanhook.Hook:
//
//   - Metrics: one preallocated []metrics.Sample is re-read on each
//     collection (runtime.ReadMemStats is never called). The OpenTelemetry
//     Go runtime semantic-convention names are used where they exist
//     (go.memory.used, go.memory.limit, go.memory.allocated,
//     go.memory.allocations, go.memory.gc.goal, go.goroutine.count,
//     go.processor.limit, go.config.gogc); verdict.go.* names cover the
//     rest: the GC pause histogram verdict.go.gc.pause.duration, GC cycles,
//     live heap, heap growth rate, allocation rate, GC CPU fraction, mutex
//     wait time, scheduler latency quantiles, blocked goroutines per class
//     and leak suspects. Instruments come from the MeterProvider given with
//     [WithMeterProvider] (the global one by default).
//   - GC pause attribution: [Probe.SpanEnd] adds verdict.gc.pause.duration
//     and verdict.gc.pause.count to spans that overlapped stop-the-world GC
//     pauses, from a lock-free cache of the runtime's pause history.
//   - [Probe.Snapshot] returns the latest values and rates together with the
//     latest allocation-hotspot ([Hotspots]) and goroutine-blocking
//     ([Blocking]) analyses; it is what the judge reads.
//   - The flight recorder ([WithFlightRecorder]) keeps the last seconds of
//     execution trace; [Probe.SaveFlightRecord] writes them to a file.
//
// Runtime settings (block and mutex profile rates) change only with
// [WithBlockProfileRate] and [WithMutexProfileFraction] and are restored on
// Shutdown.
package goruntime
