package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

// fault is one thing that goes wrong in the shop, the verdict it should
// draw, and how the demo injects and removes it. Every fault is real: the
// back end's port really refuses connections, the index is really
// dropped, other processes really take the CPU.
type fault struct {
	name   string // the -fault flag's value
	title  string // for the table
	what   string // what happens, in one line
	rule   string // the verdict it should draw
	inject func(context.Context, *system) (remove func() error, err error)
}

func faults() []fault {
	hogs := hogCount()
	return []fault{
		{
			name: "gc", title: "GC pressure", rule: rules.IDGCDelay,
			what: "GOGC=5 (to save memory) over the 70 MB in-memory inventory, and a new report format allocates 15 MB per request (40 ms deadline)",
			inject: func(_ context.Context, s *system) (func() error, error) {
				old := debug.SetGCPercent(5)
				s.heavy.Store(true)
				return func() error {
					s.heavy.Store(false)
					debug.SetGCPercent(old)
					return nil
				}, nil
			},
		},
		{
			name: "refused", title: "refusing downstream", rule: rules.IDDownstreamRefused,
			what: "the gRPC back end's process is gone: its port refuses connections",
			inject: func(_ context.Context, s *system) (func() error, error) {
				s.back.stop()
				return s.back.restart, nil
			},
		},
		{
			name: "slow", title: "slow downstream", rule: rules.IDDownstreamSlow,
			what: "the pricing service answers in 250 ms instead of 2 ms",
			inject: func(_ context.Context, s *system) (func() error, error) {
				s.pricing.delay.Store(int64(250 * time.Millisecond))
				return func() error { s.pricing.delay.Store(int64(2 * time.Millisecond)); return nil }, nil
			},
		},
		{
			name: "pool", title: "pool exhaustion", rule: rules.IDPoolExhausted,
			what: "checkout calls a slow payment provider (500 ms) inside its transaction: 4 pooled connections run dry",
			inject: func(_ context.Context, s *system) (func() error, error) {
				s.txHold.Store(int64(500 * time.Millisecond))
				return func() error { s.txHold.Store(0); return nil }, nil
			},
		},
		{
			name: "query", title: "slow query", rule: rules.IDSlowQuery,
			what: "the index orders(customer) is dropped: counting a customer's orders scans the table",
			inject: func(ctx context.Context, s *system) (func() error, error) {
				if _, err := s.db.ExecContext(ctx, dropIndex); err != nil {
					return nil, fmt.Errorf("drop index: %w", err)
				}
				return func() error {
					_, err := s.db.ExecContext(context.Background(), createIndex)
					return err
				}, nil
			},
		},
		{
			name: "lock", title: "lock contention", rule: rules.IDLockContention,
			what: "the catalogue refreshes itself under its mutex on every read (40 ms)",
			inject: func(_ context.Context, s *system) (func() error, error) {
				s.lockHold.Store(int64(40 * time.Millisecond))
				return func() error { s.lockHold.Store(0); return nil }, nil
			},
		},
		{
			name: "leak", title: "goroutine leak", rule: rules.IDGoroutineLeak,
			what: "every order view starts a goroutine that waits for an acknowledgement nobody sends",
			inject: func(_ context.Context, s *system) (func() error, error) {
				s.leak.Store(true)
				return func() error { s.leak.Store(false); s.stopLeaks(); return nil }, nil
			},
		},
		{
			name: "dns", title: "DNS failure", rule: rules.IDDNSFailure,
			what: "the pricing service's name stops resolving (NXDOMAIN)",
			inject: func(_ context.Context, s *system) (func() error, error) {
				s.dns.failing.Store(true)
				return func() error { s.dns.failing.Store(false); return nil }, nil
			},
		},
		{
			name: "cpu", title: "CPU starvation", rule: rules.IDCPUStarvation,
			what: fmt.Sprintf("%d other processes spin on this machine's %d CPUs", hogs, runtime.NumCPU()),
			inject: func(ctx context.Context, _ *system) (func() error, error) {
				return startHogs(ctx, hogs)
			},
		},
	}
}

func faultNames() []string {
	var out []string
	for _, f := range faults() {
		out = append(out, f.name)
	}
	return out
}

func faultByName(name string) (fault, bool) {
	for _, f := range faults() {
		if f.name == name {
			return f, true
		}
	}
	return fault{}, false
}

// The CPU-starvation fault: other processes (this program started again in
// hog mode) that spin.
const (
	hogEnv     = "VERDICT_DEMO_HOG"
	hogsPerCPU = 10
	maxHogs    = 32
)

// hogCount is how many hogs starve the demo of CPU: hogsPerCPU per CPU,
// or, on a machine already busier than that (the judge's baseline then
// formed on a starved process), 1.5 times the runnable load (the 1-minute
// load average), so that the demo's share of the CPU still drops to about
// 40 % of what it was; at most maxHogs.
func hogCount() int {
	n := hogsPerCPU * runtime.NumCPU()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		var load float64
		if _, err := fmt.Sscan(string(b), &load); err == nil && int(1.5*load) > n {
			n = int(1.5 * load)
		}
	}
	return min(n, maxHogs)
}

func startHogs(ctx context.Context, n int) (func() error, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var cmds []*exec.Cmd
	stop := func() error {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
		return nil
	}
	for range n {
		cmd := exec.CommandContext(ctx, exe)
		cmd.Env = append(os.Environ(), hogEnv+"=1")
		if err := cmd.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start a CPU hog: %w", err)
		}
		cmds = append(cmds, cmd)
	}
	return stop, nil
}

// hog spins one thread, for at most a minute (in case the demo is killed
// before it can stop it).
func hog() {
	runtime.GOMAXPROCS(1)
	end := time.Now().Add(time.Minute)
	x := 0
	for time.Now().Before(end) {
		for i := range 1 << 20 {
			x += i
		}
	}
	_ = x
}
