package probes_test

import (
	"context"
	"errors"
	"testing"

	"github.com/verdict-obs/verdict/internal/spanhook"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/ebpf"
	"github.com/verdict-obs/verdict/probes/gc"
	"github.com/verdict-obs/verdict/probes/gcstw"
	"github.com/verdict-obs/verdict/probes/goruntime"
	grpcprobe "github.com/verdict-obs/verdict/probes/grpc"
	"github.com/verdict-obs/verdict/probes/kernel"
	"github.com/verdict-obs/verdict/probes/nethttp"
	"github.com/verdict-obs/verdict/probes/sched"
	sqlprobe "github.com/verdict-obs/verdict/probes/sql"
	"github.com/verdict-obs/verdict/probes/tcp"
)

// Every probe package has the same shape: a const Name that the probe and
// its Status report, New(opts...) (*Probe, error), one Start (the second
// returns probes.ErrStarted, Start after Shutdown probes.ErrShutDown, with
// or without the privileges to run), an idempotent Shutdown, a Snapshot,
// and an explicit SpanHook (nil for tcp, which enriches no span). Without
// privileges the eBPF probes fail to start, and the socket probes (given no
// eBPF probe here) start degraded: the lifecycle is the same.
func TestProbesHaveOneShape(t *testing.T) {
	type shaped interface {
		probes.Probe
		spanhook.Provider
	}
	build := map[string]func() (shaped, error){
		goruntime.Name: func() (shaped, error) { return goruntime.New(goruntime.WithSampleInterval(0)) },
		kernel.Name:    func() (shaped, error) { return kernel.New() },
		gcstw.Name:     func() (shaped, error) { return gcstw.New() },
		ebpf.Name:      func() (shaped, error) { return ebpf.New() },
		gc.Name:        func() (shaped, error) { return gc.New() },
		sched.Name:     func() (shaped, error) { return sched.New() },
		nethttp.Name:   func() (shaped, error) { return nethttp.New(nethttp.WithoutEBPF("test")) },
		grpcprobe.Name: func() (shaped, error) { return grpcprobe.New(grpcprobe.WithoutEBPF("test")) },
		sqlprobe.Name:  func() (shaped, error) { return sqlprobe.New(sqlprobe.WithoutEBPF("test")) },
		tcp.Name:       func() (shaped, error) { return tcp.New(tcp.WithoutEBPF("test")) },
	}
	snapshot := map[string]func(shaped) any{
		goruntime.Name: func(p shaped) any { return p.(*goruntime.Probe).Snapshot() },
		kernel.Name:    func(p shaped) any { return p.(*kernel.Probe).Snapshot() },
		gcstw.Name:     func(p shaped) any { return p.(*gcstw.Probe).Snapshot() },
		ebpf.Name:      func(p shaped) any { return p.(*ebpf.Probe).Snapshot() },
		gc.Name:        func(p shaped) any { return p.(*gc.Probe).Snapshot() },
		sched.Name:     func(p shaped) any { return p.(*sched.Probe).Snapshot() },
		nethttp.Name:   func(p shaped) any { return p.(*nethttp.Probe).Snapshot() },
		grpcprobe.Name: func(p shaped) any { return p.(*grpcprobe.Probe).Snapshot() },
		sqlprobe.Name:  func(p shaped) any { return p.(*sqlprobe.Probe).Snapshot() },
		tcp.Name:       func(p shaped) any { return p.(*tcp.Probe).Snapshot() },
	}
	enrichesNoSpan := map[string]bool{tcp.Name: true}
	ctx := context.Background()
	for name, newProbe := range build {
		t.Run(name, func(t *testing.T) {
			p, err := newProbe()
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != name || p.Status().Name != name {
				t.Errorf("Name() = %q, Status().Name = %q, want the package's Name %q", p.Name(), p.Status().Name, name)
			}
			if st := p.Status(); st.State != probes.StateOff || st.Reason != "not started" {
				t.Errorf("before Start: %v", st)
			}
			startErr := p.Start(ctx)
			t.Logf("Start: %v; %v", startErr, p.Status())
			if err := p.Start(ctx); !errors.Is(err, probes.ErrStarted) {
				t.Errorf("second Start = %v, want probes.ErrStarted", err)
			}
			_ = snapshot[name](p)
			if startErr == nil && p.SpanHook() == nil && !enrichesNoSpan[name] {
				t.Errorf("started, but no span hook")
			}
			if err := p.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if err := p.Shutdown(ctx); err != nil {
				t.Errorf("second Shutdown = %v", err)
			}
			if err := p.Start(ctx); !errors.Is(err, probes.ErrShutDown) {
				t.Errorf("Start after Shutdown = %v, want probes.ErrShutDown", err)
			}
			if st := p.Status(); st.State != probes.StateOff || st.Reason == "" {
				t.Errorf("after Shutdown: %v", st)
			}
		})
	}
}
