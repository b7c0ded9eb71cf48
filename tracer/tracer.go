package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	slogmulti "github.com/samber/slog-multi"
	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	logglobal "go.opentelemetry.io/otel/log/global"
	lognoop "go.opentelemetry.io/otel/log/noop"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	otelsemconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/verdict-obs/verdict/internal/netspan"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/gc"
	"github.com/verdict-obs/verdict/probes/goruntime"
	grpcprobe "github.com/verdict-obs/verdict/probes/grpc"
	"github.com/verdict-obs/verdict/probes/nethttp"
	"github.com/verdict-obs/verdict/probes/sched"
	sqlprobe "github.com/verdict-obs/verdict/probes/sql"
	"github.com/verdict-obs/verdict/probes/tcp"
)

// Tracer is a running verdict setup: the OpenTelemetry providers, their
// exporters, the span pipeline, the probes and the trace-correlated logger.
// Its methods are safe for concurrent use, and safe on a nil *Tracer (they
// then act as no-ops), so a deferred Shutdown cannot panic when Start
// failed. Create it with [Start]; release it with [Tracer.Shutdown].
type Tracer struct {
	service  string
	disabled bool
	globals  bool

	tp *sdktrace.TracerProvider // nil when disabled
	mp *sdkmetric.MeterProvider
	lp *sdklog.LoggerProvider

	tpAPI trace.TracerProvider
	mpAPI metric.MeterProvider
	lpAPI otellog.LoggerProvider
	prop  propagation.TextMapPropagator
	// propNone: OTEL_PROPAGATORS=none.
	propNone bool

	logger *slog.Logger
	diag   *slog.Logger

	signals []*signalState
	sampler string
	probes  []*probeState
	runtime *goruntime.Probe
	ebpf    *ebpf.Probe
	judge   *judgeState // nil when WithoutJudge or the SDK is disabled
	gc      *gc.Probe
	sched   *sched.Probe
	nethttp *nethttp.Probe
	grpc    *grpcprobe.Probe
	sql     *sqlprobe.Probe
	tcp     *tcp.Probe

	closers  []func(context.Context) error
	prevSlog *slog.Logger
	shut     atomic.Bool
	started  time.Time
}

type signalState struct {
	name    string
	details []string
	off     string
	stats   []*pipeStats
	guards  []*guardedProcessor // WithSpanProcessor's (traces only)
}

type probeState struct {
	entry    probeEntry
	name     string // the probe's Name, read once
	started  bool
	startErr error
	panicked atomic.Bool // a panic was reported (once per probe)
}

// setup carries the state of one Start call.
type setup struct {
	cfg    config
	env    envConfig
	t      *Tracer
	stats  []*pipeStats
	warned map[string]bool
}

// warn reports a configuration problem once per Start (a general variable
// is seen by the three signals).
func (s *setup) warn(msg string) {
	if s.warned[msg] {
		return
	}
	if s.warned == nil {
		s.warned = map[string]bool{}
	}
	s.warned[msg] = true
	s.t.diag.Warn("verdict: " + msg)
}

func (s *setup) newStats(signal, unit, desc string) *pipeStats {
	st := &pipeStats{signal: signal, unit: unit, desc: desc, diag: s.t.diag}
	s.stats = append(s.stats, st)
	return st
}

// Start wires the OpenTelemetry SDK and verdict's pipeline and returns the
// running Tracer. Configuration comes from opts and from the standard
// OTEL_* environment variables, read once here; options win.
//
// Unless [WithoutGlobals] is given, the providers and the propagator become
// the OpenTelemetry globals. With OTEL_SDK_DISABLED=true every provider is a
// no-op and only the console logger and the probes run.
//
// Start returns an error for invalid options, exporters that cannot be
// created (including OTLP certificate or key files that cannot be used), a
// Prometheus address that cannot be listened on, and probes with
// [probes.FailClosed] that cannot start; it then releases what it created.
// Other invalid environment values are reported through the diagnostics
// logger and ignored (the default applies), as the OpenTelemetry
// specification asks. The README's Configuration section lists every
// variable.
func Start(ctx context.Context, opts ...Option) (*Tracer, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := newConfig(opts)
	if p := cfg.otlpProtocol; p != "" && p != ProtocolGRPC && p != ProtocolHTTPProtobuf && p != ProtocolHTTPJSON {
		return nil, fmt.Errorf("tracer: WithOTLPProtocol(%q): use %q, %q or %q", p, ProtocolGRPC, ProtocolHTTPProtobuf, ProtocolHTTPJSON)
	}
	if cfg.consoleFormat < ConsoleText || cfg.consoleFormat > ConsoleNone {
		return nil, fmt.Errorf("tracer: WithConsoleFormat(%v): unknown format", cfg.consoleFormat)
	}
	if cfg.histograms < HistogramsFine || cfg.histograms > HistogramsExponential {
		return nil, fmt.Errorf("tracer: WithHistograms(%v): unknown aggregation", cfg.histograms)
	}
	t := &Tracer{globals: cfg.globals, started: time.Now()}
	s := &setup{cfg: cfg, env: readEnv(), t: t}

	// OTEL_LOG_LEVEL sets the level of verdict's diagnostics (wherever
	// WithLogger sends them); the application logger keeps WithLogLevel.
	diagLevel := s.env.diagLevel()
	local := localHandler(cfg, minLevel{cfg.logLevel, diagLevel})
	diag := cfg.diag
	if diag == nil {
		diag = slog.New(local)
	}
	t.diag = slog.New(&levelHandler{level: diagLevel, next: diag.Handler()})
	sampler, samplerDesc := s.env.samplerFromEnv()
	if cfg.sampler != nil {
		sampler, samplerDesc = cfg.sampler, cfg.sampler.Description()
	}
	t.sampler = samplerDesc
	for _, w := range s.env.warnings {
		s.warn(w)
	}
	t.prop = cfg.propagator
	if t.prop == nil {
		t.prop, t.propNone = s.propagatorFromEnv()
	}
	s.env.spanBatch.resolved = resolveBatch(cfg.spanBatch, s.env.spanBatch, cfg.batchOpt, "OTEL_BSP_", maxSpanQueue, s.warn)
	s.env.logBatch.resolved = resolveBatch(cfg.logBatch, s.env.logBatch, cfg.batchOpt, "OTEL_BLRP_", maxLogQueue, s.warn)

	if s.env.disabled {
		t.disabled = true
		t.service = cfg.serviceName
		if t.service == "" {
			t.service = os.Getenv("OTEL_SERVICE_NAME")
		}
		t.tpAPI, t.mpAPI, t.lpAPI = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider(), lognoop.NewLoggerProvider()
		t.logger = slog.New(&levelHandler{level: cfg.logLevel, next: local})
		if cfg.globals {
			// OTEL_SDK_DISABLED leaves the propagators on (specification).
			otel.SetTextMapPropagator(t.prop)
		}
		if _, err := s.startProbes(ctx); err != nil {
			_ = t.Shutdown(ctx)
			return nil, fmt.Errorf("tracer: %w", err)
		}
		t.setSlogDefault(cfg)
		return t, nil
	}

	if err := s.build(ctx, local, sampler); err != nil {
		_ = t.Shutdown(ctx)
		return nil, fmt.Errorf("tracer: %w", err)
	}
	t.setSlogDefault(cfg)
	return t, nil
}

// localHandler is the console handler plus WithLogHandler's, behind the
// trace correlation handler.
func localHandler(cfg config, level slog.Leveler) slog.Handler {
	var hs []slog.Handler
	ho := &slog.HandlerOptions{Level: level}
	switch cfg.consoleFormat {
	case ConsoleText:
		hs = append(hs, slog.NewTextHandler(cfg.consoleWriter, ho))
	case ConsoleJSON:
		hs = append(hs, slog.NewJSONHandler(cfg.consoleWriter, ho))
	}
	hs = append(hs, cfg.logHandlers...)
	if len(hs) == 0 {
		return slog.DiscardHandler
	}
	return newTraceHandler(slogmulti.Fanout(hs...))
}

func (t *Tracer) setSlogDefault(cfg config) {
	if cfg.slogDefault {
		t.prevSlog = slog.Default()
		slog.SetDefault(t.logger)
	}
}

func (s *setup) build(ctx context.Context, local slog.Handler, sampler sdktrace.Sampler) error {
	t, cfg := s.t, s.cfg
	if cfg.globals {
		// First, so that errors the SDK reports while being built reach
		// the diagnostics logger too.
		otel.SetErrorHandler(&diagErrorHandler{diag: t.diag})
		otel.SetLogger(otelLogger(t.diag))
	}
	res := s.resource(ctx)
	if v, ok := res.Set().Value(otelsemconv.ServiceNameKey); ok {
		t.service = v.AsString()
	}

	// Metrics first: probes and the self-metric need the meter provider.
	readers, off, err := s.metricReaders(ctx)
	if err != nil {
		return err
	}
	ms := &signalState{name: semconv.SignalMetrics, off: off}
	mopts := append([]sdkmetric.Option{sdkmetric.WithResource(res)}, s.meterViewOptions()...)
	for _, r := range readers {
		mopts = append(mopts, sdkmetric.WithReader(r.reader))
		ms.details = append(ms.details, r.desc)
		if r.stats != nil {
			ms.stats = append(ms.stats, r.stats)
		}
	}
	t.mp = sdkmetric.NewMeterProvider(mopts...)
	t.mpAPI = t.mp

	lexps, off, err := s.logExporters(ctx)
	if err != nil {
		return err
	}
	ls := &signalState{name: semconv.SignalLogs, off: off}
	lopts := []sdklog.LoggerProviderOption{sdklog.WithResource(res),
		sdklog.WithAttributeCountLimit(s.env.logAttrCount), sdklog.WithAttributeValueLengthLimit(s.env.logAttrValueLen)}
	for _, e := range lexps {
		st := s.newStats(semconv.SignalLogs, "records", e.desc)
		lopts = append(lopts, sdklog.WithProcessor(newLogExportProcessor(e.exp, st, exportBound(s.env.logBatch.resolved, e.timeout))))
		ls.details = append(ls.details, e.desc)
		ls.stats = append(ls.stats, st)
	}
	t.lp = sdklog.NewLoggerProvider(lopts...)
	t.lpAPI = t.lp

	hooks, err := s.startProbes(ctx)
	if err != nil {
		return err
	}

	sexps, off, err := s.spanExporters(ctx)
	if err != nil {
		return err
	}
	ts := &signalState{name: semconv.SignalTraces, off: off}
	var next []sdktrace.SpanProcessor
	for _, e := range sexps {
		st := s.newStats(semconv.SignalTraces, "spans", e.desc)
		next = append(next, newSpanExportProcessor(e.exp, st, exportBound(s.env.spanBatch.resolved, e.timeout)))
		ts.details = append(ts.details, e.desc)
		ts.stats = append(ts.stats, st)
	}
	for _, p := range cfg.spanProcessors {
		g := &guardedProcessor{p: p, diag: t.diag}
		next = append(next, g)
		ts.guards = append(ts.guards, g)
		ts.details = append(ts.details, fmt.Sprintf("processor %T", p))
	}
	if len(ts.details) > 0 {
		ts.off = ""
	}
	if !cfg.verdict.off {
		js, err := s.newJudge()
		if err != nil {
			return err
		}
		t.judge = js
		sampler = recordAllSampler{inner: sampler}
	}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler),
		sdktrace.WithRawSpanLimits(s.env.spanLimits)}
	if len(hooks) > 0 || t.judge != nil {
		topts = append(topts, sdktrace.WithSpanProcessor(newSpanPipeline(hooks, next, t.diag, t.judge)))
	} else {
		for _, p := range next {
			topts = append(topts, sdktrace.WithSpanProcessor(p))
		}
	}
	t.tp = sdktrace.NewTracerProvider(topts...)
	t.tpAPI = t.tp
	// The socket probes keep a record per span that this pipeline ends:
	// spans of other providers get none.
	unset := netspan.SetTracerProvider(t.tp)
	t.closers = append(t.closers, func(context.Context) error { unset(); return nil })
	t.signals = []*signalState{ts, ms, ls}

	if err := s.registerSelfMetrics(); err != nil {
		s.warn("self-metrics not registered: " + err.Error())
	}

	if cfg.globals {
		otel.SetTracerProvider(t.tp)
		otel.SetMeterProvider(t.mp)
		logglobal.SetLoggerProvider(t.lp)
		otel.SetTextMapPropagator(t.prop)
	}

	otelH := otelslog.NewHandler(semconv.InstrumentationName, otelslog.WithLoggerProvider(t.lp), otelslog.WithVersion(semconv.Version))
	t.logger = slog.New(&levelHandler{level: cfg.logLevel, next: slogmulti.Fanout(local, otelH)})
	if t.judge != nil { // last: its goroutine logs through t.logger
		if err := t.judge.start(t.mp); err != nil {
			s.warn("judge metrics not registered: " + err.Error())
		}
	}
	return nil
}

func (s *setup) resource(ctx context.Context) *resource.Resource {
	cfg := s.cfg
	attrs := append([]attribute.KeyValue(nil), cfg.resAttrs...)
	if cfg.serviceName != "" {
		attrs = append(attrs, otelsemconv.ServiceName(cfg.serviceName))
	}
	if cfg.serviceVersion != "" {
		attrs = append(attrs, otelsemconv.ServiceVersion(cfg.serviceVersion))
	}
	if cfg.environment != "" {
		attrs = append(attrs, otelsemconv.DeploymentEnvironmentNameKey.String(cfg.environment))
	}
	// Later detectors win: defaults, then detection, then the environment,
	// then options.
	res, err := resource.New(ctx,
		resource.WithService(),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithFromEnv(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		s.warn("resource detection incomplete: " + err.Error())
	}
	return res
}

// startProbes starts the configured probes in order and returns the span
// hooks of those that opted in (spanhook.Provider) and started. A FailClosed
// probe that cannot start fails Start.
func (s *setup) startProbes(ctx context.Context) ([]spanhook.Hook, error) {
	hooks := append([]spanhook.Hook(nil), s.cfg.hooks...)
	builtin, err := s.builtinProbes(s.t.mpAPI)
	if err != nil {
		return nil, err
	}
	entries := append(builtin, s.cfg.probes...)
	for _, e := range entries {
		ps := &probeState{entry: e, name: probeName(e.probe)}
		s.t.probes = append(s.t.probes, ps)
		if e.off != "" {
			continue // shown in Status, never started
		}
		if err := protect("Start", func() error { return e.probe.Start(ctx) }); err != nil {
			ps.startErr = err
			if e.policy == probes.FailClosed {
				return nil, fmt.Errorf("probe %s: %w", ps.name, err)
			}
			if errors.Is(err, errPanicked) {
				ps.reportPanic(s.t.diag, err)
			} else {
				s.warn(fmt.Sprintf("probe %s is off: %v", ps.name, err))
			}
			continue
		}
		ps.started = true
		if hp, ok := e.probe.(spanhook.Provider); ok {
			if h := hp.SpanHook(); h != nil {
				hooks = append(hooks, h)
			}
		}
	}
	return hooks, nil
}

// registerSelfMetrics publishes the drop counters as semconv.MetricDropped.
// The counters are plain atomics; the callback reads them at collection.
func (s *setup) registerSelfMetrics() error {
	meter := semconv.Meter(s.t.mp, semconv.ScopeTracer)
	counter, err := meter.Int64ObservableCounter(semconv.MetricDropped,
		metric.WithUnit(semconv.MetricDroppedUnit),
		metric.WithDescription("Telemetry items dropped instead of blocking the host."))
	if err != nil {
		return err
	}
	stats := s.stats
	type key struct{ signal, reason string }
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		sums := map[key]uint64{}
		for _, st := range stats {
			sums[key{st.signal, semconv.DropQueueFull}] += st.queueFull.Load()
			sums[key{st.signal, semconv.DropExportFailed}] += st.exportFailed.Load()
			sums[key{st.signal, semconv.DropShutdown}] += st.atShutdown.Load()
			sums[key{st.signal, semconv.DropUnsupported}] += st.unsupported.Load()
		}
		if j := s.t.judge; j != nil {
			sums[key{semconv.SignalTraces, semconv.DropTailBuffer}] += j.tail.dropped.Load()
		}
		for k, v := range sums {
			o.ObserveInt64(counter, int64(v), metric.WithAttributes(
				attribute.String(semconv.AttrDropSignal, k.signal),
				attribute.String(semconv.AttrDropReason, k.reason)))
		}
		return nil
	}, counter)
	return err
}

// TracerProvider returns the tracer provider (a no-op one when the SDK is
// disabled). After Shutdown its tracers are no-ops.
func (t *Tracer) TracerProvider() trace.TracerProvider {
	if t == nil {
		return tracenoop.NewTracerProvider()
	}
	return t.tpAPI
}

// MeterProvider returns the meter provider (a no-op one when the SDK is
// disabled). After Shutdown nothing it records is exported.
func (t *Tracer) MeterProvider() metric.MeterProvider {
	if t == nil {
		return metricnoop.NewMeterProvider()
	}
	return t.mpAPI
}

// LoggerProvider returns the OpenTelemetry logger provider behind
// [Tracer.Logger] (a no-op one when the SDK is disabled).
func (t *Tracer) LoggerProvider() otellog.LoggerProvider {
	if t == nil {
		return lognoop.NewLoggerProvider()
	}
	return t.lpAPI
}

// Propagator returns the text map propagator (W3C tracecontext and baggage
// unless [WithPropagators] was given).
func (t *Tracer) Propagator() propagation.TextMapPropagator {
	if t == nil {
		return propagation.NewCompositeTextMapPropagator()
	}
	return t.prop
}

// Logger returns the trace-correlated logger. A record logged with a
// context that carries a valid span gets trace_id and span_id (hex); every
// record goes to the console (unless [ConsoleNone]), to the OpenTelemetry
// logs pipeline (with the span context as the record's trace context) and to
// the handlers of [WithLogHandler]. After Shutdown the logger still writes to
// the console and the extra handlers; the OpenTelemetry part is a no-op.
//
// On a nil *Tracer (Start failed) it returns [slog.Default].
func (t *Tracer) Logger() *slog.Logger {
	if t == nil {
		return slog.Default()
	}
	return t.logger
}

// ForceFlush exports everything buffered now, within ctx.
func (t *Tracer) ForceFlush(ctx context.Context) error {
	if t == nil || t.disabled || t.shut.Load() {
		return nil
	}
	return errors.Join(t.tp.ForceFlush(ctx), t.mp.ForceFlush(ctx), t.lp.ForceFlush(ctx))
}

// Status reports what runs, what is off and why.
func (t *Tracer) Status() Status {
	if t == nil {
		return Status{ShutDown: true}
	}
	st := Status{Service: t.service, Disabled: t.disabled, ShutDown: t.shut.Load()}
	names := []string{semconv.SignalTraces, semconv.SignalMetrics, semconv.SignalLogs}
	for i, name := range names {
		c := Component{Name: name, Kind: KindPipeline}
		var sig *signalState
		if i < len(t.signals) {
			sig = t.signals[i]
		}
		switch {
		case t.disabled:
			c.Reason = "OTEL_SDK_DISABLED=true"
		case st.ShutDown:
			c.Reason = "shut down"
		case sig == nil:
			c.Reason = "not started"
		case len(sig.details) == 0:
			c.Reason = sig.off
		default:
			c.State = probes.StateOn
			c.Detail = strings.Join(sig.details, ", ")
			if name == semconv.SignalTraces {
				c.Detail += " (sampler " + t.sampler + ")"
			}
		}
		if sig != nil {
			var tail uint64
			if name == semconv.SignalTraces && t.judge != nil {
				tail = t.judge.tail.dropped.Load()
			}
			c.Dropped += tail
			var refused []string
			for _, ps := range sig.stats {
				c.Dropped += ps.dropped()
				switch {
				case c.State == probes.StateOff:
				case ps.refused.Load():
					// A permanent refusal is not an outage: say what the
					// endpoint answered and that nothing more is sent.
					refused = append(refused, ps.desc+": the endpoint does not accept "+name+" ("+ps.refusalAnswer()+"); not sending them")
				case c.State == probes.StateOn && ps.failing.Load():
					c.State = probes.StateDegraded
					c.Reason = ps.desc + ": exporter unavailable: " + errString(ps.err())
				}
			}
			switch {
			case len(refused) == 0:
			case len(refused) == len(sig.details):
				// Every exporter of the signal refused it; Detail names them.
				c.State = probes.StateOff
				c.Reason = strings.SplitN(refused[0], ": ", 2)[1]
				if len(refused) > 1 {
					c.Reason = strings.Join(refused, "; ")
				}
			default:
				c.State = probes.StateDegraded
				c.Reason = probes.JoinReasons(c.Reason, strings.Join(refused, "; "))
			}
			for _, g := range sig.guards {
				if err := g.panicCause(); err != nil && c.State != probes.StateOff {
					c.State = probes.StateDegraded
					c.Reason = probes.JoinReasons(c.Reason, err.Error())
				}
			}
			if c.Dropped > 0 {
				dropped := commas(c.Dropped) + " spans dropped"
				if len(sig.stats) > 0 {
					dropped = commas(c.Dropped) + " " + sig.stats[0].unit + " dropped"
				}
				if tail > 0 {
					dropped += " (" + commas(tail) + " by the tail-keep buffer)"
				}
				if c.Reason == "" || c.State == probes.StateOff {
					c.Reason = probes.JoinReasons(c.Reason, dropped)
				} else {
					c.Reason += " (" + dropped + ")"
				}
			}
		}
		st.Components = append(st.Components, c)
	}

	pc := Component{Name: "propagation", Kind: KindPropagation, State: probes.StateOn,
		Detail: strings.Join(slices.Sorted(slices.Values(t.prop.Fields())), ", ")}
	switch {
	case t.propNone:
		// OTEL_SDK_DISABLED leaves propagation as configured (specification).
		pc.State, pc.Reason = probes.StateOff, "OTEL_PROPAGATORS=none"
	case !t.globals:
		pc.Detail += " (not the global propagator: WithoutGlobals)"
	}
	st.Components = append(st.Components, pc)

	if t.judge != nil {
		st.Components = append(st.Components, t.judge.component(st.ShutDown))
	}
	for _, p := range t.probes {
		ps := p.status(t.diag)
		c := Component{Name: p.name, Kind: KindProbe, State: ps.State, Reason: ps.Reason}
		switch {
		case p.entry.off != "":
			c.State, c.Reason = probes.StateOff, p.entry.off
		case p.startErr != nil:
			c.State, c.Reason = probes.StateOff, p.startErr.Error()
		case !p.started:
			c.State, c.Reason = probes.StateOff, "not started"
		case st.ShutDown:
			c.State, c.Reason = probes.StateOff, "shut down"
		}
		st.Components = append(st.Components, c)
	}
	return st
}

func errString(err error) string {
	if err == nil {
		return "unknown error"
	}
	return err.Error()
}

// Shutdown flushes what it can within ctx, stops the probes (in reverse
// order), the providers and the Prometheus endpoint, restores the slog
// default it replaced, and returns the joined errors, including one
// [*DropError] per exporter that dropped telemetry (errors.Is(err,
// [ErrDropped])). It returns within ctx's deadline (plus a grace of at most
// 100 ms per pipeline for in-flight exports to notice the cancellation).
// Only the first call does the work; later calls return nil. Afterwards the
// providers' instruments are no-ops.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil || !t.shut.CompareAndSwap(false, true) {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if t.prevSlog != nil && slog.Default() == t.logger {
		slog.SetDefault(t.prevSlog)
	}
	var errs []error
	if t.judge != nil {
		errs = append(errs, t.judge.stop(ctx))
	}
	for i := len(t.probes) - 1; i >= 0; i-- {
		p := t.probes[i]
		if !p.started {
			continue
		}
		if err := protect("Shutdown", func() error { return p.entry.probe.Shutdown(ctx) }); err != nil {
			if errors.Is(err, errPanicked) {
				p.reportPanic(t.diag, err)
			}
			errs = append(errs, fmt.Errorf("probe %s: shutdown: %w", p.name, err))
		}
	}
	// The self-metric callback stays registered so that the final metric
	// export carries the final drop counts.
	// The three providers shut down in parallel so that a dead traces
	// exporter does not eat the metrics' and logs' share of the deadline.
	var (
		wg   sync.WaitGroup
		perr [3]error
	)
	shut := func(i int, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			perr[i] = f(ctx)
		}()
	}
	if t.tp != nil {
		shut(0, t.tp.Shutdown)
	}
	if t.mp != nil {
		shut(1, t.mp.Shutdown)
	}
	if t.lp != nil {
		shut(2, t.lp.Shutdown)
	}
	wg.Wait()
	// A signal that dropped telemetry is reported by its DropErrors, which
	// name the count and carry the exporter's error; its provider's
	// shutdown error would only repeat the cause.
	for i, sig := range t.signals {
		var drops []error
		for _, st := range sig.stats {
			if e := st.dropError(); e != nil {
				drops = append(drops, e)
			}
		}
		if len(drops) > 0 {
			perr[i] = errors.Join(drops...)
		}
	}
	errs = append(errs, perr[:]...)
	for _, c := range t.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

// diagErrorHandler sends OpenTelemetry's internal errors to the diagnostics
// logger, at most one a minute (a dead collector would otherwise log on
// every export).
type diagErrorHandler struct {
	diag       *slog.Logger
	last       atomic.Int64
	suppressed atomic.Uint64
}

func (h *diagErrorHandler) Handle(err error) {
	now := time.Now().UnixNano()
	last := h.last.Load()
	if last != 0 && now-last < int64(time.Minute) || !h.last.CompareAndSwap(last, now) {
		h.suppressed.Add(1)
		return
	}
	h.diag.Warn("verdict: opentelemetry error", "error", err, "suppressed_since_last", h.suppressed.Swap(0))
}
