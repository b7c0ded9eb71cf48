package harness

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/testutil"
)

func TestMain(m *testing.M) {
	if Child(Verdict, Off) { // the children are this test binary too
		return
	}
	goleak.VerifyTestMain(m)
}

// TestSoakShort is the CI form of the soak: both variants in turn at a
// modest rate for 20 s, with eBPF as root. It asserts what must hold at
// any speed: no panic and no child death, every request answered, no BPF
// event lost and no span dropped at that rate, RSS, goroutines and
// descriptors bounded after the warm-up, and a well-formed plot. It takes
// about 25 s (40 s with -race on a loaded machine).
func TestSoakShort(t *testing.T) {
	if testing.Short() {
		t.Skip("the soak's short form runs for 25 s")
	}
	svg := filepath.Join(t.TempDir(), "soak.svg")
	const workers = 16
	rate := 300
	if raceEnabled {
		rate = 150 // the children run with the race detector too
	}
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Config{
		Variants: []Variant{Verdict, Off},
		Rate:     rate,
		Duration: 20 * time.Second,
		Phase:    4 * time.Second, // warm-up: one turn of each, 8 s
		Workers:  workers,
		Progress: &progress,
		SVG:      svg,
	})
	if rep != nil {
		var out strings.Builder
		rep.Write(&out)
		t.Log("\n" + out.String())
	}
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if rep.Panics != 0 {
		t.Errorf("%d panic lines on the children's stderr: %q", rep.Panics, rep.PanicLines)
	}
	if len(rep.Variants) != 2 {
		t.Fatalf("variants: %+v", rep.Variants)
	}
	for _, v := range rep.Variants {
		if v.ExitErr != "" {
			t.Errorf("%s: child exited badly: %s", v.Name, v.ExitErr)
		}
		if v.Total == 0 || v.Requests == 0 {
			t.Errorf("%s: served %d requests (%d after warm-up)", v.Name, v.Total, v.Requests)
		}
		if v.Errors != 0 {
			t.Errorf("%s: %d requests failed", v.Name, v.Errors)
		}
		// Bounded: the peaks of the last quarter against the first
		// quarter's, after the warm-up. The generator may still open up to
		// `workers` new connections (a goroutine and a descriptor each)
		// when the shared machine stalls, so those get that much room.
		first, last := quarters(rep.Samples, v.Name, rep.Warmup)
		if len(first) == 0 {
			t.Fatalf("%s: no samples after the warm-up", v.Name)
		}
		peak := func(ss []Sample, f func(Sample) int64) int64 {
			var m int64
			for _, s := range ss {
				m = max(m, f(s))
			}
			return m
		}
		rss := func(s Sample) int64 { return s.RSS }
		gor := func(s Sample) int64 { return int64(s.Counters.Goroutines) }
		fds := func(s Sample) int64 { return int64(s.FDs) }
		if a, b := peak(first, rss), peak(last, rss); a == 0 || float64(b) > 1.5*float64(a) {
			t.Errorf("%s: RSS grew from %d to %d bytes after the warm-up", v.Name, a, b)
		}
		if a, b := peak(first, gor), peak(last, gor); a == 0 || float64(b) > 1.5*float64(a)+workers {
			t.Errorf("%s: goroutines grew from %d to %d after the warm-up", v.Name, a, b)
		}
		if a, b := peak(first, fds), peak(last, fds); a == 0 || float64(b) > 1.5*float64(a)+workers {
			t.Errorf("%s: descriptors grew from %d to %d after the warm-up", v.Name, a, b)
		}
	}
	on := rep.variant("verdict")
	if on.Final.SpansExported == 0 || on.Final.SpansDropped != 0 {
		t.Errorf("verdict: %d spans exported, %d dropped", on.Final.SpansExported, on.Final.SpansDropped)
	}
	b := on.Final.EBPF
	switch {
	case b == nil:
		t.Error("verdict: no eBPF figures")
	case os.Geteuid() == 0 || testutil.CI():
		if !b.On {
			t.Fatalf("verdict: eBPF off as root: %s", b.Reason)
		}
		if b.Lost != 0 || b.STWLost != 0 {
			t.Errorf("verdict: BPF events lost at %d req/s: %d (timing), %d (pauses)", rate, b.Lost, b.STWLost)
		}
		if b.Spans == 0 || b.Syscalls == 0 || b.Sockets == 0 {
			t.Errorf("verdict: eBPF measured nothing: %+v", *b)
		}
	default:
		t.Logf("eBPF off without root: %s", b.Reason)
	}
	checkSVG(t, svg)
}

// quarters returns the first and last quarter of name's samples after
// warmup.
func quarters(samples []Sample, name string, warmup time.Duration) (first, last []Sample) {
	var s []Sample
	for _, x := range samples {
		if x.Variant == name && x.T >= warmup {
			s = append(s, x)
		}
	}
	q := max(len(s)/4, 1)
	if len(s) == 0 {
		return nil, nil
	}
	return s[:q], s[len(s)-q:]
}

// checkSVG parses the plot as XML and checks it has an svg root, one line
// per child in each of the three line panels, and latency dots.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	count := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("plot is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			count[se.Name.Local]++
		}
	}
	if root != "svg" || count["polyline"] != 3*2 || count["circle"] == 0 {
		t.Errorf("plot: root %q, elements %v", root, count)
	}
}

// TestCapacity measures the plain service with wrk, the real load
// generator the harness uses when no rate is given. wrk comes from Debian
// (.ci/run installs it): missing, the test skips, or fails under CI.
func TestCapacity(t *testing.T) {
	if _, err := exec.LookPath("wrk"); err != nil {
		if testutil.CI() {
			t.Fatalf("wrk missing under CI: %v", err)
		}
		t.Skipf("wrk not installed (apt-get install wrk): %v", err)
	}
	dir := t.TempDir()
	if err := Seed(dir); err != nil {
		t.Fatal(err)
	}
	svc, err := Off.Start(context.Background(), DSN(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(svc.Handler)
	defer func() {
		srv.Close()
		if err := svc.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	rate, err := Capacity(context.Background(), srv.URL+"/orders/7", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if rate <= 0 {
		t.Errorf("capacity %v req/s", rate)
	}
	t.Logf("capacity of the plain service: %.0f req/s (shared machine)", rate)
}

// TestHistQuantile checks the histogram against exact quantiles of known
// values: within the 2 % bucket width.
func TestHistQuantile(t *testing.T) {
	var h hist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i)*time.Millisecond, true)
	}
	h.add(time.Second, false)
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*histGrowth {
			t.Errorf("q%v = %v, want %v (+2 %%)", c.q, got, c.want)
		}
	}
	if h.count.Load() != 1000 || h.errors.Load() != 1 {
		t.Errorf("count %d errors %d", h.count.Load(), h.errors.Load())
	}
	var empty hist
	if empty.quantile(0.5) != 0 {
		t.Error("empty histogram has a quantile")
	}
}

// TestHandler checks the service every variant serves.
func TestHandler(t *testing.T) {
	dir := t.TempDir()
	if err := Seed(dir); err != nil {
		t.Fatal(err)
	}
	svc, err := Off.Start(context.Background(), DSN(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	for path, want := range map[string]int{"/orders/7": 200, "/orders/0": 404, "/orders/x": 400, "/nope": 404} {
		rec := httptest.NewRecorder()
		svc.Handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, want)
		}
		if path == "/orders/7" && rec.Body.String() != "7 item-7 49\n" {
			t.Errorf("GET %s: %q", path, rec.Body.String())
		}
	}
}
