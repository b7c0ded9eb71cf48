package tracer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes/gc"
	"github.com/verdict-obs/verdict/probes/sched"
)

func init() { childModes["named"] = namedChild }

// namedReport is what the named-probes scenario saw: the attributes of the
// spans of three real requests, the probes' Status lines and Snapshots,
// and the exact windows the stop-the-world probe recorded.
type namedReport struct {
	UID     int                       `json:"uid"`
	Err     string                    `json:"err"`
	Status  string                    `json:"status"`
	Spans   map[string]map[string]any `json:"spans"`   // by route
	Windows float64                   `json:"windows"` // exact pause time inside the /gc span, from the stw Snapshot (eBPF)
	GC      gc.Snapshot               `json:"gc"`
	Sched   sched.Snapshot            `json:"sched"`
}

func namedChild() int {
	r := namedScenario()
	if err := json.NewEncoder(os.Stdout).Encode(r); err != nil {
		return 1
	}
	return 0
}

var namedSink [][]byte

// namedScenario serves three requests through verdict's middleware on
// loopback, under a Tracer with eBPF in auto mode: /gc forces a GC inside
// the request, /alloc allocates hard while a GC marks (GOGC 5, a second
// goroutine allocating), /starved computes while more goroutines spin than
// there are CPUs (GOMAXPROCS raised to twice the CPUs, so their threads
// compete in the kernel's run queue).
func namedScenario() (r namedReport) {
	r.UID = os.Getuid()
	r.Spans = map[string]map[string]any{}
	exp := tracetest.NewInMemoryExporter()
	tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(), WithEBPF(EBPFAuto),
		WithSpanExporter(exp), WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer tr.Shutdown(context.Background())
	tr.Sched().Snapshot() // the first rate window starts here

	var retainMu sync.Mutex
	retain := func(b []byte) {
		retainMu.Lock()
		namedSink = append(namedSink, b)
		if len(namedSink) > 512 {
			namedSink = namedSink[256:]
		}
		retainMu.Unlock()
	}
	spin := func(d time.Duration) (n int) {
		for start := time.Now(); time.Since(start) < d; n++ {
		}
		return n
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /gc", func(w http.ResponseWriter, _ *http.Request) {
		retain(make([]byte, 1<<20))
		runtime.GC()
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /alloc", func(w http.ResponseWriter, _ *http.Request) {
		for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
			retain(make([]byte, 16<<10))
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /starved", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, spin(300*time.Millisecond))
	})
	srv := httptest.NewServer(middleware.NewHandler(mux, middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider())))
	defer srv.Close()
	get := func(path string) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			r.Err = err.Error()
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	get("/gc")
	// The exact windows inside the /gc span, before later pauses push
	// them out of the stop-the-world probe's recent list.
	tr.ForceFlush(context.Background())
	for _, s := range exp.GetSpans().Snapshots() {
		if s.Name() == "GET /gc" && tr.EBPF() != nil && tr.EBPF().STW() != nil {
			for _, p := range tr.EBPF().STW().Snapshot().Recent {
				lo, hi := maxTime(p.Start, s.StartTime()), minTime(p.End, s.EndTime())
				if hi.After(lo) {
					r.Windows += hi.Sub(lo).Seconds()
				}
			}
		}
	}

	prev := debug.SetGCPercent(5)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				retain(make([]byte, 64<<10))
			}
		}
	})
	get("/alloc")
	close(stop)
	wg.Wait()
	debug.SetGCPercent(prev)

	procs := runtime.GOMAXPROCS(2 * runtime.NumCPU())
	var spinning atomic.Bool
	spinning.Store(true)
	for range 2 * runtime.NumCPU() {
		wg.Go(func() {
			for spinning.Load() {
				spin(time.Millisecond)
			}
		})
	}
	get("/starved")
	time.Sleep(1100 * time.Millisecond) // a whole rate window of contention
	r.Sched = tr.Sched().Snapshot()
	spinning.Store(false)
	wg.Wait()
	runtime.GOMAXPROCS(procs)

	r.GC = tr.GC().Snapshot()
	r.Status = tr.Status().String()
	tr.ForceFlush(context.Background())
	for _, s := range exp.GetSpans().Snapshots() {
		route := ""
		m := map[string]any{}
		for _, kv := range s.Attributes() {
			m[string(kv.Key)] = kv.Value.AsInterface()
			if kv.Key == "http.route" {
				route = kv.Value.AsString()
			}
		}
		if route == "" {
			continue
		}
		r.Spans[route] = m
	}
	return r
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int64:
		return float64(x)
	case json.Number:
		f, _ := x.Float64()
		return f
	}
	return 0
}

// TestNamedProbesRealTraffic (issue 13, gc and sched): as root with eBPF, a
// forced GC inside a request shows the exact pauses (the stop-the-world
// probe's windows, clipped to the span) and the mark phase between them;
// a request that allocates while the GC marks shows its goroutine's assist
// time; a request computing among more busy threads than CPUs shows
// run-queue time; the process view shows the threads' run-queue wait and
// the Go scheduler's latency. The same scenario as uid 65534 (eBPF off)
// passes with the user-space fields only: the runtime's GC pauses, the
// process view, and one verdict.unmeasured per span saying which fields
// are missing and why.
func TestNamedProbesRealTraffic(t *testing.T) {
	testutil.RequireRoot(t, "use eBPF and run the test binary as uid 65534")
	t.Setenv("VERDICT_EBPF", "")

	on := namedScenario()
	t.Logf("eBPF on:\n%s\nspans: %v\ngc %+v\nsched %+v", on.Status, on.Spans, on.GC, on.Sched)
	if on.Err != "" {
		t.Fatal(on.Err)
	}
	for _, line := range []string{"\nebpf: on", "\ngc: on", "\nsched: on"} {
		if !strings.Contains(on.Status, line) {
			t.Errorf("status lacks %q", line)
		}
	}
	gcSpan := on.Spans["/gc"]
	if n := num(gcSpan[semconv.AttrGCPauseCount]); n < 2 {
		t.Errorf("/gc: %s = %v, want >= 2 (sweep and mark termination)", semconv.AttrGCPauseCount, n)
	}
	if d := num(gcSpan[semconv.AttrGCPauseDuration]); d <= 0 || d-on.Windows > 1e-6 || on.Windows-d > 1e-6 {
		t.Errorf("/gc: %s = %v s, the stop-the-world windows inside the span sum to %v s: want them equal", semconv.AttrGCPauseDuration, d, on.Windows)
	}
	if d := num(gcSpan[semconv.AttrGCMarkDuration]); d <= 0 {
		t.Errorf("/gc: %s = %v, want > 0 (runtime.GC marks inside the request)", semconv.AttrGCMarkDuration, d)
	}
	if a := num(on.Spans["/alloc"][semconv.AttrGCAssistDuration]); a <= 0 {
		t.Errorf("/alloc: %s = %v, want > 0: %v", semconv.AttrGCAssistDuration, a, on.Spans["/alloc"])
	}
	if q := num(on.Spans["/starved"][semconv.AttrKernelRunqueueDuration]); q <= 0 {
		t.Errorf("/starved: %s = %v, want > 0: %v", semconv.AttrKernelRunqueueDuration, q, on.Spans["/starved"])
	}
	for route, attrs := range on.Spans {
		if u, ok := attrs[semconv.AttrUnmeasured].(string); ok && (strings.Contains(u, "gc.") || strings.Contains(u, "eBPF off")) {
			t.Errorf("%s: %s = %q with eBPF on", route, semconv.AttrUnmeasured, u)
		}
	}
	if !on.GC.Exact || on.GC.Pauses < 2 || on.GC.Unmeasured != "" {
		t.Errorf("gc snapshot with eBPF: %+v", on.GC)
	}
	if !on.Sched.EBPF || on.Sched.RunQueueRate <= 0 || on.Sched.SchedLatencyP99 <= 0 || on.Sched.Window == 0 {
		t.Errorf("sched snapshot with eBPF: %+v", on.Sched)
	}

	bin := testutil.ExecutableCopy(t)
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Dir = filepath.Dir(bin)
	cmd.Env = append(os.Environ(), childEnv+"=named", "VERDICT_EBPF=")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var off namedReport
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	if err := dec.Decode(&off); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	t.Logf("eBPF off (uid %d):\n%s\nspans: %v\ngc %+v\nsched %+v", off.UID, off.Status, off.Spans, off.GC, off.Sched)
	if off.UID != 65534 || off.Err != "" {
		t.Fatalf("child uid %d, error %q", off.UID, off.Err)
	}
	for _, line := range []string{"\nebpf: off: missing CAP_BPF", "\ngc: degraded: ", "\nsched: degraded: eBPF off: missing CAP_BPF"} {
		if !strings.Contains(off.Status, line) {
			t.Errorf("status lacks %q", line)
		}
	}
	offGC := off.Spans["/gc"]
	if n := num(offGC[semconv.AttrGCPauseCount]); n < 1 {
		t.Errorf("/gc without eBPF: %s = %v, want >= 1 (the runtime's figure of the cycle)", semconv.AttrGCPauseCount, n)
	}
	for route, attrs := range off.Spans {
		u, _ := attrs[semconv.AttrUnmeasured].(string)
		for _, want := range []string{"gc.mark,gc.assist: eBPF off: missing CAP_BPF", "kernel: eBPF off: missing CAP_BPF"} {
			if !strings.Contains(u, want) {
				t.Errorf("%s without eBPF: %s = %q, want it to contain %q", route, semconv.AttrUnmeasured, u, want)
			}
		}
		for k := range attrs {
			if strings.HasPrefix(k, "verdict.kernel.") || k == semconv.AttrGCMarkDuration || k == semconv.AttrGCAssistDuration {
				t.Errorf("%s without eBPF carries %s", route, k)
			}
		}
	}
	if off.GC.Exact || off.GC.Pauses < 1 || !strings.Contains(off.GC.Unmeasured, "eBPF off") {
		t.Errorf("gc snapshot without eBPF: %+v", off.GC)
	}
	if off.Sched.EBPF || off.Sched.RunQueueRate <= 0 || off.Sched.SchedLatencyP99 <= 0 || off.Sched.Unmeasured == "" {
		t.Errorf("sched snapshot without eBPF: %+v", off.Sched)
	}
}
