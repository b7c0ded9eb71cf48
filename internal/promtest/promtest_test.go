package promtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/testproc"
)

// target serves a fixed exposition on 127.0.0.1 and returns its host:port.
func target(t *testing.T, exposition string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, exposition)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestScrapeAndQuery: the server scrapes a real endpoint, answers instant
// and range queries over what it scraped, and listens on loopback only.
func TestScrapeAndQuery(t *testing.T) {
	addr := target(t, "# TYPE demo_requests_total counter\ndemo_requests_total{route=\"/a\"} 7\ndemo_requests_total{route=\"/b\"} 5\n")
	s := Start(t, Config{Targets: []string{addr}, ScrapeInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at, err := s.WaitScraped(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(at); d < 0 || d > 10*time.Second {
		t.Errorf("scrape time %v is %v ago", at, d)
	}
	got, err := s.Scalar(ctx, `sum(demo_requests_total)`, at)
	if err != nil || got != 12 {
		t.Fatalf("sum(demo_requests_total) = %v, %v; want 12", got, err)
	}
	vec, err := s.Query(ctx, `demo_requests_total{route="/b"}`, at)
	if err != nil || len(vec) != 1 || vec[0].Metric["job"] != "verdict" {
		t.Fatalf("selector: %v, %v", vec, err)
	}
	m, err := s.QueryRange(ctx, `up`, time.Now().Add(-2*time.Second), time.Now(), 200*time.Millisecond)
	if err != nil || len(m) != 1 || len(m[0].Values) == 0 {
		t.Fatalf("range query: %v, %v", m, err)
	}
	if _, err := s.Query(ctx, `sum(`, time.Time{}); err == nil {
		t.Error("a malformed expression gave no error")
	}
	if runtime.GOOS == "linux" {
		ls, err := testproc.Listening(s.Pid())
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) == 0 {
			t.Fatal("prometheus listens on nothing?")
		}
		for _, ap := range ls {
			if ap.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("prometheus listens on %v, want 127.0.0.1 only", ap)
			}
		}
	}
}

// TestWaitScrapedSeesLaterValues: after the target's value changes at t,
// a query at WaitScraped(t)'s time sees the new value, never the old one.
func TestWaitScrapedSeesLaterValues(t *testing.T) {
	var value atomic.Int64
	value.Store(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "# TYPE demo_value gauge\ndemo_value %d\n", value.Load())
	})}
	go srv.Serve(ln)
	defer srv.Close()
	s := Start(t, Config{Targets: []string{ln.Addr().String()}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for want := int64(1); want <= 3; want++ {
		value.Store(want)
		at, err := s.WaitScraped(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Scalar(ctx, `demo_value`, at); err != nil || got != float64(want) {
			t.Fatalf("demo_value at the scrape after it became %d: %v, %v", want, got, err)
		}
	}
}

// TestCheckMetrics: promtool's lint findings come back one per line.
func TestCheckMetrics(t *testing.T) {
	if p := CheckMetrics(t, []byte("# HELP ok_total Fine.\n# TYPE ok_total counter\nok_total 1\n")); len(p) != 0 {
		t.Errorf("clean exposition: %v", p)
	}
	p := CheckMetrics(t, []byte("# HELP queue_count Ends in _count.\n# TYPE queue_count gauge\nqueue_count 1\n"))
	if len(p) != 1 || !strings.Contains(p[0], "queue_count") {
		t.Errorf("gauge ending in _count: %v, want one finding", p)
	}
}

func TestConfigYAML(t *testing.T) {
	y := configYAML(Config{Targets: []string{"127.0.0.1:1"}, ScrapeInterval: 250 * time.Millisecond, RuleFiles: []string{"/r.yml"}})
	for _, want := range []string{"scrape_interval: 250ms", `- "/r.yml"`, `- "127.0.0.1:1"`, "job_name: verdict"} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
}
