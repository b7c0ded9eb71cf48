package nanosleep

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// interruptThread sends SIGURG (the Go runtime's preemption signal, which
// the runtime ignores when nothing asked for a preemption) to thread tid
// every interval until stop is closed, then reports how many it sent.
func interruptThread(tid int, interval time.Duration, stop <-chan struct{}, sent chan<- int) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-stop:
			sent <- n
			return
		case <-tick.C:
			if syscall.Tgkill(os.Getpid(), tid, syscall.SIGURG) == nil {
				n++
			}
		}
	}
}

// TestBlockResumesAfterSignal: Block blocks for the whole duration even when signals
// interrupt it, as the Go runtime's preemption signal (SIGURG) does.
func TestBlockResumesAfterSignal(t *testing.T) {
	const d = 100 * time.Millisecond
	tid := make(chan int, 1)
	type result struct {
		slept time.Duration
		intr  int
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid <- syscall.Gettid()
		t0 := time.Now()
		intr := Block(d)
		done <- result{time.Since(t0), intr}
	}()
	stop := make(chan struct{})
	sent := make(chan int)
	go interruptThread(<-tid, 2*time.Millisecond, stop, sent)
	r := <-done
	close(stop)
	t.Logf("slept %v, interrupted %d times (%d signals sent)", r.slept, r.intr, <-sent)
	if r.slept < d {
		t.Errorf("slept %v, want at least %v", r.slept, d)
	}
	if r.intr == 0 {
		t.Error("no signal interrupted the sleep: the test proved nothing")
	}
}
