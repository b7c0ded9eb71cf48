package scenarios_test

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hostLoad samples, once a second, the share of the host's CPUs that
// other processes used (all busy time minus this process's). A
// cpu.starvation verdict during a "healthy" run on a shared machine is
// true when other processes took the CPU: the healthy test accepts it only
// then, and says so.
type hostLoad struct {
	mu      sync.Mutex
	samples []loadSample
	stop    chan struct{}
	done    chan struct{}
}

type loadSample struct {
	at     time.Time
	others float64 // CPUs' worth used by other processes
}

func watchHost() *hostLoad {
	h := &hostLoad{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		pb, pm, pt := hostBusy(), selfTicks(), time.Now()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case now := <-tick.C:
				b, m := hostBusy(), selfTicks()
				sec := now.Sub(pt).Seconds()
				others := (float64(b-pb) - float64(m-pm)) / 100 / sec
				h.mu.Lock()
				h.samples = append(h.samples, loadSample{at: now, others: others})
				h.mu.Unlock()
				pb, pm, pt = b, m, now
			}
		}
	}()
	return h
}

func (h *hostLoad) close() {
	close(h.stop)
	<-h.done
}

// othersBefore returns the largest CPU use of other processes in the
// window before t.
func (h *hostLoad) othersBefore(t time.Time, window time.Duration) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	peak := 0.0
	for _, s := range h.samples {
		if s.at.After(t.Add(-window)) && !s.at.After(t.Add(time.Second)) {
			peak = max(peak, s.others)
		}
	}
	return peak
}

// starvedByOthers reports whether other processes used at least all but
// half a CPU of the host around t.
func (h *hostLoad) starvedByOthers(t time.Time) (bool, float64) {
	o := h.othersBefore(t, 6*time.Second)
	return o >= float64(runtime.NumCPU())-0.5, o
}

func hostBusy() uint64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	var busy uint64
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if i >= 7 { // steal, guest...: not ours to count
			break
		}
		busy += n
	}
	return busy
}

func selfTicks() uint64 {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}
