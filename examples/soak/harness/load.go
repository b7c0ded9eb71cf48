package harness

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// job is one request the pacer scheduled: at is when it was due, so its
// latency includes any wait for a free worker (no coordinated omission).
type job struct {
	at    time.Time
	url   string
	phase *hist
}

// generator is an open-loop load generator: a pacer schedules requests at
// a fixed rate and workers send them; a request that finds the queue full
// (a second's worth behind) is counted as missed.
type generator struct {
	jobs    chan job
	sec     atomic.Pointer[hist] // requests completed in the current second
	missed  atomic.Uint64
	pending atomic.Int64 // scheduled and not yet done
	clients map[string]*http.Client
	wg      sync.WaitGroup
}

func newGenerator(rate, workers int, hosts []string) *generator {
	g := &generator{jobs: make(chan job, max(rate, 1)), clients: map[string]*http.Client{}}
	for _, h := range hosts {
		g.clients[h] = &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        workers,
				MaxIdleConnsPerHost: workers,
				DisableCompression:  true,
				IdleConnTimeout:     time.Hour,
			},
		}
	}
	g.sec.Store(&hist{})
	for range workers {
		g.wg.Add(1)
		go g.work()
	}
	return g
}

func (g *generator) work() {
	defer g.wg.Done()
	for j := range g.jobs {
		ok := g.send(j)
		d := time.Since(j.at)
		j.phase.add(d, ok)
		g.sec.Load().add(d, ok)
		g.pending.Add(-1)
	}
}

func (g *generator) send(j job) bool {
	req, err := http.NewRequest(http.MethodGet, j.url, nil)
	if err != nil {
		return false
	}
	host := req.URL.Host
	resp, err := g.clients[host].Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// run schedules requests to base (http://host:port) at rate per second
// until ctx ends; each goes into phase.
func (g *generator) run(ctx context.Context, base string, rate int, phase *hist) {
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	var sent int64
	for ctx.Err() == nil {
		due := int64(time.Since(start) / interval)
		for ; sent < due; sent++ {
			j := job{at: start.Add(time.Duration(sent) * interval), url: base + "/orders/" + strconv.FormatInt(sent%Rows+1, 10), phase: phase}
			g.pending.Add(1)
			select {
			case g.jobs <- j:
			default:
				g.pending.Add(-1)
				g.missed.Add(1)
			}
		}
		time.Sleep(time.Millisecond)
	}
}

// swapSecond returns the histogram of the second that ended and starts a
// new one.
func (g *generator) swapSecond() *hist { return g.sec.Swap(&hist{}) }

// close stops the workers once the queued requests are done.
func (g *generator) close() {
	close(g.jobs)
	g.wg.Wait()
	for _, c := range g.clients {
		c.CloseIdleConnections()
	}
}
