//go:build linux && (amd64 || arm64)

package stw

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/bpf/internal/uprobe"
	"github.com/verdict-obs/verdict/bpf/monoclock"
)

// Attach cookies telling stw_probe which probe fired (STW_COOKIE_* in stw.c).
const (
	cookieBegin = 1
	cookieEnd   = 2
)

// Options tunes [Open]. A nil *Options means defaults.
type Options struct {
	// StopAtFirstInstruction puts the probe on the first instruction of
	// runtime.stopTheWorldWithSema, which the kernel single-steps (about
	// 12x the cost of the default, an instruction it emulates). For
	// measurements only.
	StopAtFirstInstruction bool
}

// Tracer owns the loaded programs, the two uprobes and the ring buffer
// reader. All methods are safe for concurrent use.
type Tracer struct {
	objs   stwObjects
	set    *uprobe.Set
	reader *ringbuf.Reader
	// life guards the shared memory (ring buffer, global variables)
	// against Close unmapping it under a reader: readers hold it shared.
	life    sync.RWMutex
	mu      sync.Mutex // serialises Drain
	rec     ringbuf.Record
	counted bool // Foreign is meaningful
	closed  bool // guarded by life
}

// Open runs the preflight checks ([bpf.Check]), loads the programs and
// attaches them to the own process.
//
// The error wraps bpf.ErrNotSupported when this kernel or executable cannot
// do it, os.ErrPermission when privileges are missing.
func Open(opts *Options) (*Tracer, error) {
	if p := bpf.Check(); p.Err != nil {
		return nil, p.Err
	}
	if opts == nil {
		opts = &Options{}
	}
	spec, err := loadStw()
	if err != nil {
		return nil, fmt.Errorf("load stw spec: %w", err)
	}
	// The in-kernel tgid check (which counts foreign hits) compares with
	// the tgid in the initial PID namespace; os.Getpid() is only that
	// when we are in it. Elsewhere the perf PID filter alone protects us.
	tgid := uint32(0)
	if inInitPIDNamespace() {
		tgid = uint32(os.Getpid())
	}
	if err := spec.Variables[stwVarTargetTgid].Set(tgid); err != nil {
		return nil, fmt.Errorf("set target tgid: %w", err)
	}

	// One link for every probed instruction where the kernel allows it:
	// detaching a perf-event uprobe waits for RCU grace periods, ~100 ms
	// per instruction here, a uprobe_multi link waits once.
	uprobe.PrepareSpec(spec)

	t := &Tracer{counted: tgid != 0}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("load stw programs: needs root or CAP_BPF+CAP_PERFMON: %w", err)
		}
		return nil, fmt.Errorf("load stw programs: %w", classify(err))
	}
	t.set, err = uprobe.Attach([]uprobe.Probe{
		{Symbol: SymbolStop, Placement: stopPlacement(opts), Program: t.objs.StwProbe, Cookie: cookieBegin, Policy: uprobe.Required},
		{Symbol: SymbolEnd, Placement: uprobe.Return, Program: t.objs.StwProbe, Cookie: cookieEnd, Policy: uprobe.Required},
	}, nil)
	if err != nil {
		t.objs.Close()
		return nil, err
	}
	t.reader, err = ringbuf.NewReader(t.objs.StwEvents)
	if err != nil {
		t.set.Close()
		t.objs.Close()
		return nil, fmt.Errorf("open ring buffer reader: %w", classify(err))
	}
	// A deadline in the past makes ReadInto return what is buffered and
	// then os.ErrDeadlineExceeded instead of blocking.
	t.reader.SetDeadline(time.Unix(1, 0))
	return t, nil
}

func classify(err error) error {
	if errors.Is(err, ebpf.ErrNotSupported) && !errors.Is(err, bpf.ErrNotSupported) {
		return fmt.Errorf("%w: %w", bpf.ErrNotSupported, err)
	}
	return err
}

func inInitPIDNamespace() bool {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
		return false
	}
	const procPIDInitIno = 0xEFFFFFFC // include/linux/proc_ns.h
	return st.Ino == procPIDInitIno
}

// attached describes where the probes sit (tests).
func (t *Tracer) attached() []uprobe.Attachment { return t.set.Attached() }

func stopPlacement(opts *Options) uprobe.Placement {
	if opts.StopAtFirstInstruction {
		return uprobe.EntryFirstInstruction
	}
	return uprobe.Entry
}

// Pending reports whether the ring buffer holds unread windows. It reads
// shared memory only: no system call, no allocation.
func (t *Tracer) Pending() bool {
	t.life.RLock()
	defer t.life.RUnlock()
	return !t.closed && t.reader.AvailableBytes() > 0
}

// Drain calls fn for every window in the ring buffer, oldest first, without
// blocking, and returns how many it read. Windows arrive in the order they
// ended. It does not allocate.
func (t *Tracer) Drain(fn func(Window)) (int, error) {
	t.life.RLock()
	defer t.life.RUnlock()
	if t.closed {
		return 0, fmt.Errorf("drain stop-the-world windows: %w", os.ErrClosed)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for {
		err := t.reader.ReadInto(&t.rec)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return n, nil
			}
			return n, fmt.Errorf("drain stop-the-world windows: %w", err)
		}
		if len(t.rec.RawSample) < int(unsafe.Sizeof(stwStwEvent{})) {
			continue // cannot happen with our program; never trust it blindly
		}
		ev := (*stwStwEvent)(unsafe.Pointer(&t.rec.RawSample[0]))
		n++
		fn(Window{Start: int64(ev.StartNs), End: int64(ev.EndNs), Reason: Reason(ev.Reason)})
	}
}

// Stats reads the kernel-side counters (shared memory, no system call).
func (t *Tracer) Stats() Stats {
	var s Stats
	t.life.RLock()
	defer t.life.RUnlock()
	if t.closed {
		return s
	}
	_ = t.objs.Windows.Get(&s.Windows)
	_ = t.objs.Lost.Get(&s.Lost)
	_ = t.objs.Unmatched.Get(&s.Unmatched)
	if t.counted {
		_ = t.objs.Foreign.Get(&s.Foreign)
	}
	return s
}

// Close detaches the probes and releases the programs, maps and reader. It
// is idempotent and waits for Drain, Pending and Stats calls in progress;
// afterwards they return an error, false and zeros.
func (t *Tracer) Close() error {
	t.life.Lock()
	defer t.life.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	// Detach first so nothing writes while the reader goes away.
	return errors.Join(t.set.Close(), t.reader.Close(), t.objs.Close())
}

// MonotonicNow returns CLOCK_MONOTONIC in nanoseconds, the clock of
// [Window] times (0 if it cannot be read). Probes converting span times
// use [monoclock.Clock], which pairs the two clocks tightly.
func MonotonicNow() int64 {
	n, _ := monoclock.Now()
	return n
}
