package probes

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Errors every probe's Start returns (wrapped with the probe's name); test
// with errors.Is.
var (
	// ErrStarted is returned by Start on a probe that was already started.
	ErrStarted = errors.New("probe already started")
	// ErrShutDown is returned by Start after Shutdown: a probe runs once.
	ErrShutDown = errors.New("probe shut down")
)

// Probe is a signal source that the tracer starts and stops: a runtime
// reader, an eBPF program set, a pool-stats poller.
//
// Concurrency: Start and Shutdown are called once each, in that order, from
// one goroutine; Status may be called concurrently at any time.
//
// verdict's probe packages (goruntime, kernel, gcstw, ebpf) share one shape:
// a const Name, New(opts ...Option) (*Probe, error) that starts nothing,
// Start returning [ErrStarted] or [ErrShutDown] (wrapped) when called twice
// or after Shutdown, an immutable Snapshot of what the probe measured, and,
// when the probe enriches spans, a SpanHook method that opts it into the
// tracer's span pipeline.
type Probe interface {
	// Name is a short, stable identifier ("runtime", "ebpf", ...).
	Name() string
	// Start begins collection. An error means the probe is not running; the
	// tracer then applies the probe's FailurePolicy.
	Start(ctx context.Context) error
	// Shutdown stops collection and releases every resource. It is
	// idempotent and returns within ctx's deadline.
	Shutdown(ctx context.Context) error
	// Status reports whether the probe runs and, if not, why.
	Status() Status
}

// State is the running state of a probe.
type State int

const (
	// StateOff means the probe is not running (never started, disabled,
	// failed, or shut down); Status.Reason says why.
	StateOff State = iota
	// StateOn means the probe is running.
	StateOn
	// StateDegraded means the probe runs with part of its signals missing;
	// Status.Reason says which and why.
	StateDegraded
)

func (s State) String() string {
	switch s {
	case StateOff:
		return "off"
	case StateOn:
		return "on"
	case StateDegraded:
		return "degraded"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// Status is a probe's state with a reason a person can read.
type Status struct {
	Name   string
	State  State
	Reason string // empty when State is StateOn
}

func (s Status) String() string {
	if s.Reason == "" {
		return s.Name + ": " + s.State.String()
	}
	return s.Name + ": " + s.State.String() + ": " + s.Reason
}

// JoinReasons joins the non-empty reasons with "; ", the separator of every
// Status reason made of several.
func JoinReasons(reasons ...string) string {
	var b strings.Builder
	for _, r := range reasons {
		if r == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r)
	}
	return b.String()
}

// FailurePolicy says what the tracer does when a probe cannot start.
type FailurePolicy int

const (
	// FailOpen logs once, records the reason in Status, and carries on
	// without the probe. The default.
	FailOpen FailurePolicy = iota
	// FailClosed makes tracer.Start fail with the probe's error.
	FailClosed
)
