package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/verdict-obs/verdict/probes"
)

// The host application is sacred: code the user hands to the tracer (a
// probe, a span processor, an exporter) runs inside verdict's calls, and a
// panic there must not take the host down. Each such call goes through
// protect, which turns a panic into an error wrapping errPanicked; the
// tracer reports it once and shows it in Status.

// errPanicked is wrapped by the errors that stand for a recovered panic.
var errPanicked = errors.New("panicked")

// protect runs f and returns its error, or an error wrapping errPanicked if
// it panicked.
func protect(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s %w: %v", what, errPanicked, r)
		}
	}()
	return f()
}

// probeName is p.Name(), or the probe's type when Name panics.
func probeName(p probes.Probe) (name string) {
	defer func() {
		if recover() != nil {
			name = fmt.Sprintf("%T", p)
		}
	}()
	return p.Name()
}

// probeStatus is p.Status(), or an off status naming the panic.
func (ps *probeState) status(diag *slog.Logger) probes.Status {
	var st probes.Status
	err := protect("Status", func() error {
		st = ps.entry.probe.Status()
		return nil
	})
	if err != nil {
		ps.reportPanic(diag, err)
		return probes.Status{Name: ps.name, State: probes.StateOff, Reason: err.Error()}
	}
	return st
}

// reportPanic logs a probe's first panic; later ones are only in Status.
func (ps *probeState) reportPanic(diag *slog.Logger, err error) {
	if ps.panicked.CompareAndSwap(false, true) && diag != nil {
		diag.Error("verdict: probe panicked; the host carries on without it (reported once)",
			"probe", ps.name, "error", err)
	}
}

// guardedProcessor runs a user's span processor with its panics recovered:
// the span the host is starting or ending carries on, the panic is logged
// once, and Status shows the traces pipeline degraded with the cause.
type guardedProcessor struct {
	p    sdktrace.SpanProcessor
	diag *slog.Logger

	panicked atomic.Bool
	mu       sync.Mutex
	cause    error // the first panic
}

var _ sdktrace.SpanProcessor = (*guardedProcessor)(nil)

func (g *guardedProcessor) recovered(where string) {
	if r := recover(); r != nil {
		g.report(fmt.Errorf("processor %T %w in %s: %v", g.p, errPanicked, where, r))
	}
}

func (g *guardedProcessor) report(err error) {
	if !g.panicked.CompareAndSwap(false, true) {
		return
	}
	g.mu.Lock()
	g.cause = err
	g.mu.Unlock()
	if g.diag != nil {
		g.diag.Error("verdict: span processor panicked; spans carry on without it (reported once)", "error", err)
	}
}

// panicCause returns the first panic, or nil.
func (g *guardedProcessor) panicCause() error {
	if !g.panicked.Load() {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cause
}

func (g *guardedProcessor) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	defer g.recovered("OnStart")
	g.p.OnStart(ctx, s)
}

func (g *guardedProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	defer g.recovered("OnEnd")
	g.p.OnEnd(s)
}

func (g *guardedProcessor) Shutdown(ctx context.Context) error {
	err := protect(fmt.Sprintf("processor %T Shutdown", g.p), func() error { return g.p.Shutdown(ctx) })
	if errors.Is(err, errPanicked) {
		g.report(err)
	}
	return err
}

func (g *guardedProcessor) ForceFlush(ctx context.Context) error {
	err := protect(fmt.Sprintf("processor %T ForceFlush", g.p), func() error { return g.p.ForceFlush(ctx) })
	if errors.Is(err, errPanicked) {
		g.report(err)
	}
	return err
}
