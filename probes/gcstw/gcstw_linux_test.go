//go:build linux

package gcstw

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/bpf"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes"
)

func attrs(kvs []attribute.KeyValue) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

func TestSpanAttribution(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	p := mustNew(t, WithMeterProvider(mp), WithDrainInterval(time.Hour)) // drains only on SpanEnd
	testutil.RequirePrivilege(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	if st := p.Status(); st.State != probes.StateOn {
		t.Fatalf("status %v", st)
	}

	var sc trace.SpanContext
	// No GC may start by itself in the span "without GC" (allocation by
	// the race detector or a parallel test binary's load could trigger one).
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	runtime.GC()
	s1 := time.Now()
	time.Sleep(10 * time.Millisecond)
	e1 := time.Now()
	// A gap, so that the pairing error of the clock bridge (sub-microsecond,
	// see bpf/monoclock) cannot move GC's first pause into the first span.
	time.Sleep(time.Millisecond)

	s2 := time.Now()
	runtime.GC()
	e2 := time.Now()

	if got := p.SpanEnd(sc, s1, e1, nil); len(got) != 0 {
		t.Errorf("span without GC got %v", got)
	}
	got := attrs(p.SpanEnd(sc, s2, e2, nil))
	dur, cnt := got[semconv.AttrGCPauseDuration].AsFloat64(), got[semconv.AttrGCPauseCount].AsInt64()
	if cnt < 2 || dur <= 0 || dur > e2.Sub(s2).Seconds() {
		t.Fatalf("span with one GC: count %d duration %gs (span %v), want >= 2 pauses inside the span", cnt, dur, e2.Sub(s2))
	}
	// A span covering only the first half of the GC span sees a part.
	half := attrs(p.SpanEnd(sc, s1, s2.Add(e2.Sub(s2)/2), nil))
	if h := half[semconv.AttrGCPauseDuration].AsFloat64(); h > dur {
		t.Errorf("partial span got %gs > whole %gs", h, dur)
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var pauses uint64
	var lostSeen bool
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Histogram[float64]:
				if m.Name == semconv.MetricGCPauseDuration {
					for _, dp := range d.DataPoints {
						pauses += dp.Count
					}
				}
			case metricdata.Sum[int64]:
				if m.Name == semconv.MetricGCPauseLost {
					lostSeen = true
					for _, dp := range d.DataPoints {
						if dp.Value != 0 {
							t.Errorf("lost = %d", dp.Value)
						}
					}
				}
			}
		}
	}
	if pauses < 2 || !lostSeen {
		t.Errorf("metrics: %d pauses recorded, lost metric present %v", pauses, lostSeen)
	}
}

func TestSpanEndAllocs(t *testing.T) {
	p := mustNew(t, WithDrainInterval(time.Hour))
	testutil.RequirePrivilege(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	runtime.GC()
	s := time.Now().Add(-time.Second)
	e := time.Now()
	dst := make([]attribute.KeyValue, 0, 4)
	p.SpanEnd(trace.SpanContext{}, s, e, dst) // drain once
	if n := testing.AllocsPerRun(1000, func() {
		dst = p.SpanEnd(trace.SpanContext{}, s, e, dst[:0])
	}); n != 0 {
		t.Fatalf("SpanEnd with overlap: %v allocs", n)
	}
	if len(dst) != 2 {
		t.Fatalf("expected attributes, got %v", dst)
	}
	s2 := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		dst = p.SpanEnd(trace.SpanContext{}, s2, s2.Add(time.Millisecond), dst[:0])
	}); n != 0 {
		t.Fatalf("SpanEnd without overlap: %v allocs", n)
	}
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	// Warm up cilium/ebpf's cached feature probes outside the count.
	warm := mustNew(t)
	testutil.RequirePrivilege(t, warm.Start(ctx))
	warm.Shutdown(ctx)

	before := countFDs(t)
	p := mustNew(t)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); !errors.Is(err, probes.ErrStarted) {
		t.Fatalf("second Start = %v, want probes.ErrStarted", err)
	}
	runtime.GC()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if after := countFDs(t); after != before {
		t.Fatalf("fds after Shutdown %d, before Start %d", after, before)
	}
	if st := p.Status(); st.State != probes.StateOff || st.Reason == "" {
		t.Fatalf("status after shutdown: %v", st)
	}
	// After Shutdown everything is a no-op.
	if got := p.SpanEnd(trace.SpanContext{}, time.Now().Add(-time.Hour), time.Now(), nil); len(got) != 0 {
		t.Fatalf("SpanEnd after Shutdown: %v", got)
	}
	if err := p.Start(ctx); !errors.Is(err, probes.ErrShutDown) {
		t.Fatalf("Start after Shutdown = %v, want probes.ErrShutDown", err)
	}
	if s := p.Snapshot(); s.Pauses == 0 || s.Time.IsZero() {
		t.Fatalf("Snapshot after Shutdown = %+v, want the last one (with the runtime.GC pauses)", s)
	}
}

// buildFixture builds testdata/stwspan into a directory every user can read.
func buildFixture(t *testing.T, ldflags string, extra ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gcstw-fixture-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "stwspan")
	args := append([]string{"build", "-o", bin}, extra...)
	if ldflags != "" {
		args = append(args, "-ldflags="+ldflags)
	}
	cmd := exec.Command("go", append(args, "./testdata/stwspan")...)
	if strings.Contains(ldflags, "external") {
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

type line map[string]any

func parseLines(t *testing.T, out []byte) map[string]line {
	t.Helper()
	res := map[string]line{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("fixture output %q: %v", sc.Text(), err)
		}
		if e, ok := l["error"]; ok {
			testutil.RequirePrivilege(t, errors.Join(bpf.ErrNotSupported, errors.New(e.(string))))
		}
		if n, ok := l["name"].(string); ok {
			res[n] = l
		}
	}
	return res
}

func checkFixture(t *testing.T, out []byte) {
	t.Helper()
	spans := parseLines(t, out)
	gc, idle := spans["gc"], spans["no-gc"]
	if gc == nil || idle == nil {
		t.Fatalf("missing spans in output:\n%s", out)
	}
	if d, _ := gc[semconv.AttrGCPauseDuration].(float64); d <= 0 {
		t.Errorf("gc span: stw duration %v, want > 0\n%s", gc[semconv.AttrGCPauseDuration], out)
	}
	if c, _ := gc[semconv.AttrGCPauseCount].(float64); c < 4 {
		t.Errorf("gc span: stw count %v, want >= 4 (two GCs)\n%s", gc[semconv.AttrGCPauseCount], out)
	}
	if _, ok := idle[semconv.AttrGCPauseDuration]; ok {
		t.Errorf("span without GC got stop-the-world time:\n%s", out)
	}
}

// TestBinaries runs the fixture as users run programs: built normally,
// stripped with -ldflags="-s -w", and under "go run".
func TestBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	testutil.RequireRoot(t, "attach the uprobes")
	t.Run("build", func(t *testing.T) {
		out, err := exec.Command(buildFixture(t, "")).Output()
		if err != nil {
			t.Fatal(err)
		}
		checkFixture(t, out)
	})
	t.Run("stripped", func(t *testing.T) {
		out, err := exec.Command(buildFixture(t, "-s -w")).Output()
		if err != nil {
			t.Fatal(err)
		}
		checkFixture(t, out)
	})
	// Position-independent and externally linked binaries: the line table
	// is calibrated against the running code (runtime.text is not at the
	// start of .text when a C linker lays the binary out).
	t.Run("pie", func(t *testing.T) {
		out, err := exec.Command(buildFixture(t, "", "-buildmode=pie")).Output()
		if err != nil {
			t.Fatal(err)
		}
		checkFixture(t, out)
	})
	t.Run("cgo external linker stripped", func(t *testing.T) {
		if _, err := exec.LookPath("gcc"); err != nil {
			t.Skip("no C toolchain for external linking")
		}
		out, err := exec.Command(buildFixture(t, "-linkmode=external -s -w")).Output()
		if err != nil {
			t.Fatal(err)
		}
		checkFixture(t, out)
	})
	t.Run("go run", func(t *testing.T) {
		out, err := exec.Command("go", "run", "./testdata/stwspan").Output()
		if err != nil {
			t.Fatal(err)
		}
		checkFixture(t, out)
	})
}

// TestUnprivileged runs the fixture as uid 65534: Start must fail with a
// reason, not crash.
func TestUnprivileged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	testutil.RequireRoot(t, "run a subprocess as another user")
	cmd := exec.Command(buildFixture(t, ""))
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unprivileged run: %v\n%s", err, out)
	}
	var l line
	if err := json.Unmarshal(bytes.TrimSpace(out), &l); err != nil {
		t.Fatalf("output %q: %v", out, err)
	}
	t.Logf("unprivileged: %s", out)
	if l["permission"] != true && l["not_supported"] != true {
		t.Fatalf("error is neither ErrPermission nor ErrNotSupported: %s", out)
	}
	if s, _ := l["status"].(string); !strings.HasPrefix(s, "gcstw: off: ") {
		t.Fatalf("status %q does not say why", s)
	}
}

// TestOtherProcessNeverSeen runs the same binary twice: one process
// collects garbage in a loop, the other watches with the probe on. The
// watcher must see only its own pauses and no foreign hit.
func TestOtherProcessNeverSeen(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	testutil.RequireRoot(t, "attach the uprobes")
	bin := buildFixture(t, "")

	other := exec.Command(bin, "-loop")
	stdin, _ := other.StdinPipe()
	stdout, _ := other.StdoutPipe()
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	defer other.Wait()
	defer stdin.Close()
	if l, _ := bufio.NewReader(stdout).ReadString('\n'); !strings.Contains(l, "ready") {
		t.Fatalf("other process: %q", l)
	}

	out, err := exec.Command(bin, "-watch=300ms").Output()
	if err != nil {
		t.Fatal(err)
	}
	var res line
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		res = nil
		if err := json.Unmarshal(l, &res); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if e, ok := res["error"]; ok {
			testutil.RequirePrivilege(t, errors.Join(bpf.ErrNotSupported, errors.New(e.(string))))
		}
	}
	cycles, _ := res["own_gc_cycles"].(float64)
	windows, _ := res["windows"].(float64)
	foreign, _ := res["foreign"].(float64)
	t.Logf("watcher: %v own GC cycles, %v windows, %v foreign hits, while the other process looped runtime.GC", cycles, windows, foreign)
	if foreign != 0 || windows > 2*cycles+2 || windows < 2 {
		t.Fatalf("watcher saw %v windows for %v own GC cycles, %v foreign hits", windows, cycles, foreign)
	}
}

// BenchmarkSpanEnd measures the hook's cost per span: the common case (no
// pause overlapped the span: one atomic load and the ring-buffer check) and
// a span that overlapped pauses.
func BenchmarkSpanEnd(b *testing.B) {
	p := mustNew(b, WithDrainInterval(time.Hour))
	testutil.RequirePrivilege(b, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	gcStart := time.Now()
	runtime.GC()
	gcEnd := time.Now()
	dst := make([]attribute.KeyValue, 0, 4)
	dst = p.SpanEnd(trace.SpanContext{}, gcStart, gcEnd, dst[:0]) // drain
	b.Run("no-pause", func(b *testing.B) {
		s := time.Now()
		e := s.Add(time.Millisecond)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst = p.SpanEnd(trace.SpanContext{}, s, e, dst[:0])
		}
	})
	b.Run("overlapping-pauses", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			dst = p.SpanEnd(trace.SpanContext{}, gcStart, gcEnd, dst[:0])
		}
		if len(dst) != 2 {
			b.Fatal("no attributes")
		}
	})
}

// TestConcurrentSpanEndAndShutdown ends spans on many goroutines while
// collections run and the probe shuts down under them (run with -race).
func TestConcurrentSpanEndAndShutdown(t *testing.T) {
	p := mustNew(t, WithDrainInterval(time.Millisecond), WithCapacity(8))
	testutil.RequirePrivilege(t, p.Start(context.Background()))
	stop := make(chan struct{})
	done := make(chan struct{})
	const workers = 4
	for range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			dst := make([]attribute.KeyValue, 0, 2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := time.Now()
				runtime.GC()
				dst = p.SpanEnd(trace.SpanContext{}, s, time.Now(), dst[:0])
				_ = p.Snapshot()
				_ = p.Status()
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // spans keep ending after Shutdown
	close(stop)
	for range workers {
		<-done
	}
}

// The snapshot counts every pause the probe drained, with the lengths the
// pauses had; the window fields are the same arithmetic over the window.
func TestSnapshot(t *testing.T) {
	p := mustNew(t, WithDrainInterval(time.Hour)) // drained by Snapshot only
	testutil.RequirePrivilege(t, p.Start(context.Background()))
	defer p.Shutdown(context.Background())
	s0 := p.Snapshot()
	before := gcPauseCount()
	for range 3 {
		runtime.GC()
	}
	after := gcPauseCount()
	s := p.Snapshot()
	t.Logf("snapshot: pauses %d, total %v, longest %v, lost %d, recent %d", s.Pauses, s.PauseTime, s.LongestPause, s.Lost, len(s.Recent))
	// Each GC cycle stops the world twice; the runtime counts the same
	// pauses (other stops may happen meanwhile: at least, not exactly).
	if got, want := s.Pauses-s0.Pauses, after-before; got < want || s.Lost != 0 {
		t.Errorf("%d pauses seen during 3 runtime.GC, the runtime counted %d; lost %d", got, want, s.Lost)
	}
	var sum, longest time.Duration
	for _, ps := range s.Recent {
		if ps.Duration() <= 0 || ps.Reason == "" {
			t.Errorf("recent pause %+v", ps)
		}
		sum += ps.Duration()
		longest = max(longest, ps.Duration())
	}
	if uint64(len(s.Recent)) == s.Pauses && (sum != s.PauseTime || longest != s.LongestPause) {
		t.Errorf("recent pauses sum to %v (longest %v), totals say %v (%v)", sum, longest, s.PauseTime, s.LongestPause)
	}
	if len(s.Recent) > 0 && !s.Recent[len(s.Recent)-1].GC {
		t.Errorf("the last pause, after runtime.GC, is not a GC pause: %+v", s.Recent[len(s.Recent)-1])
	}

	time.Sleep(time.Until(s0.Time.Add(MinRateWindow)))
	w := p.Snapshot()
	if w.Window < MinRateWindow || w.WindowPauses != w.Pauses-s0.Pauses || w.WindowPauseTime != w.PauseTime-s0.PauseTime {
		t.Errorf("window %v: %d pauses %v, want >= %v, %d, %v", w.Window, w.WindowPauses, w.WindowPauseTime,
			MinRateWindow, w.Pauses-s0.Pauses, w.PauseTime-s0.PauseTime)
	}
	if want := w.WindowPauseTime.Seconds() / w.Window.Seconds(); w.StoppedFraction != want {
		t.Errorf("StoppedFraction = %v, want %v", w.StoppedFraction, want)
	}
}

// gcPauseCount is the number of stop-the-world pauses the runtime recorded
// for the garbage collector.
func gcPauseCount() uint64 {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	var n uint64
	for _, c := range s[0].Value.Float64Histogram().Counts {
		n += c
	}
	return n
}
