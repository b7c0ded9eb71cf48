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

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/goruntime"
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

	logger *slog.Logger
	diag   *slog.Logger

	signals []*signalState
	sampler string
	probes  []*probeState
	runtime *goruntime.Probe

	closers  []func(context.Context) error
	prevSlog *slog.Logger
	shut     atomic.Bool
}

type signalState struct {
	name    string
	details []string
	off     string
	stats   []*pipeStats
}

type probeState struct {
	entry    probeEntry
	started  bool
	startErr error
}

// setup carries the state of one Start call.
type setup struct {
	cfg   config
	env   envConfig
	t     *Tracer
	stats []*pipeStats
}

func (s *setup) warn(msg string) { s.t.diag.Warn("verdict: " + msg) }

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
// created, a Prometheus address that cannot be listened on, and probes with
// [probes.FailClosed] that cannot start; it then releases what it created.
// Invalid environment values are reported through the diagnostics logger
// and replaced by defaults, as the OpenTelemetry specification asks.
func Start(ctx context.Context, opts ...Option) (*Tracer, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg := newConfig(opts)
	if p := cfg.otlpProtocol; p != "" && p != ProtocolGRPC && p != ProtocolHTTPProtobuf {
		return nil, fmt.Errorf("tracer: WithOTLPProtocol(%q): use %q or %q", p, ProtocolGRPC, ProtocolHTTPProtobuf)
	}
	if cfg.consoleFormat < ConsoleText || cfg.consoleFormat > ConsoleNone {
		return nil, fmt.Errorf("tracer: WithConsoleFormat(%v): unknown format", cfg.consoleFormat)
	}
	t := &Tracer{globals: cfg.globals}
	s := &setup{cfg: cfg, env: readEnv(), t: t}

	local := localHandler(cfg)
	t.diag = cfg.diag
	if t.diag == nil {
		t.diag = slog.New(local)
	}
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
		t.prop = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	}

	if s.env.disabled {
		t.disabled = true
		t.service = cfg.serviceName
		if t.service == "" {
			t.service = os.Getenv("OTEL_SERVICE_NAME")
		}
		t.tpAPI, t.mpAPI, t.lpAPI = tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider(), lognoop.NewLoggerProvider()
		t.logger = slog.New(&levelHandler{level: cfg.logLevel, next: local})
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
func localHandler(cfg config) slog.Handler {
	var hs []slog.Handler
	ho := &slog.HandlerOptions{Level: cfg.logLevel}
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
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res)}
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
	lopts := []sdklog.LoggerProviderOption{sdklog.WithResource(res)}
	for _, e := range lexps {
		st := s.newStats(semconv.SignalLogs, "records", e.desc)
		lopts = append(lopts, sdklog.WithProcessor(newLogExportProcessor(e.exp, st, cfg.batch)))
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
		next = append(next, newSpanExportProcessor(e.exp, st, cfg.batch))
		ts.details = append(ts.details, e.desc)
		ts.stats = append(ts.stats, st)
	}
	for _, p := range cfg.spanProcessors {
		next = append(next, p)
		ts.details = append(ts.details, fmt.Sprintf("processor %T", p))
	}
	if len(ts.details) > 0 {
		ts.off = ""
	}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res), sdktrace.WithSampler(sampler)}
	if len(hooks) > 0 {
		topts = append(topts, sdktrace.WithSpanProcessor(&spanPipeline{hooks: hooks, next: next, diag: t.diag}))
	} else {
		for _, p := range next {
			topts = append(topts, sdktrace.WithSpanProcessor(p))
		}
	}
	t.tp = sdktrace.NewTracerProvider(topts...)
	t.tpAPI = t.tp
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

	otelH := otelslog.NewHandler(semconv.InstrumentationName, otelslog.WithLoggerProvider(t.lp))
	t.logger = slog.New(&levelHandler{level: cfg.logLevel, next: slogmulti.Fanout(local, otelH)})
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

// startProbes starts the configured probes in order and returns those that
// are span hooks. A FailClosed probe that cannot start fails Start.
func (s *setup) startProbes(ctx context.Context) ([]spanhook.Hook, error) {
	hooks := append([]spanhook.Hook(nil), s.cfg.hooks...)
	entries := append(s.builtinProbes(s.t.mpAPI), s.cfg.probes...)
	for _, e := range entries {
		ps := &probeState{entry: e}
		s.t.probes = append(s.t.probes, ps)
		if err := e.probe.Start(ctx); err != nil {
			ps.startErr = err
			if e.policy == probes.FailClosed {
				return nil, fmt.Errorf("probe %s: %w", e.probe.Name(), err)
			}
			s.warn(fmt.Sprintf("probe %s is off: %v", e.probe.Name(), err))
			continue
		}
		ps.started = true
		if h, ok := e.probe.(spanhook.Hook); ok {
			hooks = append(hooks, h)
		}
	}
	return hooks, nil
}

// registerSelfMetrics publishes the drop counters as semconv.MetricDropped.
// The counters are plain atomics; the callback reads them at collection.
func (s *setup) registerSelfMetrics() error {
	meter := s.t.mp.Meter(semconv.InstrumentationName + "/tracer")
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
			for _, ps := range sig.stats {
				c.Dropped += ps.dropped()
				if c.State == probes.StateOn && ps.failing.Load() {
					c.State = probes.StateDegraded
					c.Reason = ps.desc + ": exporter unavailable: " + errString(ps.err())
				}
			}
			if c.Dropped > 0 {
				dropped := commas(c.Dropped) + " " + sig.stats[0].unit + " dropped"
				if c.Reason == "" || c.State == probes.StateOff {
					c.Reason = joinReason(c.Reason, dropped)
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
	case t.disabled:
		pc.State, pc.Reason = probes.StateOff, "OTEL_SDK_DISABLED=true"
	case !t.globals:
		pc.Detail += " (not the global propagator: WithoutGlobals)"
	}
	st.Components = append(st.Components, pc)

	for _, p := range t.probes {
		ps := p.entry.probe.Status()
		c := Component{Name: p.entry.probe.Name(), Kind: KindProbe, State: ps.State, Reason: ps.Reason}
		switch {
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

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
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
	for i := len(t.probes) - 1; i >= 0; i-- {
		p := t.probes[i]
		if !p.started {
			continue
		}
		if err := p.entry.probe.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("probe %s: shutdown: %w", p.entry.probe.Name(), err))
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
