package tracer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// The status page, mounted under a prefix like net/http/pprof, shows an
// active verdict with its evidence and example trace, the failed request,
// the operation's latency and the query's fingerprint, never its literal;
// it answers GET and HEAD only, sends its security headers, honours
// ?refresh and keeps working after Shutdown.
func TestStatusPageHandler(t *testing.T) {
	const secret = "hunter2-literal"
	rule := judge.RuleFunc("test.page", func(s *judge.Snapshot, st judge.State) []judge.Finding {
		var seen bool
		for _, q := range s.Queries {
			seen = seen || strings.Contains(q.Fingerprint, "WHERE item")
		}
		if !seen {
			return nil
		}
		return []judge.Finding{{Summary: "Orders <fail> & nobody knows why.", Action: "Look at the query.", Severity: judge.SeverityWarning,
			Evidence: []judge.Evidence{{Signal: "db.query.p99", Value: 0.25, Baseline: 0.002, Threshold: 0.05, Unit: "s", Source: judge.SourceSpans}}}}
	})
	fired := make(chan Verdict, 4)
	tr, _, _, _ := judged(t, WithOnlyRules("test.page"), WithRule(rule),
		WithJudgeOptions(judge.WithInterval(20*time.Millisecond), judge.WithDebounce(1, 1)),
		WithVerdictHandler(func(_ context.Context, v Verdict) {
			select {
			case fired <- v:
			default:
			}
		}))
	stopped := false
	defer func() {
		if !stopped {
			shutdown(t, tr)
		}
	}()

	db, err := sqlxprobe.Open("sqlite", "file:tracer_statuspage?mode=memory&cache=shared",
		sqlxprobe.WithTracerProvider(tr.TracerProvider()), sqlxprobe.WithMeterProvider(tr.MeterProvider()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.MustExec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		if err := db.GetContext(r.Context(), &n, "SELECT count(*) FROM orders WHERE item = '"+secret+"'"); err != nil {
			http.Error(w, "db", http.StatusInternalServerError)
			return
		}
		if r.PathValue("id") == "0" {
			http.Error(w, "no such order", http.StatusInternalServerError)
		}
	})
	api := httptest.NewServer(middleware.NewHandler(mux,
		middleware.WithTracerProvider(tr.TracerProvider()), middleware.WithMeterProvider(tr.MeterProvider())))
	defer api.Close()
	for _, id := range []string{"1", "2", "0"} {
		resp, err := http.Get(api.URL + "/orders/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	var v Verdict
	select {
	case v = <-fired:
	case <-time.After(20 * time.Second):
		t.Fatal("the rule did not fire within 20 s")
	}
	if !v.Active() || v.Rule != "test.page" {
		t.Fatalf("verdict %+v", v)
	}

	admin := http.NewServeMux()
	admin.Handle("/debug/verdict/", http.StripPrefix("/debug/verdict", tr.Handler()))
	srv := httptest.NewServer(admin)
	defer srv.Close()
	get := func(method, query string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/debug/verdict/"+query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	resp, body := get(http.MethodGet, "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	for _, want := range []string{
		"test.page", "Orders &lt;fail&gt; &amp; nobody knows why.", "Look at the query.", "db.query.p99",
		"GET /orders/{id}", `<span class="err">500`, "SELECT count(*) FROM orders WHERE item = ?", `http-equiv="refresh" content="5"`, "<svg",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, secret) {
		t.Errorf("the page shows the query's literal %q", secret)
	}
	if strings.Contains(body, "<script") {
		t.Errorf("the page has a script")
	}

	if resp, body := get(http.MethodHead, ""); resp.StatusCode != http.StatusOK || body != "" || resp.ContentLength <= 0 {
		t.Errorf("HEAD: %s, %d bytes of body, Content-Length %d", resp.Status, len(body), resp.ContentLength)
	}
	if resp, _ := get(http.MethodPost, ""); resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %s, Allow %q", resp.Status, resp.Header.Get("Allow"))
	}
	if _, body := get(http.MethodGet, "?refresh=0"); strings.Contains(body, `http-equiv="refresh"`) {
		t.Errorf("?refresh=0 still refreshes")
	}
	if _, body := get(http.MethodGet, "?refresh=junk"); !strings.Contains(body, `http-equiv="refresh" content="5"`) {
		t.Errorf("?refresh=junk does not fall back to 5 s")
	}

	shutdown(t, tr)
	stopped = true
	if resp, body := get(http.MethodGet, ""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "shut down") {
		t.Errorf("after Shutdown: %s", resp.Status)
	}
}
