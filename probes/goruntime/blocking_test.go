package goruntime

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Functions goroutines park in, so that the test can find their stacks.

//go:noinline
func parkOnChannel(ch chan struct{}) { <-ch }

//go:noinline
func parkOnMutex(mu *sync.Mutex) { mu.Lock(); mu.Unlock() }

//go:noinline
func parkOnNetwork(c net.Conn) { _, _ = io.ReadFull(c, make([]byte, 1)) }

//go:noinline
func parkOnSleep(d time.Duration) { time.Sleep(d) }

//go:noinline
func parkLeaky(ch chan struct{}) { <-ch }

//go:noinline
func parkSteady(ch chan struct{}) { <-ch }

// waitParked polls until n goroutines wait in fn (bounded).
func waitParked(t *testing.T, b *blockAnalyzer, fn string, n int) Blocking {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		res, _ := b.round(time.Now())
		if countStack(res, fn) >= n || time.Now().After(deadline) {
			return res
		}
		time.Sleep(time.Millisecond)
	}
}

func countStack(res Blocking, fn string) int {
	n := 0
	for c := range res.Top {
		for _, s := range res.Top[c] {
			if strings.Contains(s.Stack, fn) {
				n += s.Count
			}
		}
	}
	return n
}

func classOf(res Blocking, fn string) (BlockClass, string, bool) {
	for c := range res.Top {
		for _, s := range res.Top[c] {
			if strings.Contains(s.Stack, fn) {
				return s.Class, s.WaitReason, true
			}
		}
	}
	return 0, "", false
}

func TestBlockingClassification(t *testing.T) {
	ch := make(chan struct{})
	var mu sync.Mutex
	mu.Lock()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server := <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	defer server.Close()

	stopSleep := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); parkOnChannel(ch) }()
	go func() { defer wg.Done(); parkOnMutex(&mu) }()
	go func() { defer wg.Done(); parkOnNetwork(server) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stopSleep:
				return
			default:
				parkOnSleep(20 * time.Millisecond)
			}
		}
	}()
	defer func() {
		close(ch)
		mu.Unlock()
		_, _ = client.Write([]byte{1})
		close(stopSleep)
		wg.Wait()
	}()

	b := newBlockAnalyzer(10, DefaultStackDumpLimit, DefaultLeakWindow, DefaultLeakMinGrowth)
	cases := []struct {
		fn     string
		class  BlockClass
		reason string
	}{
		{"parkOnChannel", BlockChannel, "chan receive"},
		{"parkOnMutex", BlockSync, "sync.Mutex.Lock"},
		{"parkOnNetwork", BlockNetwork, "IO wait"},
		{"parkOnSleep", BlockSleep, "sleep"},
	}
	for _, tc := range cases {
		// A goroutine seen on its way to park is in another state (the
		// network reader in its read system call before the poller
		// parks it: class syscall, seen once in CI): wait for the state
		// it settles in, as waitParked waits for the stack (bounded).
		var res Blocking
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			res = waitParked(t, b, tc.fn, 1)
			if class, _, _ := classOf(res, tc.fn); class == tc.class || time.Now().After(deadline) {
				break
			}
		}
		class, reason, ok := classOf(res, tc.fn)
		if !ok {
			t.Errorf("%s: no blocked stack found", tc.fn)
			continue
		}
		if class != tc.class || reason != tc.reason {
			t.Errorf("%s: class %v reason %q, want %v %q", tc.fn, class, reason, tc.class, tc.reason)
		}
		if res.Counts[tc.class] < 1 {
			t.Errorf("%s: class count %d", tc.fn, res.Counts[tc.class])
		}
	}
}

func TestLeakFlaggedSteadyNot(t *testing.T) {
	const window = 4
	b := newBlockAnalyzer(10, DefaultStackDumpLimit, window, 5)
	leakCh, steadyCh := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	spawn := func(n int, f func(chan struct{}), ch chan struct{}) {
		wg.Add(n)
		for range n {
			go func() { defer wg.Done(); f(ch) }()
		}
	}
	defer func() { close(leakCh); close(steadyCh); wg.Wait() }()

	spawn(10, parkSteady, steadyCh)
	waitParked(t, newBlockAnalyzer(10, DefaultStackDumpLimit, window, 5), "parkSteady", 10)
	leaked := 0
	var res Blocking
	for i := range window + 1 {
		spawn(3, parkLeaky, leakCh)
		leaked += 3
		// Wait with a separate analyzer so that b sees exactly one
		// analysis per step, as with the probe's interval.
		waitParked(t, newBlockAnalyzer(10, DefaultStackDumpLimit, window, 5), "parkLeaky", leaked)
		res, _ = b.round(time.Now())
		if got := countStack(res, "parkSteady"); got != 10 {
			t.Fatalf("round %d: steady count %d, want 10", i, got)
		}
	}
	var leak, steady bool
	for _, l := range res.Leaks {
		if strings.Contains(l.Stack, "parkLeaky") {
			leak = true
			if l.Growth < 5 || l.Class != BlockChannel {
				t.Errorf("leak growth %d class %v", l.Growth, l.Class)
			}
		}
		if strings.Contains(l.Stack, "parkSteady") {
			steady = true
		}
	}
	if !leak {
		t.Errorf("growing stack not flagged: leaks %+v", res.Leaks)
	}
	if steady {
		t.Errorf("steady stack flagged as leak")
	}
}

func TestLeakingHistory(t *testing.T) {
	b := &blockAnalyzer{window: 5, minGrowth: 5}
	for _, tc := range []struct {
		hist []int
		want bool
	}{
		{[]int{1, 3, 5, 7, 9}, true},
		{[]int{1, 1, 4, 4, 9}, false}, // up in 2 of 4 steps: not most
		{[]int{1, 1, 4, 6, 9}, true},  // up in 3 of 4 steps
		{[]int{10, 10, 10, 10, 10}, false},
		{[]int{1, 5, 3, 7, 9}, false}, // went down once
		{[]int{1, 2, 3, 4, 5}, false}, // grew by 4 < 5
		{[]int{1, 3, 5, 7}, false},    // window not full
	} {
		if _, got := b.leaking(tc.hist); got != tc.want {
			t.Errorf("leaking(%v) = %v, want %v", tc.hist, got, tc.want)
		}
	}
}

func TestParseDump(t *testing.T) {
	dump := "goroutine 1 [running]:\nmain.main()\n\t/x/main.go:10 +0x1\n\n" +
		"goroutine 7 [chan receive, 3 minutes]:\nmain.worker(0xc000010000)\n\t/x/main.go:20 +0x2\ncreated by main.start in goroutine 1\n\t/x/main.go:30 +0x3\n\n" +
		"goroutine 8 [chan receive, 4 minutes]:\nmain.worker(0xc000010008)\n\t/x/main.go:20 +0x2\ncreated by main.start in goroutine 1\n\t/x/main.go:30 +0x3\n\n" +
		"goroutine 9 [sync.RWMutex.RLock]:\nsync.runtime_SemacquireRWMutexR(...)\nmain.(*T).get(...)\n\n" +
		"goroutine 10 [GC assist wait]:\nmain.alloc()\n\n" +
		"goroutine 11 [some future reason]:\nmain.x()\n\n" +
		"garbage line\n\n" +
		"goroutine 12 [select]:\nmain.cut("
	b := newBlockAnalyzer(3, DefaultStackDumpLimit, 4, 5)
	b.round_ = 1
	var res Blocking
	b.parse([]byte(dump), true, &res)
	if res.Total != 6 || !res.Truncated {
		t.Errorf("total %d truncated %v, want 6 true", res.Total, res.Truncated)
	}
	want := [NumBlockClasses]int{BlockChannel: 2, BlockSync: 1, BlockGCAssist: 1, BlockOther: 1}
	if res.Counts != want {
		t.Errorf("counts %v, want %v", res.Counts, want)
	}
	var worker *stackGroup
	for _, g := range b.groups {
		if strings.HasPrefix(g.stack, "main.worker") {
			worker = g
		}
	}
	if worker == nil || worker.count != 2 || worker.stack != "main.worker\ncreated by main.start" {
		t.Errorf("worker group %+v", worker)
	}
}

func TestBlockingInSnapshotAndDumpCap(t *testing.T) {
	ch := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(200)
	for range 200 {
		go func() { defer wg.Done(); parkOnChannel(ch) }()
	}
	defer func() { close(ch); wg.Wait() }()
	p := startedProbe(t, WithBlocking(time.Hour, 2), WithStackDumpLimit(1))
	if p.blk.limit != 64<<10 {
		t.Fatalf("dump limit %d, want the 64 KiB minimum", p.blk.limit)
	}
	p.analyzeBlocking(time.Now())
	s := p.Snapshot()
	if s.Blocking.Time.IsZero() || s.Blocking.Counts[BlockChannel] < 1 {
		t.Fatalf("blocking not in snapshot: %+v", s.Blocking)
	}
	if len(s.Blocking.Top[BlockChannel]) > 2 {
		t.Errorf("top N not applied: %d", len(s.Blocking.Top[BlockChannel]))
	}
	if len(p.blk.buf) > 64<<10 {
		t.Errorf("dump buffer grew to %d past the cap", len(p.blk.buf))
	}
}

// FuzzParseDump feeds arbitrary dumps to the parser: it must never panic
// and its counts must stay consistent.
func FuzzParseDump(f *testing.F) {
	f.Add([]byte("goroutine 7 [chan receive, 3 minutes]:\nmain.worker(0xc000010000)\n\t/x/main.go:20 +0x2\ncreated by main.start in goroutine 1\n\t/x/main.go:30 +0x3\n\n"), false)
	f.Add([]byte("goroutine 1 [running]:\n\n\ngoroutine [\n]:\n()\n(\n)"), true)
	f.Add([]byte("goroutine 9 []:\n\n"), false)
	f.Fuzz(func(t *testing.T, dump []byte, full bool) {
		b := newBlockAnalyzer(3, DefaultStackDumpLimit, 4, 5)
		b.round_ = 1
		var res Blocking
		b.parse(dump, full, &res)
		blocked := 0
		for _, c := range res.Counts {
			blocked += c
		}
		if blocked > res.Total {
			t.Fatalf("%d blocked > %d total", blocked, res.Total)
		}
	})
}

// Goroutines parked on socket reads grow steadily as connections open (a
// server's keep-alive connections under rising load): never leak suspects,
// while a channel stack growing alike beside them is.
func TestConnectionsNotLeakSuspects(t *testing.T) {
	const window = 4
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	leakCh := make(chan struct{})
	var wg sync.WaitGroup
	var conns []net.Conn
	defer func() {
		close(leakCh)
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	}()
	b := newBlockAnalyzer(10, DefaultStackDumpLimit, window, 5)
	var res Blocking
	for i := range window + 1 {
		for range 3 {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			s, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c, s)
			wg.Add(2)
			go func() { defer wg.Done(); parkOnNetwork(s) }()
			go func() { defer wg.Done(); parkLeaky(leakCh) }()
		}
		waitParked(t, newBlockAnalyzer(10, DefaultStackDumpLimit, window, 5), "parkOnNetwork", 3*(i+1))
		waitParked(t, newBlockAnalyzer(10, DefaultStackDumpLimit, window, 5), "parkLeaky", 3*(i+1))
		res, _ = b.round(time.Now())
	}
	if class, _, ok := classOf(res, "parkOnNetwork"); !ok || class != BlockNetwork {
		t.Fatalf("socket readers: class %v (found %v), want network", class, ok)
	}
	var leak bool
	for _, l := range res.Leaks {
		if strings.Contains(l.Stack, "parkOnNetwork") {
			t.Errorf("socket readers flagged as a leak: %+v", l)
		}
		leak = leak || strings.Contains(l.Stack, "parkLeaky")
	}
	if !leak {
		t.Errorf("channel stack growing beside them not flagged: %+v", res.Leaks)
	}
}

// A surge of goroutines brings the blocking analysis forward: with an
// interval of an hour, 40 new parked goroutines are analysed within
// seconds (the probe's sample ticks, 50 ms here).
func TestSurgeAnalysis(t *testing.T) {
	p := startedProbe(t, WithBlocking(time.Hour, 3), WithSampleInterval(50*time.Millisecond))
	var first time.Time
	for start := time.Now(); first.IsZero() && time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		first = p.Snapshot().Blocking.Time
	}
	if first.IsZero() {
		t.Fatal("no analysis at start")
	}
	ch := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(ch); wg.Wait() }()
	time.Sleep(1100 * time.Millisecond) // past the surge analyses' spacing
	if got := p.Snapshot().Blocking.Time; !got.Equal(first) {
		t.Fatalf("an analysis without a surge at %v", got)
	}
	for range 40 {
		wg.Add(1)
		go func() { defer wg.Done(); parkLeaky(ch) }()
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b := p.Snapshot().Blocking
		if !b.Time.Equal(first) {
			if n := countStack(b, "parkLeaky"); n < 40 {
				t.Errorf("surge analysis counted %d of the 40 goroutines", n)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("no analysis within 5 s of a surge of 40 goroutines")
}
