package ebpf

import (
	"context"
	"fmt"
	"sync"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/sock"
	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
)

// SocketsName is the name of the composite's socket part in its Status
// reasons ("sockets: off: ...").
const SocketsName = "sockets"

// sockets is the composite's third part: the socket tracer of package
// bpf/sock (the process's TCP connections seen from the kernel), which the
// probes nethttp, grpc, sql and tcp read. It enriches no span by itself.
type sockets struct {
	opts *sock.Options

	mu       sync.Mutex
	tr       *sock.Tracer
	status   probes.Status
	started  bool
	shutdown bool
}

func newSockets(opts *sock.Options) *sockets {
	return &sockets{opts: opts, status: probes.Status{Name: SocketsName, State: probes.StateOff, Reason: reasonNotStarted}}
}

func (s *sockets) Name() string { return SocketsName }

// Start loads and attaches the socket programs (see sock.Open).
func (s *sockets) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.shutdown:
		return fmt.Errorf("%s: %w", SocketsName, probes.ErrShutDown)
	case s.started:
		return fmt.Errorf("%s: %w", SocketsName, probes.ErrStarted)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", SocketsName, err)
	}
	s.started = true
	tr, err := sock.Open(s.opts)
	if err != nil {
		s.status = probes.Status{Name: SocketsName, State: probes.StateOff, Reason: bpf.Reason(err)}
		return fmt.Errorf("%s: %w", SocketsName, err)
	}
	s.tr = tr
	s.status = probes.Status{Name: SocketsName, State: probes.StateOn}
	return nil
}

func (s *sockets) Shutdown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return nil
	}
	s.shutdown = true
	var err error
	if s.tr != nil {
		err = s.tr.Close()
		s.tr = nil
	}
	reason := reasonShutDown
	if s.status.State == probes.StateOff && s.status.Reason != reasonNotStarted {
		reason = s.status.Reason
	}
	s.status = probes.Status{Name: SocketsName, State: probes.StateOff, Reason: reason}
	if err != nil {
		return fmt.Errorf("%s: %w", SocketsName, err)
	}
	return nil
}

func (s *sockets) Status() probes.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

func (s *sockets) SpanHook() spanhook.Hook { return nil }

func (s *sockets) tracer() *sock.Tracer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tr
}

// Sockets returns the socket tracer while it runs (for the probes nethttp,
// grpc, sql and tcp), or nil: before Start, after Shutdown, or when it
// could not start (Status says why). After Shutdown a tracer handed out
// earlier is closed: its methods are no-ops.
func (p *Probe) Sockets() *sock.Tracer {
	if p.runs(p.sockets) {
		return p.sockets.tracer()
	}
	return nil
}

// SocketsStatus is the socket tracer's own status: on, or off and why (a
// reason of its own even when the other parts run).
func (p *Probe) SocketsStatus() probes.Status {
	if p.sockets == nil {
		return probes.Status{Name: SocketsName, State: probes.StateOff, Reason: reasonNotStarted}
	}
	return p.sockets.Status()
}

// WithSocketOptions sizes the socket tracer's tables (see sock.Options);
// nil means defaults.
func WithSocketOptions(opts *sock.Options) Option {
	return optionFunc(func(c config) config {
		c.sockOpts = opts
		return c
	})
}
