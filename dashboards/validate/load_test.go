package validate

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// load is an open-loop load generator: each worker starts its requests at
// a fixed rate whatever the answers take (up to a bound on requests in
// flight), and every answer is recorded with its completion time, so the
// test can count what it sent over any window and compare with what
// Prometheus recorded.
type load struct {
	mu     sync.Mutex
	events []event
	wg     sync.WaitGroup
	sem    chan struct{}
	client *http.Client
}

type event struct {
	key  string // "GET /pay/{id}" or the gRPC method
	code int    // HTTP status, or gRPC code
	at   time.Time
}

func newLoad() *load {
	return &load{sem: make(chan struct{}, 256), client: &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxIdleConns: 256},
	}}
}

// run starts a worker that calls do perRate times a second until ctx
// ends; do returns the code to record under key.
func (l *load) run(ctx context.Context, key string, perSecond float64, do func(ctx context.Context, n int) int) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(time.Duration(float64(time.Second) / perSecond))
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case l.sem <- struct{}{}:
			default:
				continue // too many in flight: the service is stuck, not the generator's business
			}
			l.wg.Add(1)
			go func(n int) {
				defer l.wg.Done()
				defer func() { <-l.sem }()
				code := do(context.WithoutCancel(ctx), n)
				l.mu.Lock()
				l.events = append(l.events, event{key: key, code: code, at: time.Now()})
				l.mu.Unlock()
			}(n)
		}
	}()
}

// get is a do function for an HTTP GET of url(n).
func (l *load) get(url func(n int) string) func(context.Context, int) int {
	return l.send(http.MethodGet, url, "")
}

func (l *load) send(method string, url func(n int) string, body string) func(context.Context, int) int {
	return func(ctx context.Context, n int) int {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, url(n), r)
		if err != nil {
			return -1
		}
		resp, err := l.client.Do(req)
		if err != nil {
			return -1
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
}

func (l *load) wait() { l.wg.Wait() }

// count returns the answers to key completed in [from, to), and how many
// of them fail is true for.
func (l *load) count(key string, from, to time.Time, fail func(code int) bool) (n, failed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.key != key || e.at.Before(from) || !e.at.Before(to) {
			continue
		}
		n++
		if fail != nil && fail(e.code) {
			failed++
		}
	}
	return n, failed
}

// codes returns the answers to key by code.
func (l *load) codes(key string) map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int]int{}
	for _, e := range l.events {
		if e.key == key {
			out[e.code]++
		}
	}
	return out
}

func is5xx(code int) bool { return code >= 500 || code < 0 }
