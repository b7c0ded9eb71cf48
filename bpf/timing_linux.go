//go:build linux && (amd64 || arm64)

package bpf

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/verdict-obs/verdict/internal/nanosleep"
)

// Timing measures kernel time per span: four programs on the BTF-enabled raw
// tracepoints sys_enter, sys_exit, sched_switch and sched_wakeup, filtered to
// this process, attribute system calls, off-CPU time and run-queue wait to
// the goroutine keys published through [Timing.Begin].
//
// Begin and End never make a system call: the goroutine key table is memory
// shared with the kernel (a memory-mapped BPF array), and End reads the
// counters from it. All methods are safe for concurrent use; after Close,
// Begin and End are no-ops.
type Timing struct {
	tab      *table
	objs     schedObjects
	links    []link.Link
	slotMem  []byte
	statsMem []byte
	st       *stats
	syscalls bool // sys_enter/sys_exit attached

	closeOnce sync.Once
	closeErr  error
}

// LoadTiming runs the preflight checks, loads and attaches the programs, and
// calibrates the goroutine key: a known goroutine makes known system calls
// and the kernel must attribute exactly those to it. Every error wraps
// [ErrNotSupported] or [os.ErrPermission]; nothing stays loaded after an
// error.
func LoadTiming(opts *TimingOptions) (_ *Timing, err error) {
	if p := Check(); p.Err != nil {
		return nil, p.Err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", asUnsupported(err))
	}

	spec, err := loadSched()
	if err != nil {
		return nil, fmt.Errorf("load sched spec: %w", asUnsupported(err))
	}
	n := slotCount(opts)
	spec.Maps[schedMapSlots].MaxEntries = uint32(n)

	var ns unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &ns); err != nil {
		return nil, fmt.Errorf("stat pid namespace: %w", asUnsupported(err))
	}
	vars := []struct {
		name  string
		value any
	}{
		{schedVarNsDev, uint64(ns.Dev)},
		{schedVarNsIno, ns.Ino},
		{schedVarNsTgid, uint32(os.Getpid())},
		{schedVarSlotMask, uint32(n - 1)},
		{schedVarSyscallClass, syscallClasses()},
	}
	for _, v := range vars {
		if err := spec.Variables[v.name].Set(v.value); err != nil {
			return nil, fmt.Errorf("set %s: %w", v.name, asUnsupported(err))
		}
	}

	// gc_assist (attached by package bpf/gcassist) shares one
	// uprobe_multi link for all its instructions where the kernel has them.
	if ps := spec.Programs["gc_assist"]; ps != nil && features.HaveBPFLinkUprobeMulti() == nil {
		ps.AttachType = ebpf.AttachTraceUprobeMulti
	}

	t := &Timing{}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		return nil, fmt.Errorf("load sched programs: %w", asUnsupported(err))
	}

	size := n * int(unsafe.Sizeof(slot{}))
	t.slotMem, err = unix.Mmap(t.objs.Slots.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap slots: %w", asUnsupported(err))
	}
	t.statsMem, err = unix.Mmap(t.objs.StatsMap.FD(), 0, int(unsafe.Sizeof(stats{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap stats: %w", asUnsupported(err))
	}
	t.st = (*stats)(unsafe.Pointer(&t.statsMem[0]))
	spans := 0
	if opts != nil {
		spans = opts.Spans
	}
	t.tab = newTable(unsafe.Slice((*slot)(unsafe.Pointer(&t.slotMem[0])), n), &t.st.Published, spans)

	type attachment struct {
		tp   string
		prog *ebpf.Program
	}
	attach := []attachment{
		{"sched_switch", t.objs.SchedSwitch},
		{"sched_wakeup", t.objs.SchedWakeup},
	}
	t.syscalls = opts == nil || !opts.NoSyscalls
	if t.syscalls {
		attach = append(attach, attachment{"sys_enter", t.objs.SysEnter}, attachment{"sys_exit", t.objs.SysExit})
	} else if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("kernel timing without system call tracing needs the goroutine in TLS (amd64), this is %s: %w", runtime.GOARCH, ErrNotSupported)
	}
	for _, a := range attach {
		l, err := link.AttachTracing(link.TracingOptions{Program: a.prog})
		if err != nil {
			return nil, fmt.Errorf("attach tracepoint %s: %w", a.tp, asUnsupported(err))
		}
		t.links = append(t.links, l)
	}

	calibrate := t.calibrate
	if !t.syscalls {
		calibrate = t.calibrateSched
	}
	if err := calibrate(getg); err != nil {
		return nil, err
	}
	t.tab.resetTotals()
	return t, nil
}

// AssistProgram is the loaded program that package bpf/gcassist attaches
// to runtime.gcAssistAlloc; Close releases it. Nil after Close.
func (t *Timing) AssistProgram() *ebpf.Program { return t.objs.GcAssist }

// ResetAssists forgets every assist entry the gc_assist program recorded
// and has not matched with a return yet. Package bpf/gcassist calls it
// before attaching: an entry left by a call whose return was not seen
// (the probes were detached in between) would otherwise be matched with a
// later return of the same goroutine. Call it only while gc_assist is not
// attached.
func (t *Timing) ResetAssists() error {
	m := t.objs.Assists
	if m == nil {
		return nil
	}
	var key uint64
	var keys []uint64
	it := m.Iterate()
	var val schedAssist
	for it.Next(&key, &val) {
		keys = append(keys, key)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("reset assists: %w", err)
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("reset assists: %w", err)
		}
	}
	return nil
}

// Syscalls reports whether system calls are traced (see
// [TimingOptions.NoSyscalls]).
func (t *Timing) Syscalls() bool { return t.syscalls }

// calibrateSched is the calibration without system call tracing: a
// thread-locked goroutine blocks in nanosleep, and the kernel must have
// attributed at least half of that time to its key as off-CPU time.
func (t *Timing) calibrateSched(key func() uintptr) error {
	const sleeps, each = 10, time.Millisecond
	done := make(chan Counters, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		span := [8]byte{'c', 'a', 'l', 'i', 'b', 'r', 'a', 't'}
		t.tab.begin(uint64(key()), [16]byte{'v', 'e', 'r', 'd', 'i', 'c', 't'}, span)
		for range sleeps {
			nanosleep.Block(each) // resumes after the runtime's SIGURG
		}
		c, _ := t.tab.end(span)
		done <- c
	}()
	c := <-done
	if c.OffCPU < sleeps*each/2 {
		return fmt.Errorf("calibration: the kernel attributed %v of %v blocked in nanosleep to the calling goroutine: %w",
			c.OffCPU, sleeps*each, ErrNotSupported)
	}
	return nil
}

// asUnsupported wraps err with ErrNotSupported unless it is a permission
// problem.
func asUnsupported(err error) error {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, ErrNotSupported) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrNotSupported, err)
}

// calibrationCalls is how many getppid calls calibration makes.
const calibrationCalls = 64

// calibrate publishes key() on a thread-locked goroutine, makes known system
// calls there and checks that the kernel attributed exactly those to it. key
// is getg except in tests.
func (t *Timing) calibrate(key func() uintptr) error {
	type result struct {
		c      Counters
		ok     bool
		fsOK   uint64
		fsBad  uint64
		hostID uint64
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		g := uint64(key())
		span := [8]byte{'c', 'a', 'l', 'i', 'b', 'r', 'a', 't'}
		atomic.StoreUint64(&t.st.CalibKey, g)
		ok := t.tab.begin(g, [16]byte{'v', 'e', 'r', 'd', 'i', 'c', 't'}, span)
		for range calibrationCalls {
			unix.Getppid()
		}
		c, _ := t.tab.end(span)
		atomic.StoreUint64(&t.st.CalibKey, 0)
		done <- result{c, ok, atomic.LoadUint64(&t.st.CalibFsOk), atomic.LoadUint64(&t.st.CalibFsBad), atomic.LoadUint64(&t.st.HostTgid)}
	}()
	r := <-done
	switch got := r.c.Syscalls[SyscallOther]; {
	case !r.ok:
		return fmt.Errorf("calibration: goroutine key not published: %w", ErrNotSupported)
	case r.hostID == 0:
		return fmt.Errorf("calibration: the kernel did not recognise this process (pid namespace filter): %w", ErrNotSupported)
	case got < calibrationCalls || got > 2*calibrationCalls:
		return fmt.Errorf("calibration: the kernel attributed %d of %d system calls to the calling goroutine: %w", got, calibrationCalls, ErrNotSupported)
	case runtime.GOARCH == "amd64" && (r.fsBad > 0 || r.fsOK < calibrationCalls):
		return fmt.Errorf("calibration: goroutine in TLS (fsbase-8) matched the register in %d of %d system calls: %w",
			r.fsOK, r.fsOK+r.fsBad, ErrNotSupported)
	}
	return nil
}

// Begin publishes the calling goroutine as working for span (trace, span):
// from now until the matching [Timing.End], or until another span begins on
// this goroutine, the kernel attributes this goroutine's time to it. It
// reports false when the span will get no kernel time (table full, span
// already open, Timing closed); the drop is counted in [Timing.Stats].
// Allocation-free, no system call.
func (t *Timing) Begin(trace [16]byte, span [8]byte) bool {
	return t.tab.begin(uint64(getg()), trace, span)
}

// End withdraws span and returns the kernel time it owned. It may run on
// any goroutine. ok is false when Begin did not publish span.
// Allocation-free, no system call.
func (t *Timing) End(span [8]byte) (c Counters, ok bool) {
	return t.tab.end(span)
}

// EndTree is End that also returns the kernel time of span's subtree: its
// own plus that of every span enclosed in it on the same goroutine that
// ended before it (a request's server span and its database spans, for
// instance). Spans started on other goroutines are not included.
func (t *Timing) EndTree(span [8]byte) (own, tree Counters, ok bool) {
	return t.tab.endTree(span)
}

// Totals returns the kernel time of every span that ended since LoadTiming
// returned (calibration's excluded). No system call.
func (t *Timing) Totals() TimingTotals { return t.tab.totals() }

// Stats returns the drop counters. No system call.
func (t *Timing) Stats() TimingStats {
	s := TimingStats{SlotDrops: t.tab.slotDrops.Load(), SpanDrops: t.tab.spanDrops.Load()}
	t.tab.mu.Lock()
	if !t.tab.closed {
		s.ThreadDrops = atomic.LoadUint64(&t.st.ThreadDrops)
	}
	t.tab.mu.Unlock()
	return s
}

// Close detaches the programs and releases every map, program and mapping.
// It is idempotent; Begin and End become no-ops.
func (t *Timing) Close() error {
	t.closeOnce.Do(func() {
		var errs []error
		for i := len(t.links) - 1; i >= 0; i-- {
			errs = append(errs, t.links[i].Close())
		}
		t.links = nil
		if t.tab != nil {
			t.tab.close() // no Begin/End touches the mappings after this
		}
		if t.slotMem != nil {
			errs = append(errs, unix.Munmap(t.slotMem))
			t.slotMem = nil
		}
		if t.statsMem != nil {
			errs = append(errs, unix.Munmap(t.statsMem))
			t.statsMem = nil
		}
		errs = append(errs, t.objs.Close())
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
