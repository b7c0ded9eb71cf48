package harness

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutlog"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// MetricInterval is how often the variants collect and encode their
// metrics (into io.Discard, in the stdout exporter's JSON).
const MetricInterval = 10 * time.Second

// Verdict is the service with everything verdict has on: tracer.Start
// with its default probes and the judge, eBPF required as root (auto
// otherwise), the HTTP middleware, sqlxprobe; spans batched into a
// CountingExporter, metrics collected every MetricInterval, logs
// discarded.
var Verdict = Variant{Name: "verdict", Start: func(ctx context.Context, dsn string) (*Service, error) {
	mode := tracer.EBPFAuto
	if root() {
		mode = tracer.EBPFRequired
	}
	return startVerdict(ctx, dsn, mode)
}}

// VerdictNoEBPF is Verdict with tracer.EBPFOff: the same user-space
// instrumentation without the kernel programs, to tell their cost from
// user space's.
var VerdictNoEBPF = Variant{Name: "verdict-noebpf", Start: func(ctx context.Context, dsn string) (*Service, error) {
	return startVerdict(ctx, dsn, tracer.EBPFOff)
}}

// VerdictWith is Verdict (eBPF required as root) with more tracer options,
// named name: for taking its cost apart, e.g. with
// tracer.WithKernelOptions(kernel.WithoutGCAssist()).
func VerdictWith(name string, opts ...tracer.Option) Variant {
	return Variant{Name: name, Start: func(ctx context.Context, dsn string) (*Service, error) {
		mode := tracer.EBPFAuto
		if root() {
			mode = tracer.EBPFRequired
		}
		return startVerdict(ctx, dsn, mode, opts...)
	}}
}

func startVerdict(ctx context.Context, dsn string, mode tracer.EBPFMode, opts ...tracer.Option) (*Service, error) {
	metricExp, err := stdoutmetric.New(stdoutmetric.WithWriter(io.Discard))
	if err != nil {
		return nil, err
	}
	logExp, err := stdoutlog.New(stdoutlog.WithWriter(io.Discard))
	if err != nil {
		return nil, err
	}
	spans := &CountingExporter{}
	var fired atomic.Uint64
	var mu sync.Mutex
	rules := map[string]bool{}
	tr, err := tracer.Start(ctx, append([]tracer.Option{
		tracer.WithServiceName("soak"),
		tracer.WithEBPF(mode),
		tracer.WithSpanExporter(spans),
		tracer.WithMetricReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(MetricInterval))),
		tracer.WithLogExporter(logExp),
		tracer.WithConsoleWriter(io.Discard),
		tracer.WithVerdictHandler(func(_ context.Context, v tracer.Verdict) {
			if v.Active() {
				fired.Add(1)
				mu.Lock()
				rules[v.Rule] = true
				mu.Unlock()
			}
		}),
	}, opts...)...,
	)
	if err != nil {
		return nil, err
	}
	db, err := sqlxprobe.Open("sqlite", dsn)
	if err != nil {
		return nil, errors.Join(err, tr.Shutdown(ctx))
	}
	db.SetMaxOpenConns(PoolSize)
	db.SetMaxIdleConns(PoolSize)
	counters := func() Counters {
		st := tr.Status()
		c := Counters{
			Goroutines:    runtime.NumGoroutine(),
			SpansExported: spans.Exported(),
			VerdictsFired: fired.Load(),
			Status:        st.String(),
		}
		if t, ok := st.Component("traces"); ok {
			c.SpansDropped = t.Dropped
		}
		for _, v := range tr.Verdicts() {
			if v.Active() {
				c.VerdictsActive++
			}
		}
		mu.Lock()
		names := make([]string, 0, len(rules))
		for r := range rules {
			names = append(names, r)
		}
		mu.Unlock()
		if len(names) > 0 {
			sort.Strings(names)
			c.Status += "; verdicts fired: " + strings.Join(names, ",")
		}
		b := &BPF{}
		if p := tr.EBPF(); p != nil {
			ps := p.Status()
			b.On, b.Reason = ps.State == probes.StateOn, ps.Reason
			s := p.Snapshot()
			b.Syscalls, b.Spans, b.Lost = s.Kernel.Syscalls, s.Kernel.Spans, s.Kernel.Lost
			b.Pauses, b.STWLost = s.STW.Pauses, s.STW.Lost
		}
		if p := tr.NetHTTP(); p != nil {
			b.Sockets = p.Snapshot().Server.Spans
		}
		c.EBPF = b
		return c
	}
	return &Service{
		Handler:  middleware.NewHandler(Handler(db)),
		Counters: counters,
		Close: func(ctx context.Context) error {
			return errors.Join(db.Close(), tr.Shutdown(ctx))
		},
	}, nil
}
