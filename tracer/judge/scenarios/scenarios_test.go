package scenarios_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

// downstream is another service this one calls: a plain HTTP server on
// 127.0.0.1 (not instrumented: it stands for another process).
type downstream struct {
	addr  string
	delay atomic.Int64 // ns each answer waits
	srv   *http.Server
	mu    sync.Mutex
}

func startDownstream(t *testing.T) *downstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &downstream{addr: ln.Addr().String()}
	d.run(ln)
	t.Cleanup(d.stop)
	return d
}

func (d *downstream) run(ln net.Listener) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := d.delay.Load(); n > 0 {
			time.Sleep(time.Duration(n))
		}
		io.WriteString(w, "ok\n")
	})}
	go d.srv.Serve(ln)
}

func (d *downstream) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.srv != nil {
		d.srv.Close()
		d.srv = nil
	}
}

func (d *downstream) restart(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	d.run(ln)
}

// call is a handler that calls url with c and answers 502 when it fails.
func call(c *http.Client, url string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err != nil {
			http.Error(w, "downstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		io.WriteString(w, "done\n")
	}
}

// A downstream that stops listening: connects are refused.
func TestScenarioRefusedHTTP(t *testing.T) {
	e := newEnv(t)
	down := startDownstream(t)
	svc := e.serve(call(e.client(nil), "http://"+down.addr+"/stock"))
	load(t, 4, 10, svc+"/checkout")
	onset := warm()
	down.stop()
	e.expect(onset, rules.IDDownstreamRefused, down.addr, []string{"peer.refused.rate", "peer.error_ratio"},
		[]string{"refused connects/s to " + down.addr, "refuses connections"})

	// Listening again: the verdict clears.
	back := time.Now()
	down.restart(t)
	limit := time.Now().Add(20 * time.Second)
	for time.Now().Before(limit) {
		for _, f := range e.rec.all() {
			if f.v.Rule == rules.IDDownstreamRefused && !f.v.Active() {
				t.Logf("cleared %.1fs after the downstream listened again (window 5 s, clear debounce 5)", f.at.Sub(back).Seconds())
				e.onlyRule(rules.IDDownstreamRefused)
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.failWithState("the refused verdict did not clear within 20 s of the downstream's return")
}

// A gRPC downstream that stops: calls fail UNAVAILABLE, dials refused.
func TestScenarioRefusedGRPC(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(e.mw...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	svc := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.WriteString(w, "ok\n")
	}))
	load(t, 4, 10, svc+"/inventory")
	onset := warm()
	gs.Stop()
	e.expect(onset, rules.IDDownstreamRefused, addr, []string{"peer.refused.rate"},
		[]string{"gRPC Unavailable and", "refused connects/s to " + addr})
}

// A downstream, another process, that answers 100× slower.
func TestScenarioSlowDownstream(t *testing.T) {
	e := newEnv(t)
	down := startRemoteDownstream(t)
	down.setDelay(t, 2*time.Millisecond)
	svc := e.serve(call(e.client(nil), "http://"+down.addr+"/price"))
	load(t, 6, 10, svc+"/quote")
	onset := warm()
	down.setDelay(t, 250*time.Millisecond)
	e.expect(onset, rules.IDDownstreamSlow, down.addr, []string{"peer.server_wait.share"},
		[]string{"Calls to " + down.addr + " take", "waiting for the server", "the downstream is slow"})
}

// The same calls answered by a server of this very process (a gateway
// calling its own back end over loopback): its own handlers are slow,
// and the verdict says so instead of blaming a downstream.
func TestScenarioSlowOwnServer(t *testing.T) {
	e := newEnv(t)
	down := startDownstream(t)
	down.delay.Store(int64(2 * time.Millisecond))
	svc := e.serve(call(e.client(nil), "http://"+down.addr+"/price"))
	load(t, 6, 10, svc+"/quote")
	onset := warm()
	down.delay.Store(int64(250 * time.Millisecond))
	e.expect(onset, rules.IDDownstreamSlow, down.addr, []string{"peer.server_wait.share"},
		[]string{"Calls to " + down.addr + ", this process's own server,", "own handlers are slow, not the network"})
}

// remoteDownstream is a downstream in a child process (this test binary
// re-executed): an address this process does not listen on.
type remoteDownstream struct {
	addr string
	cmd  *exec.Cmd
}

func startRemoteDownstream(t *testing.T) *remoteDownstream {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"=downstream")
	stdin, err := cmd.StdinPipe() // the child exits when it closes
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		t.Fatalf("downstream child: %q, %v", line, err)
	}
	return &remoteDownstream{addr: addr, cmd: cmd}
}

// setDelay sets how long each answer waits.
func (d *remoteDownstream) setDelay(t *testing.T, delay time.Duration) {
	t.Helper()
	resp, err := http.Get("http://" + d.addr + "/delay?d=" + delay.String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("set the downstream's delay: %s", resp.Status)
	}
}

// serveRemoteDownstream is the child of startRemoteDownstream: a plain
// HTTP server on 127.0.0.1 whose answers wait the delay /delay?d= sets,
// until its standard input closes.
func serveRemoteDownstream() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	var delay atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		delay.Store(int64(d))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(delay.Load()))
		io.WriteString(w, "ok\n")
	})
	go http.Serve(ln, mux)
	fmt.Println("listening", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

// The name of a downstream stops resolving (a loopback DNS server starts
// answering NXDOMAIN).
func TestScenarioDNSFailure(t *testing.T) {
	e := newEnv(t)
	dns := startDNS(t)
	down := startDownstream(t)
	_, port, _ := net.SplitHostPort(down.addr)
	host := "orders.verdict-test.invalid"
	svc := e.serve(call(e.client(dns.transport()), "http://"+host+":"+port+"/orders"))
	load(t, 4, 10, svc+"/orders")
	onset := warm()
	dns.fail.Store(true)
	e.expect(onset, rules.IDDNSFailure, host+":"+port, []string{"peer.dns.failures.rate"},
		[]string{"DNS failures/s resolving " + host, "dns_nxdomain"})
}

// sqliteDB opens an instrumented SQLite database in a file (WAL), with a
// table of orders.
func sqliteDB(t *testing.T, e *env, maxOpen int) *sqlxprobe.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "orders.db")
	db, err := sqlxprobe.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)",
		append(e.sqlOpts, sqlxprobe.WithPoolName("orders"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	db.MustExec("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total INTEGER)")
	tx := db.MustBegin()
	for i := range 1000 {
		tx.MustExec("INSERT INTO orders (customer, total) VALUES (?, ?)", i%50, i)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return db
}

// A code path that holds its transaction while it calls something slow:
// the pool (2 connections) runs dry and requests queue for a connection.
func TestScenarioPoolExhaustion(t *testing.T) {
	e := newEnv(t)
	db := sqliteDB(t, e, 2)
	var hold atomic.Int64
	svc := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		tx, err := db.BeginTxx(ctx, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer tx.Rollback()
		var total int
		if err := tx.GetContext(ctx, &total, "SELECT total FROM orders WHERE id = ?", 1+time.Now().Nanosecond()%1000); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		time.Sleep(time.Duration(hold.Load())) // "calls the payment provider" inside the transaction
		if err := tx.Commit(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, total)
	}))
	load(t, 8, 10, svc+"/pay")
	onset := warm()
	hold.Store(int64(60 * time.Millisecond))
	e.expect(onset, rules.IDPoolExhausted, "orders", []string{"pool.wait.share", "pool.wait.p99", "pool.in_use"},
		[]string{"waiting for a pooled connection", "2 of 2 connections in use", "SetMaxOpenConns, now 2", "the pool is exhausted"})
}

// Code that runs a query on the DB with the context of an open
// transaction: a second pooled connection per request.
func TestScenarioNestedTransaction(t *testing.T) {
	e := newEnv(t)
	db := sqliteDB(t, e, 10)
	var nested atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("GET /transfer", func(w http.ResponseWriter, r *http.Request) {
		tx, err := db.BeginTxx(r.Context(), nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		defer tx.Rollback()
		ctx := tx.Context()
		var a, b int
		if err := tx.GetContext(ctx, &a, "SELECT total FROM orders WHERE id = ?", 1); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		q := tx.GetContext
		if nested.Load() {
			q = db.GetContext // the bug: the DB, not the transaction
		}
		if err := q(ctx, &b, "SELECT total FROM orders WHERE id = ?", 2); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		tx.Commit()
		fmt.Fprintln(w, a+b)
	})
	svc := e.serve(mux)
	load(t, 4, 10, svc+"/transfer")
	onset := warm()
	nested.Store(true)
	e.expect(onset, rules.IDNestedTx, "orders", []string{"pool.nested.rate", "pool.nested.operations"},
		[]string{"second connection from orders", "GET /transfer", "tx.QueryContext"})
}

// Goroutines queue on one mutex that a code path holds for 8 ms: 160
// requests/s offered against 125 it can pass, so a queue stands on it and
// each blocking analysis (a goroutine dump every few seconds) finds
// goroutines parked there. At 5 ms (80 % busy) an analysis on a loaded
// machine could find only the holder, asleep, and the action then had no
// site to name.
func TestScenarioLockContention(t *testing.T) {
	e := newEnv(t)
	c := &cache{}
	svc := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, c.get(r.URL.Path))
	}))
	load(t, 8, 20, svc+"/cache")
	onset := warm()
	c.hold.Store(int64(8 * time.Millisecond))
	e.expect(onset, rules.IDLockContention, "", []string{"runtime.mutex.wait.rate"}, []string{"blocked on mutexes", "lock contention"})
	// Within the next analyses the action names where they wait.
	limit := time.Now().Add(12 * time.Second)
	var seen strings.Builder // each analysis the judge saw, for the failure message
	var at time.Time
	for time.Now().Before(limit) {
		for _, v := range e.tr.Verdicts() {
			if v.Rule == rules.IDLockContention && v.Active() && strings.Contains(v.Action, "(*cache).get") {
				t.Logf("action names the lock's site: %s", v.Action)
				return
			}
		}
		if s := e.last.Load(); s != nil && !s.Runtime.BlockedAt.Equal(at) {
			at = s.Runtime.BlockedAt
			fmt.Fprintf(&seen, "\nanalysis at %s:", at.Format("15:04:05.0"))
			for _, b := range s.Runtime.Blocked {
				fmt.Fprintf(&seen, "\n  %s %q ×%d: %s", b.Class, b.WaitReason, b.Count, strings.ReplaceAll(b.Stack, "\n", " < "))
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("the lock contention verdict never named (*cache).get: %v%s%s", e.tr.Verdicts(), seen.String(), e.blockedState())
}

type cache struct {
	mu   sync.Mutex
	hold atomic.Int64
	n    int
}

//go:noinline
func (c *cache) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.hold.Load(); d > 0 {
		time.Sleep(time.Duration(d)) // a slow refill under the lock
	}
	c.n++
	return c.n + len(key)
}

// Every request leaves a goroutine behind, parked on a channel nobody
// closes.
func TestScenarioGoroutineLeak(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var leak atomic.Bool
	svc := e.serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if leak.Load() {
			notify(release)
		}
		io.WriteString(w, "ok\n")
	}))
	load(t, 4, 20, svc+"/notify")
	onset := warm()
	leak.Store(true)
	e.expect(onset, rules.IDGoroutineLeak, "", []string{"runtime.goroutines", "runtime.goroutines.growth.rate"},
		[]string{"goroutines are leaking"})
	limit := time.Now().Add(12 * time.Second)
	for time.Now().Before(limit) {
		for _, v := range e.tr.Verdicts() {
			if v.Rule == rules.IDGoroutineLeak && v.Active() && strings.Contains(v.Action, "notify") {
				t.Logf("action names the leaking stack: %s", v.Action)
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("the leak verdict never named the leaking stack: %v", e.tr.Verdicts())
}

//go:noinline
func notify(release chan struct{}) {
	ch := make(chan int)
	go func() {
		select {
		case <-ch: // nobody ever sends
		case <-release:
		}
	}()
}

type node struct {
	next *node
	v    int
	pad  [4]int
}

// renderCtx renders in chunks and gives up when ctx is done.
//
//go:noinline
func renderCtx(ctx context.Context, n int) (int, error) {
	s := 0
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		k := min(n, 10000)
		s += render(k)
		n -= k
	}
	return s, nil
}

//go:noinline
func render(n int) int {
	var head *node
	for i := range n {
		head = &node{next: head, v: i}
	}
	s := 0
	for p := head; p != nil; p = p.next {
		s += p.v
	}
	return s
}

// A healthy service under load for 60 s: HTTP and gRPC downstreams, a
// database, some CPU, locks and goroutines that finish. No verdict.
func TestScenarioHealthy(t *testing.T) {
	e := newEnv(t)
	down := startDownstream(t)
	down.delay.Store(int64(time.Millisecond))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(middleware.NewGRPCClientHandler(e.mw...)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	hc := healthpb.NewHealthClient(conn)
	db := sqliteDB(t, e, 4)
	c := &cache{}
	client := e.client(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /checkout", call(client, "http://"+down.addr+"/stock"))
	mux.HandleFunc("GET /inventory", func(w http.ResponseWriter, r *http.Request) {
		if _, err := hc.Check(r.Context(), &healthpb.HealthCheckRequest{}); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		var total int
		if err := db.GetContext(r.Context(), &total, "SELECT total FROM orders WHERE id = ?", r.PathValue("id")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); render(500) }()
		wg.Wait()
		fmt.Fprintln(w, total+c.get(r.URL.Path))
	})
	mux.HandleFunc("GET /hash", func(w http.ResponseWriter, r *http.Request) {
		sum := sha256.Sum256([]byte(r.URL.Path))
		for range 500 {
			sum = sha256.Sum256(sum[:])
		}
		fmt.Fprintf(w, "%x\n", sum[:4])
	})
	mux.HandleFunc("GET /missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	svc := e.serve(mux)
	host := watchHost()
	l := load(t, 8, 15, svc+"/checkout", svc+"/inventory", svc+"/orders/7", svc+"/hash", svc+"/orders/12", svc+"/missing")
	// Clients that open more keep-alive connections as the run goes on:
	// the server's goroutines parked on them grow steadily (one a second)
	// and are no leak.
	conns := rampConnections(t, svc, time.Second)
	time.Sleep(60 * time.Second)
	l.halt()
	opened := conns()
	host.close()
	excused := 0
	for _, f := range e.rec.all() {
		if f.v.Rule == rules.IDCPUStarvation {
			if ok, others := host.starvedByOthers(f.v.Start); ok {
				// True: other processes on this shared host took the CPU.
				t.Logf("cpu.starvation while other processes used %.1f of %d CPUs (a true verdict on a shared host): %s", others, runtime.NumCPU(), f.v)
				excused++
				continue
			}
		}
		t.Errorf("verdict in a healthy run: %s", f.v)
	}
	t.Logf("RESULT scenario=%s requests=%d failed=%d keep-alive connections opened=%d verdicts=%d (cpu.starvation caused by other processes: %d)",
		t.Name(), l.ok.Load(), l.failed.Load(), opened, len(e.rec.all()), excused)
	if opened < 40 {
		t.Errorf("only %d keep-alive connections opened in 60 s", opened)
	}
	if l.ok.Load() < 3000 {
		t.Errorf("only %d requests succeeded in 60 s", l.ok.Load())
	}
}

// rampConnections opens a keep-alive connection to base every period and
// sends one request on every open connection each period, all from one
// goroutine (so the client adds no goroutine per connection, as a client
// in another process would not). The returned function stops, closes the
// connections and returns how many were opened.
func rampConnections(t *testing.T, base string, period time.Duration) func() int {
	t.Helper()
	addr := strings.TrimPrefix(base, "http://")
	stop, done := make(chan struct{}), make(chan int)
	go func() {
		type kc struct {
			c net.Conn
			r *bufio.Reader
		}
		var open []kc
		defer func() {
			for _, k := range open {
				k.c.Close()
			}
			done <- len(open)
		}()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if c, err := net.Dial("tcp", addr); err == nil {
				open = append(open, kc{c, bufio.NewReader(c)})
			}
			for _, k := range open {
				_ = k.c.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(k.c, "GET /missing HTTP/1.1\r\nHost: "+addr+"\r\n\r\n"); err != nil {
					continue
				}
				if resp, err := http.ReadResponse(k.r, nil); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}
	}()
	var once sync.Once
	n := 0
	stopFn := func() int {
		once.Do(func() { close(stop); n = <-done })
		return n
	}
	t.Cleanup(func() { stopFn() })
	return stopFn
}

// startHogs starts n processes that spin on a CPU until the returned
// function stops them.
func startHogs(t *testing.T, n int) func() {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), childEnv+"=hog")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			for _, c := range cmds {
				c.Process.Kill()
				c.Wait()
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// hog spins one thread until killed (at most a minute).
func hog() {
	runtime.GOMAXPROCS(1)
	end := time.Now().Add(time.Minute)
	x := 0
	for time.Now().Before(end) {
		for i := range 1 << 20 {
			x += i
		}
	}
	_ = x
}

var _ = httptest.NewServer
var _ tracer.Option
