package tracertest_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge"
	"github.com/verdict-obs/verdict/tracer/tracertest"
)

// sloppyProbe is a probe whose Shutdown forgets to stop the goroutine its
// Start started: the kind of bug the check after Shutdown catches.
type sloppyProbe struct {
	stop chan struct{}
	done chan struct{}
}

func (p *sloppyProbe) Name() string { return "sloppy" }

func (p *sloppyProbe) Start(context.Context) error {
	go sloppyLoop(p.stop, p.done)
	return nil
}

func (p *sloppyProbe) Shutdown(context.Context) error { return nil }

func (p *sloppyProbe) Status() probes.Status {
	return probes.Status{Name: "sloppy", State: probes.StateOn}
}

//go:noinline
func sloppyLoop(stop, done chan struct{}) {
	defer close(done)
	<-stop
}

// A goroutine verdict started for the test and left running after its
// Shutdown fails the test, with its stack; the test's own goroutines are
// not counted there.
func TestNothingLeftRunningAfterShutdown(t *testing.T) {
	t.Parallel()
	p := &sloppyProbe{stop: make(chan struct{}), done: make(chan struct{})}
	f := inner(t, "sloppy", func(tb testing.TB) {
		tracertest.Start(tb, tracertest.WithTracerOptions(tracer.WithProbes(p)))
	})
	close(p.stop)
	<-p.done
	mustFail(t, f, "verdict left 1 goroutine(s) running after its Shutdown", "tracertest_test.sloppyLoop")
	if strings.Contains(f.errors(), "goroutine.leak") {
		t.Errorf("verdict's own goroutine counted as the test's leak:\n%s", f.errors())
	}

	clean := inner(t, "clean", func(tb testing.TB) { tracertest.Start(tb) })
	mustPass(t, clean)
}

// With the flight recorder on, a verdict saves the execution trace and
// the failure names the file for go tool trace.
func TestFlightRecordOfAVerdict(t *testing.T) {
	t.Parallel()
	always := judge.RuleFunc("test.always", func(*judge.Snapshot, judge.State) []judge.Finding {
		return []judge.Finding{{Severity: judge.SeverityWarning, Summary: "always wrong.", Action: "Nothing to do."}}
	})
	f := inner(t, "flight", func(tb testing.TB) {
		tracertest.Start(tb, tracertest.WithFlightRecorder(), tracertest.WithRule(always))
		time.Sleep(50 * time.Millisecond) // something to record
	})
	mustFail(t, f, "verdict warning test.always: always wrong.", "execution trace: go tool trace ")
	m := regexp.MustCompile(`go tool trace (\S+)`).FindStringSubmatch(f.errors())
	if m == nil {
		t.Fatalf("no trace file named:\n%s", f.errors())
	}
	data, err := os.ReadFile(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// An execution trace starts with its header, "go 1.xx trace".
	if !bytes.HasPrefix(data, []byte("go 1.")) || !bytes.Contains(data[:16], []byte(" trace")) || len(data) < 1024 {
		t.Errorf("%s (%d bytes) is not an execution trace: %q", m[1], len(data), data[:min(len(data), 16)])
	}
	if !strings.Contains(m[1], "test.always") || filepath.Dir(m[1]) == "." {
		t.Errorf("file name %s", m[1])
	}
}

// With -verdict.out, the execution trace goes to that directory.
func TestFlightRecordInOutDir(t *testing.T) {
	// Not parallel: it sets the flag the flight tests read.
	dir := t.TempDir()
	if err := flag.Set("verdict.out", dir); err != nil {
		t.Fatal(err)
	}
	defer flag.Set("verdict.out", "")
	always := judge.RuleFunc("test.always", func(*judge.Snapshot, judge.State) []judge.Finding {
		return []judge.Finding{{Severity: judge.SeverityWarning, Summary: "always wrong."}}
	})
	f := inner(t, "flight-out", func(tb testing.TB) {
		tracertest.Start(tb, tracertest.WithFlightRecorder(), tracertest.WithRule(always))
		time.Sleep(20 * time.Millisecond)
	})
	mustFail(t, f, "execution trace: go tool trace "+dir+string(filepath.Separator))
	if strings.Contains(f.errors(), "ArtifactDir") {
		t.Errorf("the ArtifactDir note with -verdict.out set:\n%s", f.errors())
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.trace"))
	if err != nil || len(files) != 1 {
		t.Fatalf("traces in %s: %v %v", dir, files, err)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() < 1024 {
		t.Errorf("%s: %v %v", files[0], fi, err)
	}
}

// A verdict from process-wide signals says so; a test-defined rule works
// as a built-in does. Alone, the test fails with it; while other tests run
// in parallel it cannot tell whose the verdict is, and logs it instead.
func TestProcessWideVerdictSaysSo(t *testing.T) {
	// Not parallel: the first case needs to be the only test running.
	gc := judge.RuleFunc("test.gc", func(s *judge.Snapshot, _ judge.State) []judge.Finding {
		if !s.Runtime.Available {
			return nil
		}
		return []judge.Finding{{Severity: judge.SeverityWarning, Summary: "the GC works.", Evidence: []judge.Evidence{
			{Signal: "runtime.gc.cpu", Value: s.Runtime.GCCPUFraction.Value, Unit: "1", Source: judge.SourceRuntime}}}}
	})
	f := inner(t, "gc", func(tb testing.TB) { tracertest.Start(tb, tracertest.WithRule(gc)) })
	mustFail(t, f, "verdict warning test.gc", "scope:    process-wide (runtime signals)")

	var fs [2]*fakeTB
	var wg sync.WaitGroup
	both := make(chan struct{}, 2)
	for i := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fs[i] = inner(t, fmt.Sprintf("parallel-%d", i), func(tb testing.TB) {
				tracertest.Start(tb, tracertest.WithRule(gc))
				both <- struct{}{}
				for len(both) < 2 && tb.Context().Err() == nil { // until both started
					time.Sleep(time.Millisecond)
				}
			})
		}()
	}
	wg.Wait()
	for _, f := range fs {
		mustPass(t, f)
		if l := f.logged(); !strings.Contains(l, "a process-wide verdict fired while other tests ran in parallel") ||
			!strings.Contains(l, "verdict warning test.gc") {
			t.Errorf("%s: the process-wide verdict is not logged:\n%s", f.name, l)
		}
	}
}

// The global router hands spans started through the OpenTelemetry globals
// to the test they belong to: by context, by local parent, by remote
// parent (a server span of the test's client request), or to the only test
// running.
func TestRouterPlacesSpans(t *testing.T) {
	// Not parallel: the last case needs to be the only test running.
	var a, b *tracertest.T
	var wg sync.WaitGroup
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	aDone := make(chan struct{}) // b runs until a is done: two tests run meanwhile
	run := func(name string, set **tracertest.T, body func(tr *tracertest.T)) *fakeTB {
		return inner(t, name, func(tb testing.TB) {
			tr := tracertest.Start(tb)
			*set = tr
			started <- struct{}{}
			<-release
			body(tr)
		})
	}
	global := otel.GetTracerProvider().Tracer("router-test")
	var fa, fb *fakeTB
	var url string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /x", func(w http.ResponseWriter, r *http.Request) {
		_, sp := global.Start(r.Context(), "handler-work") // a local child of the server span
		sp.End()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: middleware.NewHandler(mux), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	url = "http://" + ln.Addr().String() + "/x"
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: middleware.NewTransport(tr), Timeout: 5 * time.Second}

	wg.Add(2)
	go func() {
		defer wg.Done()
		fa = run("a", &a, func(x *tracertest.T) {
			ctx, root := global.Start(x.Context(), "a-root")                                       // by context
			_, child := global.Start(trace.ContextWithSpan(context.Background(), root), "a-child") // by local parent
			child.End()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if resp, err := client.Do(req); err == nil { // server span: by remote parent
				resp.Body.Close()
			}
			root.End()
			tr.CloseIdleConnections()                               // the connection's goroutines are the test's
			_, lost := global.Start(context.Background(), "a-lost") // two tests run: nowhere
			lost.End()
			close(aDone)
		})
	}()
	go func() {
		defer wg.Done()
		fb = run("b", &b, func(x *tracertest.T) {
			_, sp := global.Start(x.Context(), "b-root")
			sp.End()
			<-aDone
		})
	}()
	<-started
	<-started
	close(release)
	wg.Wait()
	mustPass(t, fa)
	mustPass(t, fb)
	names := func(x *tracertest.T) map[string]int {
		m := map[string]int{}
		for _, s := range x.Spans() {
			m[s.Name]++
		}
		return m
	}
	na, nb := names(a), names(b)
	for _, n := range []string{"a-root", "a-child", "GET", "GET /x", "handler-work"} {
		if na[n] != 1 {
			t.Errorf("test a: span %q seen %d times, want 1 (spans %v)", n, na[n], na)
		}
	}
	if na["a-lost"] != 0 || nb["a-lost"] != 0 {
		t.Errorf("a span without context went to a test while two ran: a %v b %v", na, nb)
	}
	if len(nb) != 1 || nb["b-root"] != 1 {
		t.Errorf("test b: spans %v, want b-root only", nb)
	}
	if !strings.Contains(fa.logged(), "could not be attributed to a test") {
		t.Errorf("the unplaced span is not reported:\n%s", fa.logged())
	}

	// Alone, a test gets the spans started without its context.
	var c *tracertest.T
	fc := inner(t, "alone", func(tb testing.TB) {
		c = tracertest.Start(tb)
		_, sp := global.Start(context.Background(), "c-alone")
		sp.End()
	})
	mustPass(t, fc)
	if n := names(c)["c-alone"]; n != 1 {
		t.Errorf("the only test running did not get the span: %v", names(c))
	}
}

// A second Start for the same test reports it and returns the first.
func TestStartTwice(t *testing.T) {
	t.Parallel()
	var first, second *tracertest.T
	f := inner(t, "twice", func(tb testing.TB) {
		first = tracertest.Start(tb)
		second = tracertest.Start(tb)
	})
	mustFail(t, f, "tracertest.Start called twice")
	if first != second {
		t.Error("the second Start returned another T")
	}
}
