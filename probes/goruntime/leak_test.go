package goruntime

import (
	"context"
	"errors"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

//go:noinline
func parkInSelect(a, b chan struct{}) {
	select {
	case <-a:
	case <-b:
	}
}

type parker struct{ ch chan struct{} }

//go:noinline
func (p *parker) park() { <-p.ch }

//go:noinline
func parkGeneric[T any](ch chan T) { <-ch }

//go:noinline
func spin(stop *atomic.Bool) {
	for !stop.Load() {
	}
}

// labelled runs f on a goroutine carrying the pprof label key=value (as a
// test helper labels a test's goroutine) and waits for it.
func labelled(key, value string, f func()) {
	done := make(chan struct{})
	go func() {
		pprof.Do(context.Background(), pprof.Labels(key, value), func(context.Context) { f() })
		close(done) // pprof.Do has taken the labels off again: this goroutine no longer counts
	}()
	<-done
}

func leakOf(res Blocking, fn string) (BlockedStack, bool) {
	for _, l := range res.Leaks {
		if strings.Contains(l.Stack, fn) {
			return l, true
		}
	}
	return BlockedStack{}, false
}

// checkUntil retries CheckLeaks until cond holds (goroutines need a moment
// to park), bounded.
func checkUntil(t *testing.T, p *Probe, cond func(Blocking) bool) Blocking {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, err := p.CheckLeaks()
		if err != nil {
			t.Fatal(err)
		}
		if cond(res) || time.Now().After(deadline) {
			return res
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLeakCheckAgainstBaselineWithLabel(t *testing.T) {
	const key, value = "verdict.test", "TestLeakCheckAgainstBaselineWithLabel"
	p := startedProbe(t, WithGoroutineLabel(key, value), WithBlocking(0, 0))
	ch := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(ch); wg.Wait() }()
	// Goroutines parked before the baseline and unlabelled ones on the
	// same function are not this owner's leaks.
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); parkLeaky(ch) }()
	}
	labelled(key, value, func() {
		wg.Add(1)
		go func() { defer wg.Done(); parkSteady(ch) }()
	})
	waitParked(t, newBlockAnalyzer(10, DefaultStackDumpLimit, 4, 5), "parkSteady", 1)
	var res Blocking
	labelled(key, value, func() {
		if err := p.SetLeakBaseline(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			wg.Add(1)
			go func() { defer wg.Done(); parkLeaky(ch) }()
		}
		res = checkUntil(t, p, func(b Blocking) bool { l, _ := leakOf(b, "parkLeaky"); return l.Growth >= 3 })
	})
	l, ok := leakOf(res, "parkLeaky")
	if !ok || l.Growth != 3 || l.Count != 3 || l.Class != BlockChannel || l.WaitReason != "chan receive" {
		t.Fatalf("leak %+v (found %v), want 3 labelled goroutines in chan receive; leaks %+v", l, ok, res.Leaks)
	}
	if !strings.Contains(l.Stack, "goruntime.parkLeaky") || !strings.Contains(l.Stack, "created by") {
		t.Errorf("stack does not name the function and its creator:\n%s", l.Stack)
	}
	if _, ok := leakOf(res, "parkSteady"); ok {
		t.Errorf("a goroutine of the baseline is flagged: %+v", res.Leaks)
	}
	if res.LeakBaseline.IsZero() || res.Total != 4 {
		t.Errorf("baseline %v total %d, want set and 4 labelled goroutines (the caller excluded)", res.LeakBaseline, res.Total)
	}
	if s := p.Snapshot().Blocking; len(s.Leaks) != len(res.Leaks) || !s.LeakBaseline.Equal(res.LeakBaseline) {
		t.Errorf("the check is not the snapshot's analysis: %+v", s)
	}
}

func TestLeakCheckClearsWhenGoroutinesExit(t *testing.T) {
	p := startedProbe(t, WithBlocking(0, 0))
	if err := p.SetLeakBaseline(); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); parkLeaky(ch) }()
	}
	res := checkUntil(t, p, func(b Blocking) bool { l, _ := leakOf(b, "parkLeaky"); return l.Growth >= 4 })
	if l, _ := leakOf(res, "parkLeaky"); l.Growth != 4 {
		t.Fatalf("growth %d, want 4 (process-wide without a label)", l.Growth)
	}
	close(ch)
	wg.Wait()
	res = checkUntil(t, p, func(b Blocking) bool { _, ok := leakOf(b, "parkLeaky"); return !ok })
	if l, ok := leakOf(res, "parkLeaky"); ok {
		t.Errorf("exited goroutines still flagged: %+v", l)
	}
}

func TestLeakCheckCountsRunningAndEveryWait(t *testing.T) {
	const key, value = "owner", "TestLeakCheckCountsRunningAndEveryWait"
	p := startedProbe(t, WithGoroutineLabel(key, value), WithBlocking(0, 0))
	labelled(key, value, func() {
		if err := p.SetLeakBaseline(); err != nil {
			t.Fatal(err)
		}
	})
	var stop atomic.Bool
	a, b := make(chan struct{}), make(chan struct{})
	pk := &parker{ch: make(chan struct{})}
	gen := make(chan int)
	var mu sync.Mutex
	mu.Lock()
	var wg sync.WaitGroup
	labelled(key, value, func() {
		for _, f := range []func(){
			func() { spin(&stop) },
			func() { parkInSelect(a, b) },
			pk.park,
			func() { parkGeneric(gen) },
			func() { parkOnMutex(&mu) },
			func() { parkOnSleep(time.Second) },
		} {
			wg.Add(1)
			go func() { defer wg.Done(); f() }()
		}
	})
	want := []string{"goruntime.spin", "goruntime.parkInSelect", "goruntime.(*parker).park", "goruntime.parkGeneric", "goruntime.parkOnMutex"}
	res := checkUntil(t, p, func(r Blocking) bool {
		for _, fn := range want {
			if _, ok := leakOf(r, fn); !ok {
				return false
			}
		}
		return true
	})
	for _, fn := range want {
		if _, ok := leakOf(res, fn); !ok {
			t.Errorf("labelled goroutine in %s not found; leaks:\n%+v", fn, res.Leaks)
		}
	}
	if l, ok := leakOf(res, "goruntime.spin"); ok && (l.Class != BlockOther || (l.WaitReason != "running" && l.WaitReason != "runnable")) {
		t.Errorf("spinning goroutine: class %v reason %q", l.Class, l.WaitReason)
	}
	if _, ok := leakOf(res, "parkOnSleep"); !ok {
		t.Errorf("sleeping goroutine not found")
	}
	stop.Store(true)
	close(a)
	close(pk.ch)
	close(gen)
	mu.Unlock()
	sleepers := 0
	for _, g := range Goroutines(key, value) {
		if strings.Contains(g.Stack, "parkOnSleep") {
			sleepers += g.Count
		}
	}
	if sleepers != 1 { // the others may still be waking up; the sleeper sleeps on
		t.Errorf("Goroutines(label) found %d sleeping goroutines, want 1", sleepers)
	}
	wg.Wait()
}

func TestLeakCheckErrors(t *testing.T) {
	p, err := New(WithoutMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetLeakBaseline(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("before Start: %v, want ErrNotRunning", err)
	}
	p = startedProbe(t)
	if _, err := p.CheckLeaks(); !errors.Is(err, ErrNoLeakBaseline) {
		t.Errorf("without baseline: %v, want ErrNoLeakBaseline", err)
	}
}

func TestGoroutinesByLabelExcludesCaller(t *testing.T) {
	const key, value = "owner", "TestGoroutinesByLabelExcludesCaller"
	ch := make(chan struct{})
	var wg sync.WaitGroup
	var got []BlockedStack
	labelled(key, value, func() {
		for range 2 {
			wg.Add(1)
			go func() { defer wg.Done(); parkOnChannel(ch) }()
		}
		waitParked(t, newBlockAnalyzer(10, DefaultStackDumpLimit, 4, 5), "parkOnChannel", 2)
		got = Goroutines(key, value)
	})
	close(ch)
	wg.Wait()
	if len(got) != 1 || got[0].Count != 2 || !strings.Contains(got[0].Stack, "parkOnChannel") {
		t.Fatalf("Goroutines = %+v, want the 2 labelled goroutines only", got)
	}
	// wg.Done runs before a goroutine is gone: it may still be seen,
	// runnable, for a moment (a race-enabled run on a slow machine saw it).
	deadline := time.Now().Add(5 * time.Second)
	for g := Goroutines(key, value); len(g) != 0; g = Goroutines(key, value) {
		if time.Now().After(deadline) {
			t.Fatalf("5 s after they exited: %+v", g)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseLabelledProfile(t *testing.T) {
	prof := "goroutine profile: total 5\n" +
		"3 @ 0x47e36e 0x415dae 0x4e3759 0x484ca1\n# labels: {\"a\":\"b\", \"verdict.test\":\"T\"}\n" +
		"#\t0x415dad\truntime.chanrecv1+0x12\t\t/go/src/runtime/chan.go:1\n" +
		"#\t0x4e3758\tmain.worker+0x18\t\t\t/x/main.go:18\n" +
		"#\t0x4e3700\tmain.start.func1+0x20\t\t/x/main.go:30\n\n" +
		"2 @ 0x47e36e 0x4e3759\n# labels: {\"verdict.test\":\"Other\"}\n#\t0x4e3758\tmain.worker+0x18\t/x/main.go:18\n\n" +
		"1 @ 0x47e36e\n#\t0x4e3758\tmain.worker+0x18\t/x/main.go:18\n\n" +
		"x @ garbage\n\n@\n"
	b := newBlockAnalyzer(3, DefaultStackDumpLimit, 4, 5)
	b.label = labelPattern("verdict.test", "T")
	b.allowed = map[uint64]int{}
	b.parseLabelled([]byte(prof))
	b.fh.Reset()
	b.fh.WriteString("\nmain.worker\nmain.start.func1")
	if n := b.allowed[b.fh.Sum64()]; n != 3 || len(b.allowed) != 1 {
		t.Errorf("allowed %v, want 3 goroutines on main.worker/main.start.func1 only", b.allowed)
	}
}

func FuzzParseLabelled(f *testing.F) {
	f.Add([]byte("1 @ 0x1\n# labels: {\"k\":\"v\"}\n#\t0x1\tmain.f+0x1\t/x.go:1\n\n"))
	f.Add([]byte("\n\n @ \n#\t\t\t+0x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := newBlockAnalyzer(3, DefaultStackDumpLimit, 4, 5)
		b.label = labelPattern("k", "v")
		b.allowed = map[uint64]int{}
		b.parseLabelled(data)
		for _, n := range b.allowed {
			if n <= 0 {
				t.Fatalf("non-positive count %d", n)
			}
		}
	})
}

// A goroutine that has not run yet (its profile stack is the runtime's
// alone) still counts as labelled.
func TestLabelledGoroutineNotYetRun(t *testing.T) {
	const key, value = "owner", "TestLabelledGoroutineNotYetRun"
	p := startedProbe(t, WithGoroutineLabel(key, value), WithBlocking(0, 0))
	ch := make(chan struct{})
	var wg sync.WaitGroup
	seen := false
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	labelled(key, value, func() {
		if err := p.SetLeakBaseline(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go parkWithDone(&wg, ch) // with one P, it cannot run before the check
		res, err := p.CheckLeaks()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range res.Leaks {
			seen = seen || l.Growth == 1
		}
		if !seen {
			t.Errorf("the new goroutine is not counted: %+v (total %d)", res.Leaks, res.Total)
		}
	})
	close(ch)
	wg.Wait()
}

//go:noinline
func parkWithDone(wg *sync.WaitGroup, ch chan struct{}) {
	defer wg.Done()
	<-ch
}
