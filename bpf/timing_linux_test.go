//go:build linux && (amd64 || arm64)

package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/verdict-obs/verdict/internal/nanosleep"
	"github.com/verdict-obs/verdict/internal/testutil"
)

// childEnv selects a helper mode when the test binary re-executes itself.
const childEnv = "VERDICT_BPF_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		goleak.VerifyTestMain(m)
	case "spin":
		spinChild()
		os.Exit(0)
	default:
		os.Exit(2)
	}
}

// spinChild prints the goroutine key of a thread-locked goroutine, waits for
// a line on stdin, makes network-class system calls (getsockname on a bad
// fd) and short sleeps on that goroutine for a while, then prints its thread
// IDs.
func spinChild() {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		fmt.Printf("g %d\n", getg())
		bufio.NewReader(os.Stdin).ReadString('\n')
		ts := syscall.Timespec{Nsec: int64(time.Millisecond)}
		for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
			for range 100 {
				unix.RawSyscall(unix.SYS_GETSOCKNAME, ^uintptr(0), 0, 0)
			}
			syscall.Nanosleep(&ts, nil)
		}
		close(done)
	}()
	<-done
	ents, _ := os.ReadDir("/proc/self/task")
	var tids []string
	for _, e := range ents {
		tids = append(tids, e.Name())
	}
	fmt.Printf("tids %s\n", strings.Join(tids, " "))
}

func TestPreflight(t *testing.T) {
	p := Check()
	t.Logf("%+v", p)
	if p.Err != nil {
		if testutil.CI() {
			t.Fatalf("preflight under CI: %v", p.Err)
		}
		if p.Reason == "" || !(errors.Is(p.Err, ErrNotSupported) || errors.Is(p.Err, os.ErrPermission)) {
			t.Errorf("failed preflight without reason or sentinel: %+v", p)
		}
		t.Skipf("eBPF unavailable: %s", p.Reason)
	}
	if !p.Linux || !p.BTF || !p.RawTracepoint || !p.Mmapable || p.Reason != "" {
		t.Errorf("preflight OK but fields say otherwise: %+v", p)
	}
	if !(p.CapBPF && p.CapPerfmon) && !p.CapSysAdmin {
		t.Errorf("preflight OK without capabilities: %+v", p)
	}
	if Check() != p {
		t.Error("second Check differs: not cached")
	}
}

func TestLockdownMode(t *testing.T) {
	for in, want := range map[string]string{
		"none [integrity] confidentiality\n": "integrity",
		"[none] integrity confidentiality":   "none",
		"garbage":                            "",
	} {
		if got := lockdownMode(in); got != want {
			t.Errorf("lockdownMode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTimingAttribution(t *testing.T) {
	tm := requireTiming(t, nil)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	begin := time.Now()
	if !tm.Begin(trace(1), span(1)) {
		t.Fatal("Begin: false")
	}
	const calls = 1000
	for range calls {
		unix.Getppid()
	}
	f, err := os.CreateTemp(t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for range 8 {
		f.Write(buf)
	}
	f.Sync()
	f.Close()
	t0 := time.Now()
	intr := nanosleep.Block(50 * time.Millisecond)
	slept := time.Since(t0)
	c, ok := tm.End(span(1))
	wall := time.Since(begin)
	if !ok {
		t.Fatal("End: false")
	}
	t.Logf("%+v (nanosleep interrupted %d times)", c, intr)
	if got, want := c.Syscalls[SyscallOther], uint64(calls+1+intr); got < want || got > want+50 {
		t.Errorf("other syscalls = %d, want about %d (getppid + nanosleep)", got, want)
	}
	if got := c.Syscalls[SyscallFile]; got < 10 {
		t.Errorf("file syscalls = %d, want >= 10 (open, 8 writes, fsync, close)", got)
	}
	if c.OffCPU < 45*time.Millisecond || c.OffCPU > c.TotalSyscallTime() {
		t.Errorf("off-CPU = %v, want between 45ms and the time in syscalls %v", c.OffCPU, c.TotalSyscallTime())
	}
	// The sleep blocks at least 50ms; the kernel measures inside the span
	// (how much more depends on the machine's load, not on the mechanism).
	if c.SyscallTime[SyscallOther] < 50*time.Millisecond || c.TotalSyscallTime() > wall {
		t.Errorf("other syscall time = %v (all syscalls %v), want >= 50ms (slept %v) and <= the span's %v",
			c.SyscallTime[SyscallOther], c.TotalSyscallTime(), slept, wall)
	}
	// After End, the goroutine's syscalls go nowhere.
	if _, ok := tm.End(span(1)); ok {
		t.Error("second End reported ok")
	}
	if n := tm.tab.open(); n != 0 {
		t.Errorf("%d spans still open", n)
	}
}

// TestPIDFilter runs the same binary in a second process, publishes that
// process's goroutine key in our table, and checks that none of its system
// calls or threads reach our maps.
func TestPIDFilter(t *testing.T) {
	tm := requireTiming(t, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=spin")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	if !out.Scan() {
		t.Fatalf("child: no goroutine key: %v", cmd.Wait())
	}
	var g uint64
	if _, err := fmt.Sscanf(out.Text(), "g %d", &g); err != nil || g == 0 {
		t.Fatalf("child said %q", out.Text())
	}
	if !tm.tab.begin(g, trace(2), span(2)) {
		t.Fatal("publish child key: false")
	}
	fmt.Fprintln(stdin, "go")
	var tids []string
	for out.Scan() {
		if rest, ok := strings.CutPrefix(out.Text(), "tids "); ok {
			tids = strings.Fields(rest)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	// The child's key is a g address in its own address space; the same
	// binary allocates its goroutines alike, so one of ours may have the
	// same address, and what our goroutine does is rightly ours. The child's
	// signature is tens of thousands of network-class calls, which this
	// process does not make during the test: none of them may arrive.
	c, _ := tm.End(span(2))
	if c.Syscalls[SyscallNetwork] != 0 {
		t.Errorf("another process's activity reached our slot: %+v", c)
	}
	if len(tids) == 0 {
		t.Fatal("child reported no threads")
	}
	var tid uint32
	var th schedThread
	for it := tm.objs.Threads.Iterate(); it.Next(&tid, &th); {
		for _, s := range tids {
			if s == strconv.Itoa(int(tid)) {
				t.Errorf("child thread %d in our thread map", tid)
			}
		}
	}
}

func TestTimingAllocs(t *testing.T) {
	tm := requireTiming(t, nil)
	allocs := testing.AllocsPerRun(1000, func() {
		tm.Begin(trace(1), span(1))
		tm.End(span(1))
	})
	if allocs != 0 {
		t.Errorf("Begin+End allocate %v times", allocs)
	}
}

func TestCloseReleasesFDs(t *testing.T) {
	if p := Check(); p.Err != nil {
		requireTiming(t, nil) // skips or fails with the reason
	}
	before := countFDs(t)
	tm, err := LoadTiming(nil)
	if err != nil {
		t.Fatal(err)
	}
	if during := countFDs(t); during <= before {
		t.Errorf("fds while loaded = %d, before = %d: nothing loaded?", during, before)
	}
	if err := tm.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tm.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if after := countFDs(t); after != before {
		t.Errorf("fds after Close = %d, before = %d", after, before)
	}
	if tm.Begin(trace(1), span(1)) {
		t.Error("Begin after Close")
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestKernelEventRate drives one goroutine through cheap system calls as
// fast as it can (two kernel events each: sys_enter and sys_exit) and checks
// that the kernel counted every one. 10 s, or 1 s with -short. The call is
// getsockname(-1) (fails with EBADF at once): the only network-class call
// this goroutine makes, so the count must match exactly.
func TestKernelEventRate(t *testing.T) {
	tm := requireTiming(t, nil)
	d := 10 * time.Second
	if testing.Short() {
		d = time.Second
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tm.Begin(trace(3), span(3))
	var n uint64
	start := time.Now()
	for deadline := start.Add(d); time.Now().Before(deadline); {
		for range 1000 {
			unix.RawSyscall(unix.SYS_GETSOCKNAME, ^uintptr(0), 0, 0)
		}
		n += 1000
	}
	elapsed := time.Since(start)
	c, _ := tm.End(span(3))
	rate := float64(2*n) / elapsed.Seconds()
	t.Logf("%d getsockname in %v: %.2fM kernel events/s; kernel counted %d network syscalls (%+v); lost %+v",
		n, elapsed, rate/1e6, c.Syscalls[SyscallNetwork], c.Syscalls, tm.Stats())
	if got := c.Syscalls[SyscallNetwork]; got != n {
		t.Errorf("kernel counted %d syscalls, made %d", got, n)
	}
	if s := tm.Stats(); s.Lost() != 0 {
		t.Errorf("lost: %+v", s)
	}
}

func BenchmarkTimingBeginEnd(b *testing.B) {
	tm := requireTiming(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		tm.Begin(trace(1), span(1))
		tm.End(span(1))
	}
}

// TestCalibrationDetectsWrongKey: when user space and the kernel disagree on
// the goroutine key, calibration refuses with ErrNotSupported and a reason.
func TestCalibrationDetectsWrongKey(t *testing.T) {
	tm := requireTiming(t, nil)
	err := tm.calibrate(func() uintptr { return getg() + 64 })
	if !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), "attributed 0 of 64") {
		t.Fatalf("calibration with a wrong key: %v", err)
	}
	t.Log(Reason(err))
	if err := tm.calibrate(getg); err != nil {
		t.Fatalf("calibration with the right key: %v", err)
	}
}

// TestStaleThreadStateIsIgnored: a span withdrawn while its goroutine is
// blocked in a system call leaves per-thread state behind in the kernel
// (with nothing published, the programs skip the system call's exit). When
// the same goroutine publishes again and then parks, that stale state must
// not turn the parked time into off-CPU time of the new span.
func TestStaleThreadStateIsIgnored(t *testing.T) {
	tm := requireTiming(t, nil)
	inSleep := make(chan struct{})
	ended := make(chan struct{})
	park := make(chan struct{})
	type result struct {
		c            Counters
		wall, parked time.Duration
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tm.Begin(trace(4), span(4))
		close(inSleep)
		nanosleep.Block(60 * time.Millisecond) // span 4 ends during this call
		<-ended
		begin := time.Now()
		tm.Begin(trace(5), span(5))
		t0 := time.Now()
		<-park // parked in the runtime: the locked thread sleeps on g0
		parked := time.Since(t0)
		c, _ := tm.End(span(5))
		done <- result{c, time.Since(begin), parked}
	}()
	<-inSleep
	time.Sleep(20 * time.Millisecond)
	tm.End(span(4))
	close(ended)
	const park60 = 60 * time.Millisecond
	time.Sleep(park60)
	close(park)
	r := <-done
	t.Logf("span 5 (%v, parked %v): %+v", r.wall, r.parked, r.c)
	// The stale state would turn the parked time into off-CPU time. What
	// the span may legitimately get is the run-queue wait of its running
	// moments, which the machine's load decides: only the span's duration
	// bounds it.
	if r.c.OffCPU >= park60/2 || r.c.OffCPU+r.c.RunQueue > r.wall {
		t.Errorf("parked time attributed to the new span: off-CPU %v, run queue %v, in a span of %v parked >= %v",
			r.c.OffCPU, r.c.RunQueue, r.wall, park60)
	}
}

// TestTimingNoSyscalls: without system call tracing, blocking time still
// reaches the span through the goroutine in TLS, parked time does not, and
// no system call is counted.
func TestTimingNoSyscalls(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		if _, err := LoadTiming(&TimingOptions{NoSyscalls: true}); !errors.Is(err, ErrNotSupported) {
			t.Fatalf("NoSyscalls on %s: %v, want ErrNotSupported", runtime.GOARCH, err)
		}
		return
	}
	tm := requireTiming(t, &TimingOptions{NoSyscalls: true})
	if tm.Syscalls() {
		t.Fatal("Syscalls() = true with NoSyscalls")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tm.Begin(trace(6), span(6))
	// Blocked for the whole 50ms even when a signal interrupts nanosleep
	// (an EINTR before the thread blocked once made this span empty).
	intr := nanosleep.Block(50 * time.Millisecond)
	for range 1000 {
		unix.Getppid()
	}
	blocked, _ := tm.End(span(6))

	const park = 50 * time.Millisecond
	tm.Begin(trace(6), span(7))
	time.Sleep(park) // parks: the thread sleeps on g0
	parked, _ := tm.End(span(7))
	t.Logf("nanosleep (interrupted %d times): %+v; time.Sleep: %+v", intr, blocked, parked)
	if blocked.OffCPU < 45*time.Millisecond || blocked.TotalSyscalls() != 0 {
		t.Errorf("nanosleep 50ms: off-CPU %v, %d syscalls counted; want ~50ms and none", blocked.OffCPU, blocked.TotalSyscalls())
	}
	// Parked time is nobody's: were it attributed, off-CPU would be about
	// the 50ms park (a page fault while running may block a little).
	if parked.OffCPU >= park/2 {
		t.Errorf("time.Sleep: off-CPU %v, want ~0 (the park is %v)", parked.OffCPU, park)
	}
}
