// Package tracer is verdict's front door: tracer.Start wires the
// OpenTelemetry SDK, the exporters, the span pipeline, the probes and the
// trace-correlated logger; Shutdown flushes and releases all of it.
//
// # Configuration
//
// [Start] takes functional options ([WithServiceName], [WithSpanExporter],
// [WithPrometheus], ...) and reads the standard environment variables once:
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_SDK_DISABLED,
// OTEL_TRACES_EXPORTER, OTEL_METRICS_EXPORTER, OTEL_LOGS_EXPORTER (otlp,
// prometheus for metrics, console or stdout, none; otlp by default),
// OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_EXPORTER_OTLP_PROTOCOL (grpc or
// http/protobuf, the default) with their per-signal variants,
// OTEL_EXPORTER_PROMETHEUS_HOST/PORT, OTEL_TRACES_SAMPLER and
// OTEL_TRACES_SAMPLER_ARG. The OTLP exporters also honour their own
// variables (headers, TLS, timeouts, compression). Options win over the
// environment. Invalid environment values fall back to defaults with a
// warning; invalid options make Start fail.
//
// By default the providers and the W3C tracecontext+baggage propagator
// become the OpenTelemetry globals, so instrumentation written against the
// OpenTelemetry API (verdict's middleware, otelhttp, ...) uses them;
// [WithoutGlobals] leaves the globals alone and the accessors
// ([Tracer.TracerProvider], [Tracer.MeterProvider], [Tracer.Propagator])
// hand them out explicitly.
//
// # Never harming the host
//
// Spans and log records are exported through a bounded queue (2048 items)
// drained by one goroutine in batches of 512. Ending a span or logging never
// blocks on an exporter: when the queue is full, the item is dropped and
// counted. After a failed export the pipeline backs off (1 s doubling to
// 30 s) and takes nothing from the queue meanwhile, so a collector that is
// down costs an atomic increment per span, not encoding work. Every drop is
// counted in the verdict.telemetry.dropped metric (attributes verdict.signal
// and verdict.reason: queue_full, export_failed, shutdown), reported once
// through the diagnostics logger ([WithLogger]), shown in [Tracer.Status],
// and named in the error [Tracer.Shutdown] returns ([*DropError], matched
// by errors.Is(err, [ErrDropped])). Shutdown honours its context's deadline:
// exports still in flight are canceled when it passes.
//
// # Logging
//
// [Tracer.Logger] returns a *slog.Logger whose records fan out to a console
// handler (text or JSON on stderr, [WithConsoleFormat]), to the
// OpenTelemetry logs pipeline (through the otelslog bridge) and to the
// handlers of [WithLogHandler]. Records logged with a context that carries a
// span get trace_id and span_id at their top level. [WithSlogDefault] makes
// it the slog default until Shutdown.
//
// # Status
//
// [Tracer.Status] says what runs, what is off and why, for people
// ([Status.String], one line per component: "logs: off:
// OTEL_LOGS_EXPORTER=none") and for code ([Status.Components]).
//
// # Span hooks and probes
//
// Signal sources that enrich spans (runtime GC attribution, eBPF kernel
// time) implement the internal spanhook.Hook contract. When hooks exist, the
// tracer registers one span processor that calls every hook for every
// sampled span, in OnStart on the starting goroutine and in OnEnd, and hands
// the exporters a span whose Attributes include what the hooks added. A
// hook that adds nothing costs no allocation. Probes given with [WithProbes]
// are started by Start, shown in Status, and stopped by Shutdown; a probe
// that also implements spanhook.Hook is registered as a hook once started.
//
// # Built-in probes
//
// Two probes run without being asked:
//
//   - "runtime" (package probes/goruntime, [WithRuntimeOptions],
//     [WithoutRuntimeProbe]): Go runtime metrics without stopping the world,
//     GC pauses attributed to the spans they interrupted
//     (verdict.gc.pause.*), allocation hotspots, goroutine blocking causes;
//     [Tracer.Runtime] hands out its Snapshot and flight recorder. With it,
//     the readers verdict builds also carry go.schedule.duration.
//   - "ebpf" ([WithEBPF], VERDICT_EBPF=auto|off|required): the kernel-time
//     probe (probes/kernel: verdict.kernel.* on every span) and the
//     stop-the-world probe (probes/gcstw: verdict.gc.stw.*), behind one
//     preflight. [EBPFAuto], the default, degrades with one log line and the
//     reason in Status ("ebpf: off: missing CAP_BPF and CAP_PERFMON ...");
//     [EBPFRequired] makes Start fail with that reason (errors.Is
//     os.ErrPermission or errors.ErrUnsupported); [EBPFOff] never touches
//     the kernel.
package tracer
