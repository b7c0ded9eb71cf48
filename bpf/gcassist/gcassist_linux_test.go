//go:build linux && (amd64 || arm64)

package gcassist

import (
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/nanosleep"
	"github.com/verdict-obs/verdict/internal/testutil"
)

var sink [][]byte

// TestAssistOfTheSpansGoroutine: a goroutine that allocates hard while the
// GC marks (a small GOGC, another goroutine keeping the heap busy) is made
// to assist; its span gets that time, a span of a goroutine that only
// sleeps (and allocates nothing) gets none.
func TestAssistOfTheSpansGoroutine(t *testing.T) {
	tm, err := bpf.LoadTiming(nil)
	testutil.RequirePrivilege(t, err)
	defer tm.Close()
	p, err := Attach(tm)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	defer debug.SetGCPercent(debug.SetGCPercent(5))

	var mu sync.Mutex
	retain := func(b []byte) {
		mu.Lock()
		sink = append(sink, b)
		if len(sink) > 512 {
			sink = sink[256:]
		}
		mu.Unlock()
	}
	type result struct {
		c  bpf.Counters
		ok bool
	}
	run := func(id byte, work func()) result {
		done := make(chan result, 1)
		go func() {
			span := [8]byte{id}
			tm.Begin([16]byte{1}, span)
			work()
			c, ok := tm.End(span)
			done <- result{c, ok}
		}()
		return <-done
	}
	var alloc, idle result
	var wg sync.WaitGroup
	wg.Go(func() {
		alloc = run(1, func() {
			for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
				retain(make([]byte, 16<<10))
			}
		})
	})
	// The sleeping span must not allocate: a goroutine that allocates
	// anything while the GC marks may be made to assist (a new goroutine
	// starts with no assist credit), and time.Sleep allocates the
	// goroutine's timer on its first call. A blocking nanosleep allocates
	// nothing.
	wg.Go(func() { idle = run(2, func() { nanosleep.Block(300 * time.Millisecond) }) })
	wg.Wait()
	runtime.KeepAlive(sink)
	t.Logf("allocating span: %v in %d assists; sleeping span: %v in %d", alloc.c.GCAssist, alloc.c.GCAssists, idle.c.GCAssist, idle.c.GCAssists)
	if !alloc.ok || alloc.c.GCAssists == 0 || alloc.c.GCAssist <= 0 {
		t.Errorf("allocating span: %+v, want GC assists", alloc)
	}
	if !idle.ok || idle.c.GCAssists != 0 {
		t.Errorf("sleeping span: %+v, want no assist", idle)
	}
}
