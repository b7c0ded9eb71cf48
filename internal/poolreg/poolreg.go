// Package poolreg is the process-wide list of open instrumented pools
// (sqlxprobe registers each *DB when it opens and removes it on Close), so
// that the tracer can list them without the user passing anything, and the
// timer that samples them for their history.
//
// One goroutine samples every registered source each Interval; it runs only
// while at least one source is registered, and Unregister of the last one
// waits for it to stop.
package poolreg

import (
	"sync"
	"time"
)

// Interval is how often the registered sources are sampled.
const Interval = time.Second

// Source is a sampled pool.
type Source interface {
	// Sample records the pool's state at now. It is called from the
	// sampling goroutine, never concurrently with itself.
	Sample(now time.Time)
}

var reg struct {
	mu      sync.Mutex
	sources []Source
	stop    chan struct{}
	done    chan struct{}
}

// Register adds s and returns the function that removes it (idempotent).
func Register(s Source) (unregister func()) {
	reg.mu.Lock()
	reg.sources = append(reg.sources, s)
	if reg.stop == nil {
		reg.stop, reg.done = make(chan struct{}), make(chan struct{})
		go loop(reg.stop, reg.done)
	}
	reg.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { remove(s) }) }
}

func remove(s Source) {
	reg.mu.Lock()
	for i, r := range reg.sources {
		if r == s {
			reg.sources = append(reg.sources[:i:i], reg.sources[i+1:]...)
			break
		}
	}
	var done chan struct{}
	if len(reg.sources) == 0 && reg.stop != nil {
		close(reg.stop)
		done = reg.done
		reg.stop, reg.done = nil, nil
	}
	reg.mu.Unlock()
	if done != nil {
		<-done
	}
}

// All returns the registered sources, in the order they registered.
func All() []Source {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return append([]Source(nil), reg.sources...)
}

func loop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(Interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			for _, s := range All() {
				s.Sample(now)
			}
		}
	}
}
