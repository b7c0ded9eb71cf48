//go:build linux && (amd64 || arm64)

package uprobe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf/features"

	"github.com/verdict-obs/verdict/bpf"
	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/bpf/internal/uprobe/internal/counter"
	"github.com/verdict-obs/verdict/internal/testutil"
)

const helperEnv = "VERDICT_UPROBE_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		goleak.VerifyTestMain(m) // Attach waits for its goroutines; none may outlive the tests
	case "loop":
		helperLoop()
	case "setuid":
		helperSetuid()
	default:
		fmt.Fprintln(os.Stderr, "unknown helper mode")
		os.Exit(2)
	}
}

const targetSymbol = "github.com/verdict-obs/verdict/bpf/internal/uprobe.target"

var sink int

// target is a small Go function with a frame (it calls inner), so it has
// the usual stack-check prologue, and two return paths.
//
//go:noinline
func target(a, b int) int {
	if a > b {
		return inner(a - b)
	}
	return inner(b-a) + 1
}

//go:noinline
func inner(x int) int { return x ^ 1 }

func loadCounter(t testing.TB) *counter.Objects {
	t.Helper()
	c, err := counter.Load(uint32(os.Getpid()))
	if err != nil && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)) {
		err = fmt.Errorf("%w: %w", os.ErrPermission, err)
	}
	testutil.RequirePrivilege(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// loadCounterMulti loads the counter prepared for uprobe_multi links.
func loadCounterMulti(t testing.TB) *counter.Objects {
	t.Helper()
	spec, err := counter.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !PrepareSpec(spec) {
		// Not there before Linux 6.6, or no privileges for the feature probe.
		err := features.HaveBPFLinkUprobeMulti()
		if err == nil {
			t.Fatal("PrepareSpec changed nothing although uprobe_multi links work")
		}
		testutil.RequirePrivilege(t, classify(err))
	}
	c, err := counter.LoadSpec(spec, uint32(os.Getpid()))
	if err != nil && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EPERM)) {
		err = fmt.Errorf("%w: %w", os.ErrPermission, err)
	}
	testutil.RequirePrivilege(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProbesOfOneProgramShareOneLink checks the point of PrepareSpec: all
// instructions of one program on a single uprobe_multi link (whose detach
// waits for one grace period, not several per instruction), cookies telling
// the probes apart, and nothing left behind by Close.
func TestProbesOfOneProgramShareOneLink(t *testing.T) {
	c := loadCounterMulti(t)
	// Warm up: the feature probes cache their results (their fds close).
	s, err := Attach([]Probe{{Symbol: targetSymbol, Program: c.Program()}}, nil)
	testutil.RequirePrivilege(t, err)
	s.Close()

	before := countFDs(t)
	set, err := Attach([]Probe{
		{Symbol: targetSymbol, Placement: Entry, Program: c.Program(), Cookie: 1},
		{Symbol: targetSymbol, Placement: Return, Program: c.Program(), Cookie: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if during := countFDs(t); during != before+1 {
		t.Errorf("fds during %d, before %d: want exactly one link", during, before)
	}
	att := set.Attached()
	if len(att) != 2 || !att[0].Multi || !att[1].Multi || att[0].Placement != Entry || att[1].Placement != Return {
		t.Fatalf("attached %+v, want entry and return on one uprobe_multi link", att)
	}
	if len(att[1].Offsets) < 2 {
		t.Errorf("target has two return paths, got RET offsets %v", att[1].Offsets)
	}
	const calls = 1000
	for i := range calls {
		sink += target(i%3, 1) // both return paths
	}
	if got, want := c.CookieCounts(), [4]uint64{0, calls, calls, 0}; got != want {
		t.Errorf("hits by cookie %v, want %v", got, want)
	}
	if own, foreign := c.Counts(); own != 2*calls || foreign != 0 {
		t.Errorf("hits %d (foreign %d), want %d", own, foreign, 2*calls)
	}
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}
	if after := countFDs(t); after != before {
		t.Fatalf("fds after Close %d, before %d", after, before)
	}
	c.Reset()
	sink += target(1, 2)
	if own, _ := c.Counts(); own != 0 {
		t.Fatalf("%d hits after Close", own)
	}
}

// TestCookiesOnPerfLinks checks cookies on the fallback: a program not
// prepared for uprobe_multi gets one perf-event uprobe per instruction.
func TestCookiesOnPerfLinks(t *testing.T) {
	c := loadCounter(t)
	set, err := Attach([]Probe{
		{Symbol: targetSymbol, Placement: Entry, Program: c.Program(), Cookie: 1},
		{Symbol: targetSymbol, Placement: Return, Program: c.Program(), Cookie: 3},
	}, nil)
	testutil.RequirePrivilege(t, err)
	defer set.Close()
	for _, a := range set.Attached() {
		if a.Multi {
			t.Errorf("%+v on a uprobe_multi link, but the program was not prepared for it", a)
		}
	}
	const calls = 100
	for i := range calls {
		sink += target(i%3, 1)
	}
	if got, want := c.CookieCounts(), [4]uint64{0, calls, 0, calls}; got != want {
		t.Errorf("hits by cookie %v, want %v", got, want)
	}
}

func TestEntryAndReturnFireOncePerCall(t *testing.T) {
	entry, ret := loadCounter(t), loadCounter(t)
	set, err := Attach([]Probe{
		{Symbol: targetSymbol, Placement: Entry, Program: entry.Program()},
		{Symbol: targetSymbol, Placement: Return, Program: ret.Program()},
	}, nil)
	testutil.RequirePrivilege(t, err)
	defer set.Close()

	att := set.Attached()
	if len(att) != 2 {
		t.Fatalf("attached %d, want 2", len(att))
	}
	if runtime.GOARCH == "amd64" && (!att[0].Emulated || att[0].Offsets[0] == 0) {
		t.Errorf("entry probe not on an emulated instruction: %+v", att[0])
	}
	if len(att[1].Offsets) < 2 {
		t.Errorf("target has two return paths, got RET offsets %v", att[1].Offsets)
	}
	const calls = 1000
	for i := range calls {
		sink += target(i%3, 1) // both return paths
	}
	if own, foreign := entry.Counts(); own != calls || foreign != 0 {
		t.Errorf("entry hits %d (foreign %d), want %d", own, foreign, calls)
	}
	if own, foreign := ret.Counts(); own != calls || foreign != 0 {
		t.Errorf("return hits %d (foreign %d), want %d", own, foreign, calls)
	}
}

func TestFailurePolicy(t *testing.T) {
	c := loadCounter(t)
	_, err := Attach([]Probe{
		{Symbol: targetSymbol, Program: c.Program()},
		{Symbol: "no.such.function", Program: c.Program()},
	}, nil)
	if err == nil || !errors.Is(err, bpf.ErrNotSupported) {
		t.Fatalf("required missing function: got %v, want ErrNotSupported", err)
	}
	set, err := Attach([]Probe{
		{Symbol: targetSymbol, Program: c.Program()},
		{Symbol: "no.such.function", Program: c.Program(), Policy: Optional},
	}, nil)
	testutil.RequirePrivilege(t, err)
	defer set.Close()
	if len(set.Attached()) != 1 || set.Skipped() == nil {
		t.Fatalf("optional probe: attached %v skipped %v", set.Attached(), set.Skipped())
	}
	sink += target(1, 2)
	if own, _ := c.Counts(); own != 1 {
		t.Fatalf("hits %d, want 1", own)
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestCloseReleasesFDs(t *testing.T) {
	c := loadCounter(t)
	// Warm up once: cilium/ebpf caches feature probes (their fds close).
	s, err := Attach([]Probe{{Symbol: targetSymbol, Placement: Return, Program: c.Program()}}, nil)
	testutil.RequirePrivilege(t, err)
	s.Close()

	before := countFDs(t)
	s, err = Attach([]Probe{
		{Symbol: targetSymbol, Placement: Entry, Program: c.Program()},
		{Symbol: targetSymbol, Placement: Return, Program: c.Program()},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if during := countFDs(t); during <= before {
		t.Fatalf("fds during %d, before %d: nothing attached?", during, before)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if after := countFDs(t); after != before {
		t.Fatalf("fds after Close %d, before %d", after, before)
	}
}

// helperLoop calls target until stdin closes, then prints how many times
// it called it.
func helperLoop() {
	done := make(chan struct{})
	go func() {
		bufio.NewReader(os.Stdin).ReadString('\n')
		close(done)
	}()
	fmt.Println("ready")
	calls := 0
	for {
		select {
		case <-done:
			fmt.Println("calls", calls)
			os.Exit(0)
		default:
		}
		for i := range 1000 {
			sink += target(i, 3)
		}
		calls += 1000
	}
}

// TestPIDFilter runs the same binary in a second process that calls the
// probed function in a loop: none of its calls may reach our program.
func TestPIDFilter(t *testing.T) {
	t.Run("perf", func(t *testing.T) { testPIDFilter(t, loadCounter(t)) })
	t.Run("multi", func(t *testing.T) { testPIDFilter(t, loadCounterMulti(t)) })
}

func testPIDFilter(t *testing.T, c *counter.Objects) {
	set, err := Attach([]Probe{{Symbol: targetSymbol, Placement: Entry, Program: c.Program()}}, nil)
	testutil.RequirePrivilege(t, err)
	defer set.Close()

	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=loop")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewReader(stdout)
	line, _ := out.ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		t.Fatalf("helper: %q", line)
	}
	time.Sleep(200 * time.Millisecond) // the other process calls target meanwhile
	const ours = 100
	for range ours {
		sink += target(2, 1)
	}
	stdin.Close()
	line, _ = out.ReadString('\n')
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	// The other process called the probed function while the probe was
	// attached (from before it started until after it stopped): its calls
	// were there to be filtered.
	var theirs int
	if _, err := fmt.Sscanf(line, "calls %d", &theirs); err != nil || theirs == 0 {
		t.Fatalf("the other process reported %q: it must have called target", line)
	}
	if own, foreign := c.Counts(); own != ours || foreign != 0 {
		t.Fatalf("own hits %d (want %d), foreign hits %d (want 0) while the other process called target %d times", own, ours, foreign, theirs)
	}
	t.Logf("own hits %d; the other process called target %d times, none counted", ours, theirs)
}

// helperSetuid loads a program as root, drops to uid 65534 and tries to
// attach: the error must say "permission", not crash.
func helperSetuid() {
	c, err := counter.Load(uint32(os.Getpid()))
	if err != nil {
		fmt.Println("load:", err)
		os.Exit(3)
	}
	defer c.Close()
	if err := syscall.Setresgid(65534, 65534, 65534); err != nil {
		fmt.Println("setgid:", err)
		os.Exit(3)
	}
	if err := syscall.Setresuid(65534, 65534, 65534); err != nil {
		fmt.Println("setuid:", err)
		os.Exit(3)
	}
	_, err = Attach([]Probe{{Symbol: targetSymbol, Program: c.Program()}}, nil)
	fmt.Printf("permission=%v notsupported=%v err=%v\n",
		errors.Is(err, os.ErrPermission), errors.Is(err, bpf.ErrNotSupported), err)
}

func TestUnprivilegedAttachFailsCleanly(t *testing.T) {
	testutil.RequireRoot(t, "load the program before dropping privileges")
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=setuid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	if !strings.Contains(string(out), "permission=true") && !strings.Contains(string(out), "notsupported=true") {
		t.Fatalf("unprivileged Attach error is neither ErrPermission nor ErrNotSupported: %s", out)
	}
}

func benchmarkPlacement(b *testing.B, p Placement, probe bool) {
	c := loadCounter(b)
	if probe {
		set, err := Attach([]Probe{{Symbol: targetSymbol, Placement: p, Program: c.Program()}}, nil)
		testutil.RequirePrivilege(b, err)
		defer set.Close()
		b.ReportMetric(boolMetric(set.Attached()[0].Emulated), "emulated")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sink += target(i, 1)
	}
	b.StopTimer()
	own, _ := c.Counts()
	switch {
	case !probe:
	case p == EntryFirstInstruction:
		// The first instruction runs again whenever the prologue's
		// stack check fails (stack growth, or cooperative preemption,
		// which poisons the guard) and the call restarts at the entry:
		// at least once per call, "extra-hits" times more.
		if own < uint64(b.N) {
			b.Fatalf("hits %d, want >= %d", own, b.N)
		}
		b.ReportMetric(float64(own-uint64(b.N)), "extra-hits")
	case own != uint64(b.N):
		b.Fatalf("hits %d, want %d", own, b.N)
	}
}

func boolMetric(v bool) float64 {
	if v {
		return 1
	}
	return 0
}

// BenchmarkUprobe compares the cost per call of a probed Go function with the
// probe on the emulated instruction and on the single-stepped first one.
func BenchmarkUprobe(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchmarkPlacement(b, Entry, false) })
	b.Run("entry-emulated", func(b *testing.B) { benchmarkPlacement(b, Entry, true) })
	b.Run("entry-first-instruction", func(b *testing.B) { benchmarkPlacement(b, EntryFirstInstruction, true) })
	b.Run("return", func(b *testing.B) { benchmarkPlacement(b, Return, true) })
}

// BenchmarkAttachClose measures one Attach and Close of an entry and a return
// probe: with one perf-event uprobe per instruction, each detach waits for
// RCU grace periods; a uprobe_multi link waits once.
func BenchmarkAttachClose(b *testing.B) {
	for _, mode := range []struct {
		name string
		load func(testing.TB) *counter.Objects
	}{{"perf", loadCounter}, {"multi", loadCounterMulti}} {
		b.Run(mode.name, func(b *testing.B) {
			c := mode.load(b)
			probes := []Probe{
				{Symbol: targetSymbol, Placement: Entry, Program: c.Program()},
				{Symbol: targetSymbol, Placement: Return, Program: c.Program()},
			}
			links := 0
			for b.Loop() {
				set, err := Attach(probes, nil)
				testutil.RequirePrivilege(b, err)
				links = len(set.links)
				if err := set.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(links), "links")
		})
	}
}
