package tracer

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/internal/poolreg"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/gc"
	"github.com/verdict-obs/verdict/probes/goruntime"
	grpcprobe "github.com/verdict-obs/verdict/probes/grpc"
	"github.com/verdict-obs/verdict/probes/kernel"
	"github.com/verdict-obs/verdict/probes/nethttp"
	"github.com/verdict-obs/verdict/probes/sched"
	sqlprobe "github.com/verdict-obs/verdict/probes/sql"
	"github.com/verdict-obs/verdict/probes/tcp"
	"github.com/verdict-obs/verdict/sqlxprobe"
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
// the exact stop-the-world pauses that interrupted it (verdict.gc.pause.*,
// through the gc probe).
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

// EBPF returns the eBPF probe (for its Kernel and STW parts and their
// Snapshots), or nil when eBPF is off ([EBPFOff], or the probe could not be
// created). The probe is returned also when it did not start: its Status
// says why.
func (t *Tracer) EBPF() *ebpf.Probe {
	if t == nil {
		return nil
	}
	return t.ebpf
}

// GC returns the gc probe (for its Snapshot): the garbage collector's
// pauses, mark phases and assists, exact with eBPF and from the runtime's
// figures without. Nil when it could not be created.
func (t *Tracer) GC() *gc.Probe {
	if t == nil {
		return nil
	}
	return t.gc
}

// Sched returns the sched probe (for its Snapshot): run-queue wait against
// GOMAXPROCS and the cgroup's CPU quota, and throttling. Nil when it could
// not be created.
func (t *Tracer) Sched() *sched.Probe {
	if t == nil {
		return nil
	}
	return t.sched
}

// Pools returns a PoolSnapshot of every pool opened with package sqlxprobe
// in this process and not closed yet, in the order they were opened,
// whatever providers they were given. On a nil *Tracer it returns nil.
func (t *Tracer) Pools() []sqlxprobe.PoolSnapshot {
	if t == nil {
		return nil
	}
	var out []sqlxprobe.PoolSnapshot
	for _, s := range poolreg.All() {
		if p, ok := s.(interface{ PoolSnapshot() sqlxprobe.PoolSnapshot }); ok {
			out = append(out, p.PoolSnapshot())
		}
	}
	return out
}

// ebpfOffReason says who turned eBPF off: the option wins over the
// environment.
func (s *setup) ebpfOffReason() string {
	if s.cfg.ebpfSet {
		return "disabled by WithEBPF(EBPFOff)"
	}
	return "disabled by VERDICT_EBPF=off"
}

// offProbe stands for a built-in probe that is off by configuration: it
// has a name and a Status line, and the tracer never starts it.
type offProbe string

func (p offProbe) Name() string                   { return string(p) }
func (p offProbe) Start(context.Context) error    { return nil }
func (p offProbe) Shutdown(context.Context) error { return nil }
func (p offProbe) Status() probes.Status {
	return probes.Status{Name: string(p), State: probes.StateOff}
}

// builtinProbes are the probes verdict runs by itself, before the user's:
// the Go runtime probe and, unless eBPF is off, the eBPF probe.
func (s *setup) builtinProbes(mp metric.MeterProvider) ([]probeEntry, error) {
	var out []probeEntry
	if !s.cfg.noRuntime {
		// The gc probe is the one source of the span's GC pause
		// attributes: the runtime probe lends it its pause history.
		opts := []goruntime.Option{goruntime.WithMeterProvider(mp), goruntime.WithLogger(s.t.diag),
			goruntime.WithoutGCPauseAttribution()}
		if !s.cfg.verdict.off {
			// The judge names allocation sites and blocking stacks in
			// verdicts that fire within seconds: analyses every 5 s
			// instead of 30 s and 10 s, and more stacks per class than
			// the default 3, so that goroutines parked for good (idle
			// workers in WaitGroup.Wait, Cond.Wait) do not hide the queue
			// on a contended lock (the user's options still win).
			opts = append(opts, goruntime.WithHotspots(judgeAnalysisInterval, 0), goruntime.WithBlocking(judgeAnalysisInterval, judgeBlockingTopN))
		}
		opts = append(opts, s.cfg.runtimeOpts...)
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
	var ebpfOff string // why there is no eBPF probe
	// The named probes take the eBPF probe's parts when they run and fall
	// back to their user-space counterparts, saying why, when it is off.
	var named struct {
		gc    []gc.Option
		sched []sched.Option
	}
	named.gc = []gc.Option{gc.WithMeterProvider(mp), gc.WithLogger(s.t.diag), gc.WithRuntime(s.t.runtime)}
	named.sched = []sched.Option{sched.WithMeterProvider(mp)}
	if mode == EBPFOff {
		// Every component always has a line in Status.
		reason := s.ebpfOffReason()
		ebpfOff = reason
		out = append(out, probeEntry{probe: offProbe(ebpf.Name), off: reason})
		named.gc = append(named.gc, gc.WithoutEBPF(reason))
		named.sched = append(named.sched, sched.WithoutEBPF(reason))
	} else {
		p, err := ebpf.New(ebpf.WithMeterProvider(mp), ebpf.WithLogger(s.t.diag), ebpf.WithKernelOptions(s.cfg.kernelOpts...))
		switch {
		case err != nil && mode == EBPFRequired:
			return nil, fmt.Errorf("probe %s: %w", ebpf.Name, err)
		case err != nil:
			s.warn(fmt.Sprintf("probe %s is off: %v", ebpf.Name, err))
			named.gc = append(named.gc, gc.WithoutEBPF(err.Error()))
			named.sched = append(named.sched, sched.WithoutEBPF(err.Error()))
			ebpfOff = err.Error()
		default:
			s.t.ebpf = p
			policy := probes.FailOpen
			if mode == EBPFRequired {
				policy = probes.FailClosed
			}
			out = append(out, probeEntry{probe: p, policy: policy})
			named.gc = append(named.gc, gc.WithEBPF(p))
			named.sched = append(named.sched, sched.WithEBPF(p))
		}
	}
	// After ebpf, whose parts they read at their own Start. With both the
	// runtime probe and eBPF turned off they have nothing to fall back
	// on: shown off, never started.
	if s.cfg.noRuntime && mode == EBPFOff {
		reason := "the runtime probe and eBPF are off (WithoutRuntimeProbe, " + s.ebpfOffReason() + ")"
		out = append(out, probeEntry{probe: offProbe(gc.Name), off: reason}, probeEntry{probe: offProbe(sched.Name), off: reason})
	} else {
		out = s.namedProbes(out, named.gc, named.sched)
	}
	net, err := s.socketProbes(mp, ebpfOff)
	if err != nil {
		s.warn("socket probes are off: " + err.Error())
	}
	return append(out, net...), nil
}

// namedProbes starts gc and sched (after ebpf, whose parts they read at
// their own Start).
func (s *setup) namedProbes(out []probeEntry, gcOpts []gc.Option, schedOpts []sched.Option) []probeEntry {
	if p, err := gc.New(gcOpts...); err != nil {
		s.warn(fmt.Sprintf("probe %s is off: %v", gc.Name, err))
	} else {
		s.t.gc = p
		out = append(out, probeEntry{probe: p, policy: probes.FailOpen})
	}
	if p, err := sched.New(schedOpts...); err != nil {
		s.warn(fmt.Sprintf("probe %s is off: %v", sched.Name, err))
	} else {
		s.t.sched = p
		out = append(out, probeEntry{probe: p, policy: probes.FailOpen})
	}
	return out
}

// socketProbes are the probes that read the eBPF composite's socket tracer
// (so they come after it): nethttp, grpc, sql and tcp. Without eBPF they
// run degraded, with ebpfOff as the reason.
func (s *setup) socketProbes(mp metric.MeterProvider, ebpfOff string) ([]probeEntry, error) {
	e := s.t.ebpf
	nh, err1 := nethttp.New(nethttp.WithMeterProvider(mp), nethttp.WithEBPF(e), nethttp.WithoutEBPF(ebpfOff))
	gr, err2 := grpcprobe.New(grpcprobe.WithMeterProvider(mp), grpcprobe.WithEBPF(e), grpcprobe.WithoutEBPF(ebpfOff))
	sq, err3 := sqlprobe.New(sqlprobe.WithMeterProvider(mp), sqlprobe.WithEBPF(e), sqlprobe.WithoutEBPF(ebpfOff))
	tc, err4 := tcp.New(tcp.WithMeterProvider(mp), tcp.WithEBPF(e), tcp.WithoutEBPF(ebpfOff))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	s.t.nethttp, s.t.grpc, s.t.sql, s.t.tcp = nh, gr, sq, tc
	return []probeEntry{{probe: nh}, {probe: gr}, {probe: sq}, {probe: tc}}, nil
}

// NetHTTP returns the probe that measures the socket side of the
// middleware's HTTP spans (for its Snapshot), or nil before Start.
func (t *Tracer) NetHTTP() *nethttp.Probe {
	if t == nil {
		return nil
	}
	return t.nethttp
}

// GRPC returns the probe that measures the socket side of the middleware's
// gRPC spans (for its Snapshot), or nil before Start.
func (t *Tracer) GRPC() *grpcprobe.Probe {
	if t == nil {
		return nil
	}
	return t.grpc
}

// SQL returns the probe that splits sqlxprobe's spans into pool wait, wire
// time and client time (for its Snapshot), or nil before Start.
func (t *Tracer) SQL() *sqlprobe.Probe {
	if t == nil {
		return nil
	}
	return t.sql
}

// TCP returns the probe of the process's TCP health per peer (for its
// Snapshot), or nil before Start.
func (t *Tracer) TCP() *tcp.Probe {
	if t == nil {
		return nil
	}
	return t.tcp
}
