package scenarios_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/pgtest"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// Timing of every scenario: a healthy warm-up long enough for baselines
// (the judge's window, 5 s, plus a few seconds of history before it), then
// the fault; its verdict must fire within deadline of the onset.
const (
	warmup   = 8 * time.Second
	deadline = 10 * time.Second
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "hog":
		hog()
		return
	case "downstream":
		serveRemoteDownstream()
		return
	}
	flag.Parse()
	// The unprivileged suite runs beside this one (TestScenariosUnprivileged
	// collects it).
	unpriv = startUnprivileged()
	code := m.Run()
	unpriv.stop()
	if err := pgtest.StopShared(); err != nil {
		fmt.Fprintln(os.Stderr, "stop PostgreSQL:", err)
	}
	os.Exit(code)
}

// fired is one verdict transition as the handler saw it.
type fired struct {
	v  judge.Verdict
	at time.Time
}

type recorder struct {
	mu sync.Mutex
	vs []fired
	ch chan struct{}
}

func (r *recorder) handle(_ context.Context, v tracer.Verdict) {
	r.mu.Lock()
	r.vs = append(r.vs, fired{v: v, at: time.Now()})
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []fired {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.vs)
}

// env is one scenario's running service: the tracer with the judge, and
// the instrumentation options bound to it.
type env struct {
	last    atomic.Pointer[judge.Snapshot] // the latest snapshot, for failure messages
	lock    *suiteLock                     // shared, or exclusive from a CPU-heavy onset
	heavy   bool                           // newHeavyEnv
	t       *testing.T
	tr      *tracer.Tracer
	rec     *recorder
	mw      []middleware.Option
	sqlOpts []sqlxprobe.Option
	ebpf    bool
}

func newEnv(t *testing.T, opts ...tracer.Option) *env {
	t.Helper()
	skipUnderRace(t)
	return newEnvLocked(t, nil, opts...)
}

// newHeavyEnv is newEnv for a scenario whose fault loads the host's CPU
// (it calls warmHeavy): it first waits for the other suite's heavy
// scenario to end (see suitelock_linux_test.go).
func newHeavyEnv(t *testing.T, opts ...tracer.Option) *env {
	t.Helper()
	skipUnderRace(t)
	heavy := lockHeavy(t)
	t.Cleanup(heavy.release) // the first cleanup: runs last
	return newEnvLocked(t, heavy, opts...)
}

func newEnvLocked(t *testing.T, heavy *suiteLock, opts ...tracer.Option) *env {
	t.Helper()
	rec := &recorder{ch: make(chan struct{}, 1)}
	base := []tracer.Option{
		tracer.WithServiceName("scenario"), tracer.WithoutGlobals(), tracer.WithConsoleFormat(tracer.ConsoleNone),
		tracer.WithSpanExporter(tracetest.NewNoopExporter()), tracer.WithMetricReader(sdkmetric.NewManualReader()),
		tracer.WithLogExporter(discardLogs{}), tracer.WithVerdictHandler(rec.handle),
	}
	e := &env{t: t, rec: rec, lock: lockSuite(t, false), heavy: heavy != nil}
	t.Cleanup(func() { e.lock.release() }) // the first cleanup: runs last
	// A rule that finds nothing and keeps the snapshot: failure messages
	// show what the judge saw.
	base = append(base, tracer.WithRule(judge.RuleFunc("test.snapshot", func(s *judge.Snapshot, _ judge.State) []judge.Finding {
		e.last.Store(s)
		return nil
	})))
	tr, err := tracer.Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e.tr = tr
	e.mw = []middleware.Option{middleware.WithTracerProvider(tr.TracerProvider()), middleware.WithMeterProvider(tr.MeterProvider()),
		middleware.WithPropagators(tr.Propagator())}
	e.sqlOpts = []sqlxprobe.Option{sqlxprobe.WithTracerProvider(tr.TracerProvider()), sqlxprobe.WithMeterProvider(tr.MeterProvider()),
		sqlxprobe.WithLogger(slog.New(slog.DiscardHandler))}
	c, _ := tr.Status().Component("ebpf")
	e.ebpf = c.State == probes.StateOn
	if os.Geteuid() == 0 && !e.ebpf {
		if os.Getenv("CI") == "true" {
			t.Fatalf("root without eBPF under CI: %+v", c)
		}
		t.Logf("root, but eBPF is %s: %s", c.State, c.Reason)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Errorf("tracer shutdown: %v", err)
		}
	})
	return e
}

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// serve runs h behind verdict's middleware on 127.0.0.1 and returns its
// base URL.
func (e *env) serve(h http.Handler) string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	srv := &http.Server{Handler: middleware.NewHandler(h, e.mw...), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	e.t.Cleanup(func() {
		// Handlers in flight end their spans before the tracer shuts down.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			srv.Close()
		}
	})
	return "http://" + ln.Addr().String()
}

// client returns an HTTP client instrumented with verdict's transport.
func (e *env) client(base *http.Transport) *http.Client {
	if base == nil {
		base = &http.Transport{MaxIdleConnsPerHost: 64}
	}
	e.t.Cleanup(base.CloseIdleConnections)
	return &http.Client{Transport: middleware.NewTransport(base, e.mw...), Timeout: 5 * time.Second}
}

// loader is the outside world: uninstrumented clients calling the service
// at a steady rate.
type loader struct {
	ok, failed atomic.Int64
	stop       context.CancelFunc
	done       sync.WaitGroup
}

// load starts workers that each call one of urls (round robin) every
// 1/rate seconds per worker.
func load(t *testing.T, workers int, perWorker float64, urls ...string) *loader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &loader{stop: cancel}
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	period := time.Duration(float64(time.Second) / perWorker)
	for w := range workers {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			tick := time.NewTicker(period)
			defer tick.Stop()
			time.Sleep(time.Duration(w) * period / time.Duration(workers))
			for i := w; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, urls[i%len(urls)], nil)
				resp, err := c.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						l.failed.Add(1)
					}
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode < 500 {
					l.ok.Add(1)
				} else {
					l.failed.Add(1)
				}
			}
		}()
	}
	t.Cleanup(func() {
		l.halt()
		tr.CloseIdleConnections()
	})
	return l
}

func (l *loader) halt() {
	l.stop()
	l.done.Wait()
}

// expect waits for rule's verdict (for subject, when not "*") to fire
// within deadline of onset, checks its evidence and words, checks that no
// other rule fired since the start, and reports the time to verdict.
func (e *env) expect(onset time.Time, rule, subject string, signals, words []string) judge.Verdict {
	t := e.t
	t.Helper()
	limit := time.NewTimer(time.Until(onset.Add(deadline)) + 500*time.Millisecond)
	defer limit.Stop()
	var got *fired
	for got == nil {
		for _, f := range e.rec.all() {
			if f.v.Rule == rule && f.v.Active() && (subject == "*" || f.v.Subject == subject) {
				got = &f
				break
			}
		}
		if got != nil {
			break
		}
		select {
		case <-e.rec.ch:
		case <-limit.C:
			e.failWithState(fmt.Sprintf("no %s verdict (subject %q) within %s of the onset", rule, subject, deadline))
			return judge.Verdict{}
		}
	}
	v := got.v
	ttv := got.at.Sub(onset)
	mode := "unprivileged"
	if e.ebpf {
		mode = "ebpf"
	} else if os.Geteuid() == 0 {
		mode = "root-no-ebpf"
	}
	t.Logf("RESULT mode=%s scenario=%s rule=%s time_to_verdict=%.1fs", mode, t.Name(), rule, ttv.Seconds())
	t.Logf("verdict: %s", v)
	for _, ev := range v.Evidence {
		t.Logf("  evidence %s=%.4g baseline=%.4g threshold=%.4g %s [%s] %s", ev.Signal, ev.Value, ev.Baseline, ev.Threshold, ev.Unit, ev.Source, firstLine(ev.Detail))
	}
	if ttv > deadline {
		t.Errorf("%s fired %s after the onset, want within %s", rule, ttv.Round(100*time.Millisecond), deadline)
	}
	if ttv < 0 {
		t.Errorf("%s fired %s before the onset", rule, -ttv)
	}
	have := map[string]judge.Evidence{}
	for _, ev := range v.Evidence {
		have[ev.Signal] = ev
		if ev.Source == "" || ev.Unit == "" {
			t.Errorf("evidence %s without source or unit", ev.Signal)
		}
	}
	for _, s := range signals {
		if _, ok := have[s]; !ok {
			t.Errorf("evidence lacks %s", s)
		}
	}
	text := v.Summary + " " + v.Action
	for _, w := range words {
		if !strings.Contains(text, w) {
			t.Errorf("verdict text lacks %q: %s", w, text)
		}
	}
	if len(v.Exemplars) == 0 && rule != "goroutine.leak" && rule != "telemetry.dropping" {
		t.Errorf("no exemplar trace IDs")
	}
	e.onlyRule(rule)
	return v
}

// onlyRule fails for every verdict of another rule so far.
func (e *env) onlyRule(rule string) {
	e.t.Helper()
	for _, f := range e.rec.all() {
		if f.v.Rule != rule && f.v.Active() {
			e.t.Errorf("%s fired too (at %s): %s", f.v.Rule, f.at.Format("15:04:05.0"), f.v)
		}
	}
}

func (e *env) failWithState(msg string) {
	e.t.Helper()
	var b strings.Builder
	for _, f := range e.rec.all() {
		fmt.Fprintf(&b, "\n  %s %s", f.at.Format("15:04:05.0"), f.v)
	}
	if s := e.last.Load(); s != nil {
		m := func(name string, v judge.Measure) {
			fmt.Fprintf(&b, "\n  %s %.4g (baseline %.4g, %v)", name, v.Value, v.Baseline, v.HasBaseline)
		}
		b.WriteString("\nlast snapshot:")
		m("requests.p99", s.Requests.P99)
		m("requests.error_ratio", s.Requests.ErrorRatio)
		m("requests.runqueue", s.Requests.Runqueue)
		m("runtime.sched_p99", s.Runtime.SchedLatencyP99)
		m("process.runqueue_wait", s.CPU.RunqueueWait)
		m("runtime.gc_cpu", s.Runtime.GCCPUFraction)
		m("runtime.gc_pause_rate", s.Runtime.GCPauseRate)
		m("runtime.mutex_wait", s.Runtime.MutexWaitRate)
		m("runtime.goroutines", s.Runtime.Goroutines)
		for _, p := range s.Peers {
			m("peer "+p.Address+" p50", p.P50)
		}
		for _, q := range s.Queries {
			m("query "+q.Fingerprint+" p50", q.P50)
		}
		for _, p := range s.Pools {
			m("pool "+p.Name+" wait share", p.WaitShare)
		}
	}
	e.t.Fatalf("%s; verdicts so far:%s\nstatus:\n%s", msg, b.String(), e.tr.Status())
}

// blockedState renders the blocked stacks of the judge's last snapshot
// and the process's goroutine profile, for failure messages about them.
func (e *env) blockedState() string {
	var b strings.Builder
	if s := e.last.Load(); s != nil {
		fmt.Fprintf(&b, "\nblocked stacks of the last snapshot (analysis at %s):", s.Runtime.BlockedAt.Format("15:04:05.0"))
		for _, bs := range s.Runtime.Blocked {
			fmt.Fprintf(&b, "\n  %s %q ×%d (growth %d): %s", bs.Class, bs.WaitReason, bs.Count, bs.Growth, strings.ReplaceAll(bs.Stack, "\n", " < "))
		}
	}
	b.WriteString("\ngoroutine profile:\n")
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

// warm runs the healthy phase and returns the onset time.
func warm() time.Time {
	time.Sleep(warmup)
	return time.Now()
}

// warmHeavy runs the healthy phase of a scenario whose fault loads the
// host's CPU (its env from newHeavyEnv), then takes the suite lock
// exclusively (the other suite's scenario in flight ends first; see
// suitelock_linux_test.go), and returns the onset time: after the wait.
func (e *env) warmHeavy() time.Time {
	if !e.heavy {
		e.t.Fatal("warmHeavy needs newHeavyEnv")
	}
	time.Sleep(warmup)
	e.relock(true)
	return time.Now()
}

// relock takes the suite lock again, exclusive or shared.
func (e *env) relock(exclusive bool) {
	e.lock.release()
	e.lock = lockSuite(e.t, exclusive)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
