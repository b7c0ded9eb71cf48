// Package tracer is verdict's front door: tracer.Start wires the
// OpenTelemetry SDK, the exporters, the span pipeline, the probes and the
// trace-correlated logger; Shutdown flushes and releases all of it.
package tracer
