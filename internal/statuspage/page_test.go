package statuspage

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func fullPage() *Page {
	now := time.Date(2026, 12, 1, 18, 0, 0, 0, time.UTC)
	return &Page{Service: "shop<script>", Time: now, Uptime: time.Minute, Refresh: 5, Judge: true, Rules: 13,
		Components: []Component{{Name: "ebpf", Kind: "probe", State: "off", Reason: "missing CAP_BPF"}},
		Active: []Verdict{{Rule: "db.slow_query", Severity: "warning", Summary: "Queries <b>slow</b>", Start: now.Add(-10 * time.Second),
			Evidence:  []Evidence{{Signal: "db.query.p99", Value: 0.25, Baseline: 0.002, Threshold: 0.05, Unit: "s", Source: "spans", Detail: "line one\nline two"}},
			Exemplars: []string{"0123456789abcdef0123456789abcdef"}}},
		Recent: []Verdict{{Rule: "gc.stw_delay", Severity: "critical", Start: now.Add(-time.Minute), End: now.Add(-30 * time.Second)}},
		Slowest: []Span{{Name: "GET /orders/{id}", TraceID: "00112233445566778899aabbccddeeff", End: now, Duration: 30 * time.Millisecond, Status: "200",
			Parts: []Part{{Name: "db.pool_wait", Duration: 10 * time.Millisecond}, {Name: "db.query", Duration: 5 * time.Millisecond},
				{Name: "kernel.runqueue", Own: true, Duration: 2 * time.Millisecond}, {Name: "gc.stw", Own: true, Duration: time.Millisecond}}}},
		Failed:     []Span{{Name: "GET /x", Duration: time.Millisecond, Status: "UNAVAILABLE", Error: true, ErrorType: "connection_refused"}},
		Operations: []Operation{{Name: "GET /orders/{id}", Count: 3, Bounds: []float64{0, 0.001, 0.01, 0.1}, Window: []uint64{1, 2, 0}, Baseline: []uint64{2, 1, 0}}},
		Queries:    []Query{{Fingerprint: "SELECT item FROM orders WHERE id = ?", Pool: "orders", Count: 4}},
		Peers:      []Peer{{Address: "10.0.0.7:8080", Protocol: "http"}, {Address: "127.0.0.1:50051", Protocol: "grpc", Self: true}},
		Runtime: &Runtime{Goroutines: 40, HeapLive: 70 << 20, HeapGoal: 140 << 20, GOGC: 100, GOMAXPROCS: 2,
			Blocking: []BlockClass{{"network", 3}}, Hotspots: []Hotspot{{Function: "main.report", File: "main.go", Line: 3, BytesPerSecond: 7.5e6}},
			HotspotsAt: now},
		Kernel: &Kernel{Runqueue: 0.1},
	}
}

// A full page renders as one self-contained document: text escaped, no
// script, no external reference, SVG drawings, every span part and legend
// entry with a colour rule, and a meta refresh that Refresh 0 (the
// handler's ?refresh=0) turns off.
func TestRender(t *testing.T) {
	var b bytes.Buffer
	if err := Render(&b, fullPage()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"shop&lt;script&gt;", "Queries &lt;b&gt;slow&lt;/b&gt;", "db.slow_query", "0123456789abcdef0123456789abcdef",
		"UNAVAILABLE", "SELECT item FROM orders WHERE id = ?", "70.0 MiB / 140 MiB", `<meta http-equiv="refresh" content="5">`} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Only the peer this process listens on is marked as itself.
	if !strings.Contains(out, `<code>127.0.0.1:50051</code><span class="note">this process</span>`) || strings.Count(out, "this process</span>") != 1 {
		t.Errorf("peers not marked as they should be:\n%s", out[strings.Index(out, "10.0.0.7:8080")-200:])
	}
	doc, err := html.Parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	var svgs int
	classes := map[string]bool{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "iframe", "img", "link", "object":
				t.Errorf("page has a <%s>", n.Data)
			case "svg":
				svgs++
			}
			for _, a := range n.Attr {
				if (a.Key == "src" || a.Key == "href") && (strings.Contains(a.Val, "//") || strings.HasPrefix(a.Val, "/")) {
					t.Errorf("<%s %s=%q> points outside the page", n.Data, a.Key, a.Val)
				}
				if a.Key == "class" {
					for _, c := range strings.Fields(a.Val) {
						classes[c] = true
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	// The span bar, the histogram, the blocking classes and the hotspots.
	if svgs < 4 {
		t.Errorf("%d SVG drawings, want at least 4", svgs)
	}
	for c := range classes {
		if strings.HasPrefix(c, "p-") && !strings.Contains(pageTemplate, "."+c+"{") {
			t.Errorf("class %s has no colour rule", c)
		}
	}
	for _, c := range legendOrder {
		if !classes[partClass(c)] {
			t.Errorf("legend lacks %s", c)
		}
	}

	p := fullPage()
	p.Refresh = 0
	b.Reset()
	if err := Render(&b, p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `http-equiv="refresh"`) {
		t.Error("Refresh 0 still refreshes")
	}
}

// An empty page (no judge, no runtime, nothing seen yet) renders too.
func TestRenderEmpty(t *testing.T) {
	for _, p := range []*Page{{}, {Judge: true}} {
		var b bytes.Buffer
		if err := Render(&b, p); err != nil {
			t.Fatalf("Judge=%v: %v", p.Judge, err)
		}
		if !strings.Contains(b.String(), "</html>") {
			t.Errorf("Judge=%v: incomplete document", p.Judge)
		}
	}
}
