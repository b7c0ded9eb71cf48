package probes

import (
	"context"
	"fmt"
)

// Probe is a signal source that the tracer starts and stops: a runtime
// reader, an eBPF program set, a pool-stats poller.
//
// Concurrency: Start and Shutdown are called once each, in that order, from
// one goroutine; Status may be called concurrently at any time.
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

// FailurePolicy says what the tracer does when a probe cannot start.
type FailurePolicy int

const (
	// FailOpen logs once, records the reason in Status, and carries on
	// without the probe. The default.
	FailOpen FailurePolicy = iota
	// FailClosed makes tracer.Start fail with the probe's error.
	FailClosed
)
