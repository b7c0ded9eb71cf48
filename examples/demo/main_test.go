package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/verdict-obs/verdict/internal/browsertest"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/tracer"
)

func TestMain(m *testing.M) {
	if child() { // the load process and the CPU hogs are this binary too
		return
	}
	// The demo leaves no goroutine behind once run returns: its servers,
	// clients, tracer and probes all stop.
	goleak.VerifyTestMain(m)
}

// ebpfMode is EBPFRequired as root (always under CI): the demo must then
// run with eBPF; otherwise auto.
func ebpfMode() tracer.EBPFMode {
	if os.Geteuid() == 0 || testutil.CI() {
		return tracer.EBPFRequired
	}
	return tracer.EBPFAuto
}

// TestDemoTour runs the README's command up to the end of the trace tour
// and checks that the report shows what verdict promises: traces through
// the HTTP front end, the gRPC back end and the database, fingerprinted
// queries, client phases, error types, the status; as root, the kernel
// time of the report's fsync.
func TestDemoTour(t *testing.T) {
	mode := ebpfMode()
	var out, errOut bytes.Buffer
	if err := run(context.Background(), &out, &errOut, options{tourOnly: true, ebpf: mode, listen: "127.0.0.1:0", rows: testRows}); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{
		"server  GET /orders/{id}",
		"client  demo.Orders/Get",
		"server  demo.Orders/Get",
		`query="SELECT item, total FROM orders WHERE id = ?"`,
		"server  POST /orders",
		"server  demo.Orders/Create",
		"server  GET /customers/{id}/orders",
		"status=404",
		"error=NOT_FOUND",
		"error=connection_refused",
		"dns=", "connect=", "server wait=",
		"status page: http://127.0.0.1:",
		"== status",
		"judge: on",
		"runtime: on",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if !regexp.MustCompile(`msg="order created" order.id=\d+ item=espresso trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}`).MatchString(errOut.String()) {
		t.Errorf("console lacks the trace-correlated record:\n%s", errOut.String())
	}
	if mode != tracer.EBPFRequired {
		if !strings.Contains(report, "eBPF:        off:") {
			t.Errorf("without eBPF, the report does not say why")
		}
		return
	}
	if !strings.Contains(report, "eBPF:        on") || !strings.Contains(report, "ebpf: on") {
		t.Errorf("eBPF required but the report says otherwise")
	}
	// The report fsyncs its file: the kernel sees time in system calls.
	m := regexp.MustCompile(`server  GET /report .* in syscalls=([0-9.]+)ms`).FindStringSubmatch(report)
	if m == nil {
		t.Fatal("report span without time in system calls")
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
		t.Errorf("report span in syscalls = %sms", m[1])
	}
}

// row is one line of the summary table.
type row struct{ fault, verdict, ttv, trace string }

var rowRe = regexp.MustCompile(`^(.+?)\s{2,}(\S+(?: \(expected \S+\))?)\s{2,}(\S+)\s{2,}(.+?)\s{2,}(.+)$`)

// summary parses the table after "== summary".
func summary(t *testing.T, report string) map[string]row {
	t.Helper()
	i := strings.Index(report, "== summary")
	if i < 0 {
		t.Fatalf("no summary table in the report")
	}
	rows := map[string]row{}
	sc := bufio.NewScanner(strings.NewReader(report[i:]))
	sc.Scan() // "== summary (…)"
	sc.Scan() // header
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			break
		}
		m := rowRe.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("summary line not understood: %q", line)
			continue
		}
		rows[m[1]] = row{fault: m[1], verdict: m[2], ttv: m[3], trace: m[4]}
	}
	return rows
}

// TestDemoSchedule runs the demo end to end with the short schedule and
// checks the summary table: every fault got its verdict, with a time to
// verdict and, for the faults that show in requests, an example trace.
// (CI runs it in a step without the race detector: its faults are timing.)
func TestDemoSchedule(t *testing.T) {
	skipUnderRace(t)
	var out, errOut bytes.Buffer
	start := time.Now()
	err := run(context.Background(), &out, &errOut, options{short: true, ebpf: ebpfMode(), listen: "127.0.0.1:0", rows: testRows})
	t.Logf("demo with the short schedule: %s\n%s", time.Since(start).Round(time.Second), out.String())
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	rows := summary(t, out.String())
	for _, f := range faults() {
		r, ok := rows[f.title]
		if !ok {
			t.Errorf("%s: no row in the summary", f.title)
			continue
		}
		if r.verdict != f.rule {
			t.Errorf("%s: verdict %q, want %s", f.title, r.verdict, f.rule)
			continue
		}
		if r.ttv == "before" {
			// The host (other processes) drew it before the fault and it
			// never cleared: the schedule says so instead of a time.
			t.Logf("%s: %s was active before the fault was injected and stayed active", f.title, f.rule)
		} else if d, err := strconv.ParseFloat(strings.TrimSuffix(r.ttv, "s"), 64); err != nil || d < 0 || d > 25 {
			t.Errorf("%s: time to verdict %q", f.title, r.ttv)
		}
		if f.rule != "goroutine.leak" && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(r.trace) {
			t.Errorf("%s: example trace %q", f.title, r.trace)
		}
	}
	if len(rows) != len(faults()) {
		t.Errorf("%d rows, want %d", len(rows), len(faults()))
	}
}

// TestDemoStatusPage runs one fault and, while it is injected and its
// verdict active, loads the status page in a real headless Chromium: it
// renders without console errors, shows the verdict, the slow and failed
// requests and the latency histograms, refreshes itself, and the run
// leaves a screenshot (see browsertest.ArtifactDir; the test logs its path
// and size).
func TestDemoStatusPage(t *testing.T) {
	b := browsertest.Start(t)
	var (
		out, errOut bytes.Buffer
		statusURL   string
		checked     bool
		mu          sync.Mutex
	)
	o := options{fault: "refused", short: true, ebpf: ebpfMode(), listen: "127.0.0.1:0", rows: testRows,
		ready: func(u string) { statusURL = u },
		whileFaulty: func(ctx context.Context, rule string) {
			mu.Lock()
			defer mu.Unlock()
			checked = true
			checkStatusPage(t, b, statusURL, rule)
		}}
	if err := run(context.Background(), &out, &errOut, o); err != nil {
		t.Fatalf("run: %v\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if !checked {
		t.Fatalf("the fault's verdict never fired:\n%s", out.String())
	}
}

func checkStatusPage(t *testing.T, b *browsertest.Browser, url, rule string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	step := func(what string) { t.Logf("%6.1fs %s", time.Since(start).Seconds(), what) }
	p, err := b.NewPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Navigate(ctx, url); err != nil {
		t.Fatal(err)
	}
	step("status page loaded")
	text, err := p.Text(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"verdict-demo", "Active (", rule, "refuses connections", "example traces:",
		"Slow and failed requests", "UNAVAILABLE", "Latency per operation", "GET /orders/{id}",
		"Queries (fingerprints: no literals)", "SELECT item, total FROM orders WHERE id = ?", "Go runtime", "Components"} {
		if !strings.Contains(text, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	// Self-contained: one SVG drawing per span bar and histogram, and no
	// script the page would run.
	raw, err := p.Eval(ctx, `[document.querySelectorAll("svg").length, document.scripts.length, document.querySelector('meta[http-equiv="refresh"]') ? 1 : 0]`)
	if err != nil {
		t.Fatal(err)
	}
	var counts []int
	if err := json.Unmarshal(raw, &counts); err != nil {
		t.Fatal(err)
	}
	if len(counts) != 3 || counts[0] < 3 || counts[1] != 0 || counts[2] != 1 {
		t.Errorf("page structure [svg, scripts, meta refresh] = %s, want at least 3 SVGs, no script, a meta refresh", raw)
	}
	step("page checked")
	png, err := p.Screenshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(browsertest.ArtifactDir(t), "statuspage-"+rule+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot of the status page with %s active: %s (%d bytes)", rule, path, len(png))
	step("screenshot taken")
	// It refreshes itself (every 5 s).
	before := p.Loads()
	if err := p.WaitLoad(ctx); err != nil {
		t.Errorf("the page did not reload itself: %v", err)
	} else if p.Loads() <= before {
		t.Errorf("load count did not grow")
	}
	if errs := p.Errors(); len(errs) > 0 {
		t.Errorf("console errors on the status page:\n%s", strings.Join(errs, "\n"))
	}
}
