package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// loadRoute is one kind of request and its rate.
type loadRoute struct {
	method  string
	path    func(r *rand.Rand) string
	rate    float64 // requests per second
	workers int
}

// shopLoad is the traffic the schedule drives: about 55 requests/s from
// 14 clients.
var shopLoad = []loadRoute{
	{http.MethodGet, func(r *rand.Rand) string { return "/orders/" + strconv.Itoa(1+r.IntN(10000)) }, 25, 5},
	{http.MethodGet, func(r *rand.Rand) string { return "/customers/" + strconv.Itoa(r.IntN(5000)) + "/orders" }, 10, 3},
	{http.MethodPost, func(r *rand.Rand) string { return "/orders?item=" + items[r.IntN(len(items))] }, 10, 4},
	{http.MethodGet, func(*rand.Rand) string { return "/report" }, 8, 2},
}

// The load runs in a process of its own (this program started again in
// load mode), as clients do: their goroutines, connections and CPU are not
// the service's.
const loadEnv = "VERDICT_DEMO_LOAD"

// loader is the parent's handle on the load process: it reads the
// process's running totals.
type loader struct {
	ok, failed atomic.Int64
	cmd        *exec.Cmd
	stdin      io.WriteCloser
	done       chan struct{}
}

// startLoad starts the load process against base (the API's URL).
func startLoad(base string) (*loader, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), loadEnv+"="+base)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe() // the load process ends when it closes
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the load process: %w", err)
	}
	l := &loader{cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ok, failed int64
			if _, err := fmt.Sscan(sc.Text(), &ok, &failed); err == nil {
				l.ok.Store(ok)
				l.failed.Store(failed)
			}
		}
	}()
	return l, nil
}

func (l *loader) stop() {
	l.stdin.Close()
	select {
	case <-l.done:
	case <-time.After(2 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.done
	}
	_ = l.cmd.Wait()
}

// loadMain is the load process: clients that are not instrumented (they
// stand for browsers and other services) calling the API at base. Each
// sends requests at exponentially distributed intervals (Poisson arrivals,
// like independent users), one at a time, on a connection of its own. It
// writes its running totals ("ok failed") twice a second and ends when its
// standard input closes (the demo stopped it or is gone).
func loadMain(base string) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for ri, rt := range shopLoad {
		mean := time.Duration(float64(rt.workers) / rt.rate * float64(time.Second))
		for w := range rt.workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tr := &http.Transport{}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
				rnd := rand.New(rand.NewPCG(uint64(ri), uint64(w)))
				next := time.Now()
				for {
					next = next.Add(time.Duration(rnd.ExpFloat64() * float64(mean)))
					if d := time.Until(next); d > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(d):
						}
					} else {
						next = time.Now() // behind: do not burst to catch up
					}
					if ctx.Err() != nil {
						return
					}
					if send(ctx, client, rt.method, base+rt.path(rnd)) {
						ok.Add(1)
					} else if ctx.Err() == nil {
						failed.Add(1)
					}
				}
			}()
		}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-tick.C:
			fmt.Printf("%d %d\n", ok.Load(), failed.Load())
		}
	}
}

// send makes one request and reports whether it succeeded (no 5xx).
func send(ctx context.Context, c *http.Client, method, url string) bool {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode < 500
}
