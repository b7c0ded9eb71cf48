//go:build linux && (amd64 || arm64)

package stw

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	rtrace "runtime/trace"
	"strings"
	"sync"
	"testing"
	"time"

	xtrace "golang.org/x/exp/trace"

	"github.com/verdict-obs/verdict/internal/testutil"
)

// traceSTW is one stop-the-world range of an execution trace, in
// CLOCK_MONOTONIC nanoseconds.
type traceSTW struct {
	reason     string // "GC mark termination", ...
	start, end int64
}

// parseSTW returns the stop-the-world ranges of an execution trace. The
// trace's clock is converted to CLOCK_MONOTONIC with its clock snapshots
// (Go 1.25+); ok is false when the trace has none.
func parseSTW(t *testing.T, data []byte) (ranges []traceSTW, ok bool) {
	t.Helper()
	r, err := xtrace.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	open := map[string]int64{}
	var off int64
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind() {
		case xtrace.EventSync:
			if cs := ev.Sync().ClockSnapshot; cs != nil && !ok {
				off, ok = int64(cs.Mono)-int64(cs.Trace), true
			}
		case xtrace.EventRangeBegin:
			if name := ev.Range().Name; strings.HasPrefix(name, "stop-the-world") {
				open[name] = int64(ev.Time())
			}
		case xtrace.EventRangeEnd:
			name := ev.Range().Name
			if st, found := open[name]; found {
				reason := strings.TrimSuffix(strings.TrimPrefix(name, "stop-the-world ("), ")")
				ranges = append(ranges, traceSTW{reason: reason, start: st, end: int64(ev.Time())})
				delete(open, name)
			}
		}
	}
	for i := range ranges {
		ranges[i].start += off
		ranges[i].end += off
	}
	return ranges, ok
}

// progress records when goroutines ran: each worker appends a monotonic
// timestamp per unit of work, at most one per microsecond.
type progress struct {
	mu      sync.Mutex
	wallRef time.Time
	monoRef int64
	stamps  []int64
}

func (p *progress) now() int64 { return p.monoRef + int64(time.Since(p.wallRef)) }

func (p *progress) mark() {
	now := p.now()
	p.mu.Lock()
	if n := len(p.stamps); n < cap(p.stamps) && (n == 0 || now-p.stamps[n-1] > 1000) {
		p.stamps = append(p.stamps, now)
	}
	p.mu.Unlock()
}

// between counts the stamps in (from, to).
func (p *progress) between(from, to int64) int {
	n := 0
	for _, s := range p.stamps {
		if s > from && s < to {
			n++
		}
	}
	return n
}

var allocSink [][]byte

// TestWindowsMatchExecutionTrace compares the windows with the ground truth
// the runtime itself writes: the execution trace records every
// stop-the-world with its reason. Under CPU contention (allocating
// goroutines on every CPU, as on a busy server) each window must match a
// trace range of the same reason, contain its start, and never end after it:
// the world is running again by the time the trace closes its range. (The
// probe used to sit on the return of startTheWorldWithSema, which the
// thread reaches only after the threads it woke have run: windows ended
// up to tens of milliseconds after the trace's, while goroutines ran.)
// Goroutines' progress between a window's end and the trace's end shows
// that the trace itself is late there; it is logged as evidence.
func TestWindowsMatchExecutionTrace(t *testing.T) {
	tr, err := Open(nil)
	testutil.RequirePrivilege(t, err)
	defer tr.Close()
	if rtrace.IsEnabled() {
		t.Skip("an execution trace is already running")
	}

	prog := &progress{wallRef: time.Now(), monoRef: MonotonicNow(), stamps: make([]int64, 0, 1<<20)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sinkMu sync.Mutex
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local [][]byte
			for {
				select {
				case <-stop:
					sinkMu.Lock()
					allocSink = local
					sinkMu.Unlock()
					return
				default:
				}
				prog.mark()
				local = append(local, make([]byte, 32<<10))
				if len(local) > 256 {
					local = local[:0]
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := tr.Drain(func(Window) {}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := rtrace.Start(&buf); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	rtrace.Stop()
	close(stop)
	wg.Wait()

	var wins []Window
	if _, err := tr.Drain(func(w Window) { wins = append(wins, w) }); err != nil {
		t.Fatal(err)
	}
	ranges, ok := parseSTW(t, buf.Bytes())
	if !ok {
		t.Fatal("the execution trace has no clock snapshot (Go 1.25+ writes them)")
	}
	matched, late, gc := 0, 0, 0
	var lead time.Duration // the longest time from a window's start to its trace range's
	var oursTotal, traceTotal int64
	for _, rg := range ranges {
		if rg.reason == ReasonStartTrace.String() || rg.reason == ReasonStopTrace.String() {
			continue // the trace starts (ends) inside these stops
		}
		if strings.HasPrefix(rg.reason, "GC") {
			gc++
		}
		// The runtime writes the range's start inside stopTheWorldWithSema,
		// after the entry the window starts at, and before procresize, whose
		// return ends the window: the window contains the range's start.
		// (How far apart the two starts are is not bounded: on a loaded
		// machine the thread may be preempted between them.)
		const slack = 50 * time.Microsecond // the trace's clock converted to CLOCK_MONOTONIC
		var w *Window
		for i := range wins {
			if wins[i].Start <= rg.start+slack.Nanoseconds() && wins[i].End >= rg.start-slack.Nanoseconds() {
				w = &wins[i]
				break
			}
		}
		if w == nil {
			t.Errorf("trace range %s [%d, %d]: no window contains its start", rg.reason, rg.start, rg.end)
			continue
		}
		matched++
		lead = max(lead, time.Duration(rg.start-w.Start))
		oursTotal += w.Duration()
		traceTotal += rg.end - rg.start
		if w.Reason.String() != rg.reason {
			t.Errorf("trace range %s: the window's reason is %s", rg.reason, w.Reason)
		}
		if w.End > rg.end+slack.Nanoseconds() {
			t.Errorf("%s: window ends %v after the trace's range, while the world was running again (window %v, trace %v)",
				rg.reason, time.Duration(w.End-rg.end), time.Duration(w.Duration()), time.Duration(rg.end-rg.start))
		}
		if n := prog.between(w.End+slack.Nanoseconds(), rg.end-slack.Nanoseconds()); n > 0 {
			late++
			t.Logf("%s: goroutines ran %d times between the window's end and the trace's end (%v later)", rg.reason, n, time.Duration(rg.end-w.End))
		}
	}
	if gc < 20 {
		t.Errorf("%d GC stop-the-world ranges in the trace, want >= 20 (10 runtime.GC calls)", gc)
	}
	t.Logf("%d trace ranges matched, %d of them closed by the trace after goroutines ran again; total %v (windows) vs %v (trace); the trace started a range up to %v after its window",
		matched, late, time.Duration(oursTotal), time.Duration(traceTotal), lead)
}
