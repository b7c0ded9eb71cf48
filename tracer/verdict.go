package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/selfaddr"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/stage"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/gcstw"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/tracer/judge"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

// The judge's types, re-exported: see package tracer/judge.
type (
	// Verdict is a conclusion the judge drew (see [judge.Verdict]).
	Verdict = judge.Verdict
	// Evidence is one signal behind a verdict.
	Evidence = judge.Evidence
	// Severity ranks verdicts.
	Severity = judge.Severity
	// Rule draws verdicts from a [Snapshot]; built-in rules implement it
	// too (package tracer/judge/rules).
	Rule = judge.Rule
	// Snapshot is the immutable view of the fused signals rules read.
	Snapshot = judge.Snapshot
	// Finding is what a rule reports for one subject.
	Finding = judge.Finding
	// Exemplar identifies a span that showed a problem.
	Exemplar = judge.Exemplar
)

// Severities.
const (
	SeverityInfo     = judge.SeverityInfo
	SeverityWarning  = judge.SeverityWarning
	SeverityCritical = judge.SeverityCritical
)

// judgeAnalysisInterval is the runtime probe's hotspot and blocking
// analysis interval while the judge runs.
const judgeAnalysisInterval = 5 * time.Second

// judgeBlockingTopN is how many blocking stacks per class the runtime
// probe keeps while the judge runs.
const judgeBlockingTopN = 8

// judgeConfig is the judge's part of the configuration.
type judgeConfig struct {
	off       bool
	handlers  []func(context.Context, Verdict)
	rules     []judge.Rule
	without   []string
	only      []string
	opts      []judge.Option
	flightDir string
	flightMax int
	tailSpans int
}

// WithVerdictHandler adds a function called when a verdict fires and when
// it clears ([Verdict.Active] tells which), on the judge's goroutine, after
// the verdict was logged, counted and added to the open spans it affects.
// It must not block. Nil is ignored.
func WithVerdictHandler(h func(context.Context, Verdict)) Option {
	return optionFunc(func(c config) config {
		if h != nil {
			c.verdict.handlers = append(c.verdict.handlers, h)
		}
		return c
	})
}

// WithRule adds a rule, written against [Snapshot] like the built-in ones
// (package tracer/judge/rules). A rule whose ID equals a built-in's
// replaces it: pass a tuned copy (rules.NewSlowQuery() with another Ratio)
// to change a built-in's thresholds. Nil is ignored.
func WithRule(r Rule) Option {
	return optionFunc(func(c config) config {
		if r != nil {
			c.verdict.rules = append(c.verdict.rules, r)
		}
		return c
	})
}

// WithoutRules turns off the rules with the given IDs (built-in or added).
func WithoutRules(ids ...string) Option {
	return optionFunc(func(c config) config {
		c.verdict.without = append(c.verdict.without, ids...)
		return c
	})
}

// WithOnlyRules runs only the rules with the given IDs.
func WithOnlyRules(ids ...string) Option {
	return optionFunc(func(c config) config {
		c.verdict.only = append(c.verdict.only, ids...)
		return c
	})
}

// WithJudgeOptions passes options to the judge's engine (package
// tracer/judge): its evaluation interval, window, baseline period and
// debounce.
func WithJudgeOptions(opts ...judge.Option) Option {
	return optionFunc(func(c config) config {
		c.verdict.opts = append(c.verdict.opts, opts...)
		return c
	})
}

// WithVerdictFlightRecords sets where a firing verdict saves the runtime
// probe's flight record (the last seconds of execution trace, for `go tool
// trace`) and how many such files it keeps (older ones it wrote are
// removed). It takes effect when the flight recorder runs
// (WithRuntimeOptions(goruntime.WithFlightRecorder(...))). Default: the
// system's temporary directory, 10 files; max < 1 keeps the default.
func WithVerdictFlightRecords(dir string, max int) Option {
	return optionFunc(func(c config) config {
		if dir != "" {
			c.verdict.flightDir = dir
		}
		if max >= 1 {
			c.verdict.flightMax = max
		}
		return c
	})
}

// WithoutJudge turns the judge off: no verdicts, no verdict.cause or
// anomaly attributes, and plain head sampling (spans the sampler drops are
// not recorded).
func WithoutJudge() Option {
	return optionFunc(func(c config) config {
		c.verdict.off = true
		return c
	})
}

// withJudge turns the judge back on after an earlier WithoutJudge (tests).
func withJudge() Option {
	return optionFunc(func(c config) config {
		c.verdict.off = false
		return c
	})
}

// withTailBuffer sizes the tail-keep buffer (tests).
func withTailBuffer(spans int) Option {
	return optionFunc(func(c config) config {
		c.verdict.tailSpans = spans
		return c
	})
}

// Verdicts returns the active verdicts (oldest first) and the recently
// cleared ones (most recent first). Nil when the judge is off.
func (t *Tracer) Verdicts() []Verdict {
	if t == nil || t.judge == nil {
		return nil
	}
	return t.judge.engine.Verdicts()
}

// judgeState is the running judge: the span stage, the engine and what
// acts on verdicts.
type judgeState struct {
	t       *Tracer
	engine  *judge.Engine
	stage   *stage.Stage
	open    *openSpans
	tail    *tailBuffer
	runtime *goruntime.Probe
	cpu     cpuReader
	self    *selfaddr.Matcher // which peers are this process's own listeners

	verdicts metric.Int64Counter

	// For the status page: the latest snapshot and the notable roots.
	last    atomic.Pointer[judge.Snapshot]
	notable notableSpans

	flightDir   string
	flightMax   int
	flightMu    sync.Mutex
	flightFiles []string
	flightSeq   int

	// GC stop-the-world totals from the eBPF probe's recent pauses (the
	// engine's goroutine only).
	stwLastEnd time.Time
	stwGC      time.Duration
	stwGCCount uint64

	cancel context.CancelFunc
	done   chan struct{}
	stopMu sync.Mutex
	snapMu sync.Mutex // serialises snapshot: the loop and EvaluateVerdicts
}

// newJudge builds the judge (not yet running).
func (s *setup) newJudge() (*judgeState, error) {
	jc := s.cfg.verdict
	js := &judgeState{t: s.t, runtime: s.t.runtime, flightDir: jc.flightDir, flightMax: jc.flightMax}
	if js.flightDir == "" {
		js.flightDir = os.TempDir()
	}
	if js.flightMax < 1 {
		js.flightMax = 10
	}
	opts := []judge.Option{judge.WithRules(rules.Defaults()...), judge.WithRules(jc.rules...), judge.WithLogger(s.t.diag)}
	if len(jc.without) > 0 {
		opts = append(opts, judge.WithoutRules(jc.without...))
	}
	if len(jc.only) > 0 {
		opts = append(opts, judge.WithOnlyRules(jc.only...))
	}
	opts = append(opts, jc.opts...)
	opts = append(opts, judge.WithEvidence(js.flightRecord), judge.WithHandler(js.announce))
	for _, h := range jc.handlers {
		opts = append(opts, judge.WithHandler(h))
	}
	e, err := judge.New(opts...)
	if err != nil {
		return nil, err
	}
	js.engine = e
	js.stage = stage.New(stage.Config{Interval: e.Interval(), Window: e.Window(), Baseline: e.BaselinePeriod()})
	js.open = newOpenSpans()
	js.tail = newTailBuffer(jc.tailSpans)
	js.cpu = newCPUReader()
	js.self = selfaddr.New()
	return js, nil
}

// start starts the engine's goroutine and registers the judge's metrics;
// an error says the metrics are missing (the judge runs anyway).
func (js *judgeState) start(mp metric.MeterProvider) error {
	err := js.registerMetrics(mp) // first: the goroutine reads js.verdicts
	ctx, cancel := context.WithCancel(context.Background())
	js.cancel, js.done = cancel, make(chan struct{})
	go func() {
		defer close(js.done)
		js.engine.Run(ctx, js.lockedSnapshot)
	}()
	return err
}

func (js *judgeState) registerMetrics(mp metric.MeterProvider) error {
	meter := mp.Meter(semconv.InstrumentationName + "/tracer")
	var errs []error
	var err error
	js.verdicts, err = meter.Int64Counter(semconv.MetricVerdicts, metric.WithUnit(semconv.MetricVerdictsUnit),
		metric.WithDescription("Verdicts that fired and cleared, by rule and state."))
	errs = append(errs, err)
	active, err := meter.Int64ObservableGauge(semconv.MetricVerdictsActive, metric.WithUnit(semconv.MetricVerdictsUnit),
		metric.WithDescription("Verdicts active now, by rule."))
	errs = append(errs, err)
	anomalies, err := meter.Int64ObservableCounter(semconv.MetricAnomalies, metric.WithUnit(semconv.MetricAnomaliesUnit),
		metric.WithDescription("Spans the judge found anomalous, by reason and cause."))
	errs = append(errs, err)
	kept, err := meter.Int64ObservableCounter(semconv.MetricTracesKept, metric.WithUnit(semconv.MetricTracesUnit),
		metric.WithDescription("Local traces kept whole by the tail-keep sampler although the head sampler had not sampled them, by reason."))
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ruleIDs := js.engine.Rules()
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		counts := map[string]int64{}
		for _, v := range js.engine.Verdicts() {
			if v.Active() {
				counts[v.Rule]++
			}
		}
		for _, id := range ruleIDs {
			o.ObserveInt64(active, counts[id], metric.WithAttributes(attribute.String(semconv.AttrVerdictRule, id)))
		}
		for r := 0; r < stage.NumReasons; r++ {
			for c := 0; c < stage.NumCauses; c++ {
				if n := js.stage.Anomalies(r, c); n > 0 {
					o.ObserveInt64(anomalies, int64(n), metric.WithAttributes(
						attribute.String(semconv.AttrAnomalyReason, stage.ReasonNames[r]),
						attribute.String(semconv.AttrCause, stage.CauseNames[c])))
				}
			}
		}
		o.ObserveInt64(kept, int64(js.tail.keptError.Load()), metric.WithAttributes(attribute.String(semconv.AttrKeepReason, semconv.KeepError)))
		o.ObserveInt64(kept, int64(js.tail.keptAnomaly.Load()), metric.WithAttributes(attribute.String(semconv.AttrKeepReason, semconv.KeepAnomaly)))
		return nil
	}, active, anomalies, kept)
	return err
}

// stop ends the engine's goroutine, within ctx.
func (js *judgeState) stop(ctx context.Context) error {
	js.stopMu.Lock()
	defer js.stopMu.Unlock()
	if js.cancel == nil {
		return nil
	}
	js.cancel()
	js.cancel = nil
	select {
	case <-js.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("judge: %w", ctx.Err())
	}
}

// snapshot is the engine's source: the probes' readings through the
// adapter, then the stage's windows.
func (js *judgeState) snapshot(now time.Time) *judge.Snapshot {
	var r stage.Readings
	if p := js.runtime; p != nil && p.Status().State != 0 {
		r.Runtime = runtimeReading(p)
	}
	if e := js.t.ebpf; e != nil {
		if k := e.Kernel(); k != nil {
			ks := k.Snapshot()
			r.Kernel = stage.KernelReading{Available: !ks.Time.IsZero(), Runqueue: ks.RunQueue, OffCPU: ks.OffCPU,
				Syscall: ks.SyscallTime, EventsLost: ks.Lost}
		}
		if p := e.STW(); p != nil {
			r.STW = js.stwReading(p.Snapshot())
		}
	}
	for _, p := range js.t.Pools() {
		r.Pools = append(r.Pools, stage.PoolReading{Name: p.Pool, System: p.System, MaxOpen: p.MaxOpen, Open: p.Open,
			InUse: p.InUse, Idle: p.Idle, WaitCount: uint64(max(p.WaitCount, 0)), WaitDuration: p.WaitDuration})
	}
	r.CPU = js.cpu.read()
	r.Drops = js.t.drops()
	// While a verdict fires (for at most half a baseline period each),
	// the baselines do not learn: the next incident is judged against
	// normal times, not against this one.
	hold := js.engine.BaselinePeriod() / 2
	for _, v := range js.engine.Verdicts() {
		if v.Active() && now.Sub(v.Start) < hold {
			r.Incident = true
			break
		}
	}
	js.tail.sweep(now)
	s := js.stage.Snapshot(now, &r)
	for i := range s.Peers {
		s.Peers[i].Self = js.self.Is(now, s.Peers[i].Address)
	}
	js.last.Store(s)
	return s
}

// stwReading adapts gcstw.Snapshot: GC pauses only (the runtime also
// stops the world for goroutine dumps and memory statistics), summed from
// the recent pauses the snapshot lists (32; a tick with more GC pauses
// than that counts those it sees).
func (js *judgeState) stwReading(s gcstw.Snapshot) stage.STWReading {
	if s.Time.IsZero() {
		return stage.STWReading{}
	}
	var longest time.Duration
	for _, p := range s.Recent {
		if !p.End.After(js.stwLastEnd) {
			continue
		}
		js.stwLastEnd = p.End
		if p.GC {
			d := p.Duration()
			js.stwGC += d
			js.stwGCCount++
			longest = max(longest, d)
		}
	}
	return stage.STWReading{Available: true, Total: js.stwGC, Count: js.stwGCCount, Longest: longest}
}

// runtimeReading adapts goruntime.Snapshot.
func runtimeReading(p *goruntime.Probe) stage.RuntimeReading {
	s := p.Snapshot()
	if s.Time.IsZero() {
		return stage.RuntimeReading{}
	}
	r := stage.RuntimeReading{
		Available:     true,
		GCCPUFraction: s.GCCPUFraction, GCPauseTotal: s.GCPauseTotal, RateWindow: s.RateWindow,
		GCCycles: s.GCCycles, AllocRate: s.AllocRate, SchedP99: s.SchedLatencyP99, MutexWaitRate: s.MutexWaitRate,
		Goroutines: s.Goroutines, HeapLive: s.HeapLive, HeapGoal: s.HeapGoal,
		MemoryUsed:  s.MemoryUsedStack + s.MemoryUsedOther,
		MemoryLimit: s.MemoryLimit, GOGC: s.GOGC, GOMAXPROCS: int(s.GOMAXPROCS),
		BlockedAt: s.Blocking.Time, LeakSince: s.Blocking.LeakBaseline,
	}
	for _, a := range s.Hotspots.Sites {
		r.AllocSites = append(r.AllocSites, judge.AllocSite{Function: a.Function, File: a.File, Line: a.Line, BytesPerSecond: a.BytesPerSecond})
	}
	for c := range s.Blocking.Top {
		for _, b := range s.Blocking.Top[c] {
			r.Blocked = append(r.Blocked, blockedStack(b))
		}
	}
	slices.SortStableFunc(r.Blocked, func(a, b judge.BlockedStack) int { return b.Count - a.Count })
	for _, b := range s.Blocking.Leaks {
		r.LeakSuspects = append(r.LeakSuspects, blockedStack(b))
	}
	return r
}

func blockedStack(b goruntime.BlockedStack) judge.BlockedStack {
	return judge.BlockedStack{Class: b.Class.String(), WaitReason: b.WaitReason, Count: b.Count, Growth: b.Growth, Stack: b.Stack}
}

// announce logs a verdict through the tracer's logger (with an exemplar's
// trace_id), counts it, and adds it as an event to the open spans it
// affects. It is the engine's first handler.
func (js *judgeState) announce(ctx context.Context, v Verdict) {
	state := semconv.VerdictFiring
	if !v.Active() {
		state = semconv.VerdictCleared
	}
	if js.verdicts != nil {
		js.verdicts.Add(ctx, 1, metric.WithAttributes(
			attribute.String(semconv.AttrVerdictRule, v.Rule), attribute.String(semconv.AttrVerdictState, state)))
	}

	lctx := ctx
	if len(v.Exemplars) > 0 {
		lctx = trace.ContextWithSpanContext(ctx, v.Exemplars[0].SpanContext())
	}
	level := slog.LevelWarn
	switch {
	case !v.Active():
		level = slog.LevelInfo
	case v.Severity == judge.SeverityCritical:
		level = slog.LevelError
	case v.Severity == judge.SeverityInfo:
		level = slog.LevelInfo
	}
	msg := "verdict: " + v.Summary
	if !v.Active() {
		msg = "verdict cleared: " + v.Summary
	}
	attrs := []slog.Attr{
		slog.String(semconv.AttrVerdictRule, v.Rule),
		slog.String(semconv.AttrVerdictState, state),
		slog.String(semconv.AttrVerdictSeverity, v.Severity.String()),
	}
	if v.Subject != "" {
		attrs = append(attrs, slog.String(semconv.AttrVerdictSubject, v.Subject))
	}
	if v.Active() {
		attrs = append(attrs, slog.String(semconv.AttrVerdictAction, v.Action), slog.String("evidence", evidenceText(v.Evidence)))
	} else {
		attrs = append(attrs, slog.Duration("duration", v.End.Sub(v.Start)))
	}
	js.t.logger.LogAttrs(lctx, level, msg, attrs...)

	evAttrs := []attribute.KeyValue{
		attribute.String(semconv.AttrVerdictRule, v.Rule),
		attribute.String(semconv.AttrVerdictState, state),
		attribute.String(semconv.AttrVerdictSummary, v.Summary),
	}
	if v.Subject != "" {
		evAttrs = append(evAttrs, attribute.String(semconv.AttrVerdictSubject, v.Subject))
	}
	js.open.addEvent(js.stage.Affected(v.Subject), semconv.EventVerdict, trace.WithAttributes(evAttrs...))
}

// evidenceText renders evidence for a log line: "signal=value (baseline
// b, threshold t) [source]; ...".
func evidenceText(ev []Evidence) string {
	var b strings.Builder
	for i, e := range ev {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Signal)
		if e.Detail != "" && e.Value == 0 {
			b.WriteString("=")
			b.WriteString(firstLine(e.Detail))
		} else {
			fmt.Fprintf(&b, "=%.4g%s", e.Value, unitSuffix(e.Unit))
			if e.Baseline != 0 {
				fmt.Fprintf(&b, " (baseline %.4g)", e.Baseline)
			}
			if e.Threshold != 0 {
				fmt.Fprintf(&b, " (threshold %.4g)", e.Threshold)
			}
			if e.Detail != "" {
				b.WriteString(" ")
				b.WriteString(firstLine(e.Detail))
			}
		}
		b.WriteString(" [")
		b.WriteString(string(e.Source))
		b.WriteString("]")
	}
	return b.String()
}

func unitSuffix(u string) string {
	if u == "" || u == "1" {
		return ""
	}
	return " " + u
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// flightRecord saves the flight recorder's window when a verdict fires, if
// the recorder runs, and names the file in the verdict's evidence.
func (js *judgeState) flightRecord(_ context.Context, v Verdict) []Evidence {
	p := js.runtime
	if p == nil {
		return nil
	}
	js.flightMu.Lock()
	defer js.flightMu.Unlock()
	js.flightSeq++
	name := fmt.Sprintf("verdict-%s-%s-%d-%d.trace", safeName(v.Rule), v.Start.UTC().Format("20060102T150405"), os.Getpid(), js.flightSeq)
	path := filepath.Join(js.flightDir, name)
	if err := p.SaveFlightRecord(path); err != nil {
		if errors.Is(err, goruntime.ErrFlightRecorderOff) {
			return nil
		}
		js.t.diag.Warn("verdict: flight record not saved", "rule", v.Rule, "error", err)
		return nil
	}
	js.flightFiles = append(js.flightFiles, path)
	for len(js.flightFiles) > js.flightMax {
		_ = os.Remove(js.flightFiles[0])
		js.flightFiles = js.flightFiles[1:]
	}
	var size float64
	if fi, err := os.Stat(path); err == nil {
		size = float64(fi.Size())
	}
	return []Evidence{{Signal: "flight_record", Value: size, Unit: "By", Source: judge.SourceRuntime, Detail: path}}
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// drops are the tracer's cumulative drop counters, for the judge.
func (t *Tracer) drops() []stage.DropReading {
	var out []stage.DropReading
	for _, sig := range t.signals {
		var qf, ef, sd uint64
		for _, st := range sig.stats {
			qf += st.queueFull.Load()
			ef += st.exportFailed.Load()
			sd += st.atShutdown.Load()
		}
		out = append(out,
			stage.DropReading{Signal: sig.name, Reason: semconv.DropQueueFull, Total: qf},
			stage.DropReading{Signal: sig.name, Reason: semconv.DropExportFailed, Total: ef},
			stage.DropReading{Signal: sig.name, Reason: semconv.DropShutdown, Total: sd})
	}
	if t.judge != nil {
		out = append(out, stage.DropReading{Signal: semconv.SignalTraces, Reason: semconv.DropTailBuffer, Total: t.judge.tail.dropped.Load()})
	}
	return out
}

// component is the judge's line in Status: "judge: on: 13 rules, 1 active
// verdict (downstream.refused)", degraded when a user's rule panicked.
func (js *judgeState) component(shutDown bool) Component {
	c := Component{Name: "judge", Kind: KindJudge, State: probes.StateOn}
	if shutDown {
		c.State, c.Reason = probes.StateOff, "shut down"
		return c
	}
	var active []string
	for _, v := range js.engine.Verdicts() {
		if v.Active() {
			active = append(active, v.Rule)
		}
	}
	c.Detail = fmt.Sprintf("%d rules", len(js.engine.Rules()))
	switch len(active) {
	case 0:
	case 1:
		c.Detail += ", 1 active verdict (" + active[0] + ")"
	default:
		c.Detail += fmt.Sprintf(", %d active verdicts (%s)", len(active), strings.Join(active, ", "))
	}
	// A rule, handler or evidence function that panicked is skipped (the
	// others go on): the judge is degraded, the first panic is the cause.
	if faults := js.engine.Faults(); len(faults) > 0 {
		c.State = probes.StateDegraded
		var rs []string
		for _, f := range faults {
			rs = append(rs, fmt.Sprintf("%s panicked (%d times, skipped): %s", f.What, f.Count, f.Panic))
		}
		c.Reason = strings.Join(rs, "; ")
	}
	return c
}
