// Package tracer is verdict's front door: tracer.Start wires the
// OpenTelemetry SDK, the exporters, the span pipeline, the probes and the
// trace-correlated logger; Shutdown flushes and releases all of it.
//
// # Configuration
//
// [Start] takes functional options ([WithServiceName], [WithSpanExporter],
// [WithPrometheus], ...) and reads the standard OTEL_* environment variables
// once: service and resource, SDK on/off, exporters per signal, the OTLP
// exporter settings (endpoint, protocol, headers, TLS files, compression,
// timeout; general and per signal), propagators (OTEL_PROPAGATORS: b3,
// jaeger, xray, ... through the contrib autoprop package), sampler, batch
// processor settings (OTEL_BSP_*, OTEL_BLRP_*, which size verdict's own
// bounded batcher), attribute, span and log record limits, the metric
// export interval, exemplar filter, temporality and histogram preferences,
// the Prometheus host and port, and OTEL_LOG_LEVEL for verdict's
// diagnostics. The README's Configuration section lists each with its
// default, and the few that are not supported with the reason. Options win
// over the environment. An invalid value is reported through the
// diagnostics logger, naming the variable, and ignored, as the
// specification asks; OTLP certificate or key files that cannot be used and
// invalid options make Start fail.
//
// An OTLP endpoint that refuses a whole signal (gRPC Unimplemented, HTTP
// 404: a traces-only backend such as Jaeger, for metrics and logs) is not
// treated as an outage: verdict logs it once, [Tracer.Status] shows it, and
// that signal is no longer sent; what is not sent is counted as dropped
// with reason signal_unsupported.
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
// Spans and log records are exported through a bounded queue (2048 items
// by default; OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BLRP_MAX_QUEUE_SIZE) drained by
// one goroutine in batches of 512. Ending a span or logging never
// blocks on an exporter: when the queue is full, the item is dropped and
// counted. After a failed export the pipeline backs off (1 s doubling to
// 30 s) and takes nothing from the queue meanwhile, so a collector that is
// down costs an atomic increment per span, not encoding work. Every drop is
// counted in the verdict.telemetry.dropped metric (attributes verdict.signal
// and verdict.reason: queue_full, export_failed, shutdown,
// signal_unsupported), reported once
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
// time) implement the internal spanhook.Hook contract and opt in through
// spanhook.Provider: once the probe started, its SpanHook method hands the
// tracer the hook. When hooks exist, the tracer registers one span
// processor that calls every hook for every sampled span, in OnStart on the
// starting goroutine and in OnEnd, and hands the exporters a span whose
// Attributes include what the hooks added. A hook that adds nothing costs no
// allocation. Probes given with [WithProbes] are started by Start, shown in
// Status, and stopped by Shutdown; they are not span hooks, whatever
// methods they have.
//
// # Built-in probes
//
// These probes run without being asked, in this order:
//
//   - "runtime" (package probes/goruntime, [WithRuntimeOptions],
//     [WithoutRuntimeProbe]): Go runtime metrics without stopping the world
//     (but for the blocking analysis's two short stops), allocation
//     hotspots, goroutine blocking causes; [Tracer.Runtime] hands out its
//     Snapshot and flight recorder. With it, the readers verdict builds
//     also carry go.schedule.duration.
//   - "ebpf" (package probes/ebpf, [WithEBPF], VERDICT_EBPF=auto|off|required):
//     the kernel-time probe (probes/kernel: verdict.kernel.* on every span,
//     histograms once per request by span.name) and the stop-the-world
//     probe (probes/gcstw) as one probe; [Tracer.EBPF] hands out both parts
//     and their Snapshots. With eBPF off, Status still has its line
//     ("ebpf: off: disabled by VERDICT_EBPF=off").
//   - the named probes "gc" (package probes/gc, [Tracer.GC]: verdict.gc.pause.*,
//     verdict.gc.mark.duration and verdict.gc.assist.duration per span, exact
//     with eBPF, the runtime's pauses without) and "sched" (package
//     probes/sched, [Tracer.Sched]: run-queue wait against GOMAXPROCS and
//     the cgroup's CPU quota, throttling). They read the eBPF probe's parts
//     and fall back to user space when eBPF is off, degraded, with the
//     reason in Status and in each span's verdict.unmeasured (one
//     attribute: "<groups>: <reason>", several joined with "; "). With both
//     the runtime probe and eBPF off they are shown off.
//     [EBPFAuto], the default, degrades with one log line and the reason in
//     Status ("ebpf: off: missing CAP_BPF and CAP_PERFMON ...");
//     [EBPFRequired] makes Start fail with that reason (errors.Is
//     os.ErrPermission or errors.ErrUnsupported); [EBPFOff] never touches
//     the kernel. Its third part, "sockets" (package bpf/sock), watches the
//     process's TCP sockets for the four probes below.
//   - "nethttp", "grpc", "sql" (packages probes/nethttp, probes/grpc,
//     probes/sql): the socket side of the middleware's HTTP and gRPC spans
//     and of sqlxprobe's spans, from the connection or goroutine the
//     instrumentation tells them: time blocked reading and writing the
//     socket, bytes, TCP retransmissions and resets during the span, the
//     span's own time (verdict.socket.*, verdict.tcp.*, verdict.self.duration);
//     a database call splits into pool wait, wire and client time.
//     [Tracer.NetHTTP], [Tracer.GRPC] and [Tracer.SQL] hand out their
//     Snapshots.
//   - "tcp" (package probes/tcp): the TCP health of the process per peer
//     (refused and failed connects, resets, retransmissions) as metrics with
//     bounded cardinality and a Snapshot ([Tracer.TCP]).
//
// Without eBPF the socket probes run degraded and Status says why; their
// spans keep the instrumentation's fields and carry one verdict.unmeasured
// attribute ("socket,tcp: eBPF off: missing CAP_BPF ..."). When several
// probes cannot measure a span, the span pipeline joins their reasons into
// that one attribute.
//
// Database pools need no probe: every pool opened with package sqlxprobe
// registers itself, and [Tracer.Pools] returns their snapshots (the pool
// over the last minute, wait rates).
//
// # Metrics
//
// Duration histograms of HTTP, RPC and database calls have 23 boundaries
// from 100 µs to 10 s by default, a superset of the semantic conventions'
// advice (which starts at 5 ms, too coarse for Go services answering in a
// few hundred microseconds); [WithHistograms] brings the advice back or
// switches to base-2 exponential histograms (native histograms in
// Prometheus, which 2.x reads only with --enable-feature=native-histograms).
//
// The readers verdict builds carry, besides the instruments' metrics,
// go.schedule.duration (16 bounded buckets, [NewRuntimeProducer]) and the
// process metrics: process_cpu_seconds_total, process_resident_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds, ... on the
// Prometheus endpoint (client_golang's process collector), and
// process.cpu.time, process.memory.usage, process.memory.virtual,
// process.unix.file_descriptor.count and process.uptime for OTLP and console.
// Readers given with [WithMetricReader] are the caller's: they get
// go.schedule.duration when built with [NewRuntimeProducer], and no process
// metrics (the caller's registry or collector has its own).
// # The judge
//
// With the judge on (the default; [WithoutJudge] turns it off), verdict
// concludes as well as shows. Every ended span passes a span stage that
// keeps per-operation, per-peer, per-query and per-pool windows with
// latency baselines, marks spans anomalous (verdict.anomaly,
// verdict.anomaly.reason: above 3x the operation's baseline P99, on an
// upward trend, in a concurrency surge) and gives every failed or anomalous
// span verdict.cause and verdict.cause.share: the component that dominated
// it (db.pool_wait, http.client.server_wait, dns, connect, tls,
// kernel.runqueue, gc.stw, ...), a local root learning its children's. About
// once a second the rules of package tracer/judge/rules (and [WithRule]'s)
// read the fused [Snapshot] and draw a [Verdict]: one per incident, logged
// with an exemplar trace_id, counted in verdict.verdicts, added as an event
// to the open requests it affects, saved with the flight record when the
// runtime probe's flight recorder runs, handed to [WithVerdictHandler] and
// listed by [Tracer.Verdicts].
//
// Sampling changes with the judge: the configured sampler still decides
// what is exported and what the traceparent propagates, but spans it would
// drop are recorded, so the judge sees all traffic, and wait in a bounded
// buffer until their local root ends; a local trace with a failed or
// anomalous span is then exported whole (with the sampled flag set on the
// exported spans), any other discarded. What the buffer cannot hold is
// counted in verdict.telemetry.dropped (reason tail_buffer_full) and in
// Status. With the default sampler nothing waits.
package tracer
