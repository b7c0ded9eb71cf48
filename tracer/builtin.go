package tracer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/gcstw"
	"github.com/verdict-obs/verdict/probes/goruntime"
	"github.com/verdict-obs/verdict/probes/kernel"
)

// EBPFMode says whether verdict uses eBPF. See [WithEBPF].
type EBPFMode int

const (
	// EBPFAuto tries eBPF and, when the process lacks the privileges or the
	// kernel the features, carries on without it: one log line, and the
	// reason in [Tracer.Status] ("ebpf: off: missing CAP_BPF ..."). The
	// default.
	EBPFAuto EBPFMode = iota
	// EBPFOff never touches the kernel.
	EBPFOff
	// EBPFRequired makes [Start] fail, with an error that says what is
	// missing, when eBPF cannot run.
	EBPFRequired
)

func (m EBPFMode) String() string {
	switch m {
	case EBPFAuto:
		return "auto"
	case EBPFOff:
		return "off"
	case EBPFRequired:
		return "required"
	}
	return fmt.Sprintf("EBPFMode(%d)", int(m))
}

// WithEBPF sets the eBPF mode (overrides VERDICT_EBPF=auto|off|required).
//
// With eBPF on, every sampled span in the process gets its kernel-side time
// (verdict.kernel.* attributes: system calls, off-CPU, run-queue wait) and
// the exact stop-the-world pauses that interrupted it (verdict.gc.stw.*).
func WithEBPF(mode EBPFMode) Option {
	return optionFunc(func(c config) config {
		c.ebpf, c.ebpfSet = mode, true
		return c
	})
}

// WithRuntimeOptions passes options to the Go runtime probe (package
// probes/goruntime), e.g. goruntime.WithFlightRecorder or
// goruntime.WithHotspots. The tracer sets the meter provider and logger.
func WithRuntimeOptions(opts ...goruntime.Option) Option {
	return optionFunc(func(c config) config {
		c.runtimeOpts = append(c.runtimeOpts, opts...)
		return c
	})
}

// WithKernelOptions passes options to the eBPF kernel-time probe (package
// probes/kernel), e.g. kernel.WithoutSyscallTracing, which keeps off-CPU and
// run-queue time but detaches the system-call tracepoints (while attached,
// every system call on the host passes through them). The tracer sets the
// meter provider.
func WithKernelOptions(opts ...kernel.Option) Option {
	return optionFunc(func(c config) config {
		c.kernelOpts = append(c.kernelOpts, opts...)
		return c
	})
}

// WithoutRuntimeProbe turns the Go runtime probe off: no runtime metrics, no
// GC pause attribution, no hotspot or blocking analysis.
func WithoutRuntimeProbe() Option {
	return optionFunc(func(c config) config {
		c.noRuntime = true
		return c
	})
}

// Runtime returns the Go runtime probe (for its Snapshot and flight
// recorder), or nil when it is off.
func (t *Tracer) Runtime() *goruntime.Probe {
	if t == nil {
		return nil
	}
	return t.runtime
}

// builtinProbes are the probes verdict runs by itself, before the user's:
// the Go runtime probe and, unless eBPF is off, the eBPF probe.
func (s *setup) builtinProbes(mp metric.MeterProvider) []probeEntry {
	var out []probeEntry
	if !s.cfg.noRuntime {
		opts := append([]goruntime.Option{goruntime.WithMeterProvider(mp), goruntime.WithLogger(s.t.diag)}, s.cfg.runtimeOpts...)
		p, err := goruntime.New(opts...)
		if err != nil {
			s.warn("runtime probe is off: " + err.Error())
		} else {
			s.t.runtime = p
			out = append(out, probeEntry{probe: p, policy: probes.FailOpen})
		}
	}
	mode := s.cfg.ebpf
	if !s.cfg.ebpfSet {
		mode = s.env.ebpf
	}
	if mode != EBPFOff {
		e := newEBPFProbe(mp, s.t.diag, s.cfg)
		policy := probes.FailOpen
		if mode == EBPFRequired {
			policy = probes.FailClosed
		}
		out = append(out, probeEntry{probe: e, policy: policy})
	}
	return out
}

// ebpfProbe is the eBPF companion as one probe named "ebpf": the kernel-time
// probe (probes/kernel) and the stop-the-world probe (probes/gcstw) behind
// one preflight, one log line and one Status entry.
type ebpfProbe struct {
	mp   metric.MeterProvider
	kOpt []kernel.Option
	stw  *gcstw.Probe

	mu     sync.Mutex
	parts  []probes.Probe
	hooks  []spanhook.Hook // started parts that are hooks; fixed after Start
	status probes.Status
}

func newEBPFProbe(mp metric.MeterProvider, diag *slog.Logger, cfg config) *ebpfProbe {
	return &ebpfProbe{
		mp:     mp,
		kOpt:   append([]kernel.Option{kernel.WithMeterProvider(mp)}, cfg.kernelOpts...),
		stw:    gcstw.New(gcstw.WithMeterProvider(mp), gcstw.WithLogger(diag)),
		status: probes.Status{Name: "ebpf", State: probes.StateOff, Reason: "not started"},
	}
}

func (e *ebpfProbe) Name() string { return "ebpf" }

func (e *ebpfProbe) Status() probes.Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.status
	if st.State == probes.StateOff {
		return st
	}
	// Live: a part may degrade while running.
	var reasons []string
	for _, p := range e.parts {
		if ps := p.Status(); ps.State != probes.StateOn {
			reasons = append(reasons, ps.String())
		}
	}
	if len(reasons) > 0 {
		st.State = probes.StateDegraded
		st.Reason = joinReasons(st.Reason, strings.Join(reasons, "; "))
	}
	return st
}

func joinReasons(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// Start runs the preflight once, then starts the parts. It fails only when
// no part can run; a part that cannot start leaves the probe degraded.
func (e *ebpfProbe) Start(ctx context.Context) error {
	pf := bpf.Check()
	if !pf.OK() {
		e.setStatus(probes.StateOff, pf.Reason)
		return &reasonError{reason: pf.Reason, err: pf.Err}
	}
	var errs []error
	var reasons []string
	var started []probes.Probe
	k, err := kernel.New(e.kOpt...)
	if err == nil {
		err = k.Start(ctx)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("kernel time: %w", err))
		reasons = append(reasons, "kernel time off: "+bpf.Reason(err))
	} else {
		started = append(started, k)
	}
	if err := e.stw.Start(ctx); err != nil {
		errs = append(errs, fmt.Errorf("gc stop-the-world: %w", err))
		reasons = append(reasons, "gc stop-the-world off: "+bpf.Reason(err))
	} else {
		started = append(started, e.stw)
	}
	e.mu.Lock()
	e.parts = started
	for _, p := range started {
		if h, ok := p.(spanhook.Hook); ok {
			e.hooks = append(e.hooks, h)
		}
	}
	e.mu.Unlock()
	switch {
	case len(started) == 0:
		e.setStatus(probes.StateOff, strings.Join(reasons, "; "))
		return &reasonError{reason: strings.Join(reasons, "; "), err: errors.Join(errs...)}
	case len(errs) > 0:
		e.setStatus(probes.StateDegraded, strings.Join(reasons, "; "))
	default:
		e.setStatus(probes.StateOn, "")
	}
	return nil
}

func (e *ebpfProbe) setStatus(s probes.State, reason string) {
	e.mu.Lock()
	e.status = probes.Status{Name: "ebpf", State: s, Reason: reason}
	e.mu.Unlock()
}

// SpanStart and SpanEnd fan out to the started parts. e.hooks is written
// once in Start, before the span pipeline exists, and only read after.
func (e *ebpfProbe) SpanStart(sc trace.SpanContext, start time.Time) {
	for _, h := range e.hooks {
		h.SpanStart(sc, start)
	}
}

func (e *ebpfProbe) SpanEnd(sc trace.SpanContext, start, end time.Time, dst []attribute.KeyValue) []attribute.KeyValue {
	for _, h := range e.hooks {
		dst = h.SpanEnd(sc, start, end, dst)
	}
	return dst
}

func (e *ebpfProbe) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	parts := e.parts
	e.parts = nil
	if e.status.State != probes.StateOff || e.status.Reason == "not started" {
		e.status = probes.Status{Name: "ebpf", State: probes.StateOff, Reason: "shut down"}
	}
	e.mu.Unlock()
	var errs []error
	for i := len(parts) - 1; i >= 0; i-- {
		if err := parts[i].Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", parts[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}

// reasonError reads as the short reason a person needs ("missing CAP_BPF
// ...") and unwraps to the error that says what kind it is
// (os.ErrPermission, errors.ErrUnsupported).
type reasonError struct {
	reason string
	err    error
}

func (e *reasonError) Error() string { return e.reason }
func (e *reasonError) Unwrap() error { return e.err }
