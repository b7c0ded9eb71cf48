// Package verdict is an instrumentation library for Go services that not only
// shows what happened but judges why.
//
// A service imports [github.com/verdict-obs/verdict/tracer] and calls
// tracer.Start in main. From then on:
//
//   - the OpenTelemetry SDK is wired (resource, traces, metrics, logs) with
//     exporters chosen by option or by the standard OTEL_* environment
//     variables, and log/slog records carry the trace_id and span_id of the
//     span in their context;
//   - [github.com/verdict-obs/verdict/middleware] wraps net/http and gRPC
//     (server and client) and [github.com/verdict-obs/verdict/sqlxprobe] wraps
//     sqlx, each producing spans and RED metrics that follow the OpenTelemetry
//     semantic conventions, plus what those conventions do not cover: client
//     phase breakdowns, pool wait time, query fingerprints;
//   - [github.com/verdict-obs/verdict/probes] read the Go runtime (GC pauses,
//     heap growth, allocation hotspots, goroutine blocking causes) without
//     stopping the world;
//   - when the process has the privileges, [github.com/verdict-obs/verdict/bpf]
//     attaches eBPF programs and uprobes to the process itself so that the
//     time a request spends in the kernel (syscalls, off-CPU, run-queue wait,
//     socket waits, stop-the-world pauses) lands on the same span, under the
//     same trace ID;
//   - the judge ([github.com/verdict-obs/verdict/tracer/judge]) reads the
//     fused signals about once a second and draws verdicts: what is wrong,
//     what to do, with the evidence and example traces
//     ([github.com/verdict-obs/verdict/tracer/tracertest] brings it to go test).
//
// # How a request flows
//
// Instrumentation only talks to the OpenTelemetry API; it works under any SDK
// setup. The tracer owns the SDK and puts a span pipeline in front of the
// exporters: when a span starts, hooks (internal/spanhook) publish "this
// goroutine now works for this span" (for the kernel side); when it ends,
// the same hooks add what they measured meanwhile (GC pauses inside the
// span, kernel time, socket waits) as attributes, and the judge's span
// stage names the cause of a failed or slow span, before the span reaches
// the exporter.
//
// # Layering
//
//	tracer      front door: options, SDK wiring, span pipeline, Status,
//	            the judge (tracer/judge, its rules in tracer/judge/rules)
//	middleware  net/http and gRPC            (OTel API + internal only)
//	sqlxprobe   sqlx / database/sql          (OTel API + internal only)
//	probes      runtime and eBPF-backed signal sources (the eBPF composite
//	            too), one Probe interface, each with an immutable Snapshot
//	bpf         kernel mechanism only: load, attach, maps, readers, symbols
//	internal    semconv (every metric/attribute name), spanhook, ...
//	dashboards  Grafana dashboards, Prometheus recording and alerting rules,
//	            the runbook (validated in the nested module dashboards/validate)
//
// Only bpf imports github.com/cilium/ebpf and golang.org/x/sys/unix; only
// tracer (and examples, and internal test helpers) imports the
// OpenTelemetry SDK; the tracer reaches bpf only through
// the probes (probes/ebpf). TestLayers checks these rules.
package verdict
