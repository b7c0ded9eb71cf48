package e2e

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/promtest"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/tracer"
)

// promRun is the service under load, scraped by a real Prometheus, with
// every span it made: what the checks of TestPrometheus query.
type promRun struct {
	tr      *tracer.Tracer
	svc     *Service
	prom    *promtest.Server
	spans   *tracetest.SpanRecorder
	metrics string    // http://host:port/metrics of the service
	at      time.Time // queries are evaluated at this scrape (see promtest.WaitScraped)
	ctx     context.Context
}

// Load of one run: fastCalls requests to the one-query route, then the
// two-hop routes.
const (
	fastCalls   = 2000
	orderCalls  = 20
	missedCalls = 5
	postCalls   = 10
)

// startPromRun starts a Tracer with the Prometheus endpoint (plus opts),
// the service, and a Prometheus scraping it; runs the load; and waits for
// a scrape that saw all of it.
func startPromRun(t *testing.T, pcfg promtest.Config, opts ...tracer.Option) *promRun {
	t.Helper()
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	rec := tracetest.NewSpanRecorder()
	tr := startTracer(t, append([]tracer.Option{tracer.WithServiceName("verdict-e2e-prom"),
		tracer.WithPrometheus("127.0.0.1:0"), tracer.WithSpanProcessor(rec)}, opts...)...)
	mc, _ := tr.Status().Component("metrics")
	metricsURL := strings.TrimPrefix(mc.Detail, "prometheus ")
	if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") {
		t.Fatalf("metrics component %q: no Prometheus endpoint", mc.Detail)
	}
	svc := startService(t, Config{Tracer: tr})
	pcfg.Targets = []string{strings.TrimSuffix(strings.TrimPrefix(metricsURL, "http://"), "/metrics")}
	prom := promtest.Start(t, pcfg)

	for i := range fastCalls {
		call(t, "GET", fmt.Sprintf("%s/fast/%d", svc.FrontURL, i%100+1), "", 200)
	}
	for i := range orderCalls {
		call(t, "GET", fmt.Sprintf("%s/orders/%d", svc.FrontURL, i+1), "", 200)
	}
	for range missedCalls {
		call(t, "GET", svc.FrontURL+"/orders/100000", "", 404)
	}
	for i := range postCalls {
		call(t, "POST", svc.FrontURL+"/orders", fmt.Sprintf("item %d", i), 201)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	at, err := prom.WaitScraped(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return &promRun{tr: tr, svc: svc, prom: prom, spans: rec, metrics: metricsURL, at: at, ctx: ctx}
}

// vector runs an instant query.
func (r *promRun) vector(t *testing.T, expr string) model.Vector {
	t.Helper()
	v, err := r.prom.Query(r.ctx, expr, r.at)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scalar runs a query that must yield exactly one sample.
func (r *promRun) scalar(t *testing.T, expr string) float64 {
	t.Helper()
	v, err := r.prom.Scalar(r.ctx, expr, r.at)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// spanDurations returns the durations of the ended spans that match.
func (r *promRun) spanDurations(match func(sdktrace.ReadOnlySpan) bool) []time.Duration {
	var ds []time.Duration
	for _, s := range r.spans.Ended() {
		if match(s) {
			ds = append(ds, s.EndTime().Sub(s.StartTime()))
		}
	}
	return ds
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// TestPrometheus: the service scraped by a real Prometheus (Debian's
// 2.42); each subtest asserts one point of issue 11 with PromQL.
func TestPrometheus(t *testing.T) {
	r := startPromRun(t, promtest.Config{})
	t.Logf("series scraped: %v", r.scalar(t, `count({job="verdict", __name__!~"up|scrape_.*"})`))
	t.Run("1-percentiles", r.checkPercentiles)
	t.Run("2-kernel-per-request", r.checkKernelPerRequest)
	t.Run("7-process", r.checkProcess)
	t.Run("8-one-schedule-histogram", r.checkSchedule)
	t.Run("9-no-query-text-label", r.checkQueryLabels)
	t.Run("10-connection-max", r.checkConnectionMax)
	t.Run("12-client-body-size", r.checkClientBodySize)
	t.Run("13-promtool", r.checkPromtool)
}

// checkPercentiles (point 1): histogram_quantile over the scraped
// histograms is within 1.5× of the P99 computed from the spans that were
// recorded into them, for the HTTP route and for its query.
func (r *promRun) checkPercentiles(t *testing.T) {
	for _, tc := range []struct {
		what  string
		expr  string
		match func(sdktrace.ReadOnlySpan) bool
	}{
		{
			"route /fast/{id}",
			`histogram_quantile(0.99, sum by (le) (http_server_request_duration_seconds_bucket{http_route="/fast/{id}"}))`,
			func(s sdktrace.ReadOnlySpan) bool {
				return s.SpanKind() == trace.SpanKindServer && attr(s, "http.route") == "/fast/{id}"
			},
		},
		{
			"query SELECT items",
			`histogram_quantile(0.99, sum by (le) (db_client_operation_duration_seconds_bucket{db_query_summary="SELECT items"}))`,
			func(s sdktrace.ReadOnlySpan) bool { return attr(s, "db.query.summary") == "SELECT items" },
		},
	} {
		ds := r.spanDurations(tc.match)
		if len(ds) < fastCalls {
			t.Fatalf("%s: %d spans, want at least %d", tc.what, len(ds), fastCalls)
		}
		spanP99 := quantile(ds, 0.99).Seconds()
		promP99 := r.scalar(t, tc.expr)
		ratio := math.Max(promP99/spanP99, spanP99/promP99)
		limit := percentileLimit(spanP99)
		t.Logf("%s: P99 from %d spans %.3f ms, from Prometheus %.3f ms (ratio %.2f, limit %.2f)", tc.what, len(ds), spanP99*1e3, promP99*1e3, ratio, limit)
		if !(ratio <= limit) {
			t.Errorf("%s: histogram_quantile(0.99) = %.3f ms, spans' P99 = %.3f ms: off by %.2f×, want <= %.2f×", tc.what, promP99*1e3, spanP99*1e3, ratio, limit)
		}
	}
}

// percentileLimit is how far histogram_quantile may be from the true
// quantile q: the ratio of the bounds of the bucket holding q, since
// histogram_quantile interpolates linearly inside it, and at least 1.5.
// On an idle machine the route takes ~0.3 ms, where the boundaries are
// 1.5× apart; a loaded machine or -race pushes it into wider buckets (the
// 1–2 ms bucket is 2× wide, the conventions' above 10 ms 2.5×), where the
// estimate and q only share a bucket. (Default buckets put a 0.3 ms route
// 16× off: still caught.)
func percentileLimit(q float64) float64 {
	lo := 0.0
	for _, b := range semconv.DurationBuckets() {
		if q <= b {
			if lo == 0 {
				return 1.5
			}
			return math.Max(1.5, b/lo)
		}
		lo = b
	}
	return math.Inf(1) // beyond the last boundary: the +Inf bucket
}

// checkProcess (point 7): the process metrics saturation alerts need.
func (r *promRun) checkProcess(t *testing.T) {
	for _, expr := range []string{
		`process_cpu_seconds_total{job="verdict"} > 0`,
		`process_resident_memory_bytes{job="verdict"} > 1e6`,
		`process_open_fds{job="verdict"} > 0`,
		`process_max_fds{job="verdict"} >= process_open_fds{job="verdict"}`,
		`time() - process_start_time_seconds{job="verdict"} < 3600`,
	} {
		if v := r.vector(t, expr); len(v) != 1 {
			t.Errorf("%s: %v, want one sample", expr, v)
		}
	}
}

// checkSchedule (point 8): one scheduler-latency metric, the
// semantic-convention histogram, with bounded buckets.
func (r *promRun) checkSchedule(t *testing.T) {
	buckets := r.scalar(t, `count(go_schedule_duration_seconds_bucket)`)
	t.Logf("go_schedule_duration_seconds: %v buckets", buckets)
	if buckets > 17 {
		t.Errorf("go_schedule_duration_seconds has %v bucket series, want at most 17", buckets)
	}
	if v := r.vector(t, `{__name__=~"verdict_go_schedule_latency.*"}`); len(v) != 0 {
		t.Errorf("a second scheduler-latency metric: %v", v)
	}
	if v := r.vector(t, `histogram_quantile(0.99, go_schedule_duration_seconds_bucket) >= 0`); len(v) != 1 {
		t.Errorf("P99 of go.schedule.duration: %v", v)
	}
}

// checkQueryLabels (point 9): db.client.operation.duration is split by
// the bounded db.query.summary, never by the fingerprint.
func (r *promRun) checkQueryLabels(t *testing.T) {
	if v := r.vector(t, `{__name__=~"db_client_.*", db_query_text!=""}`); len(v) != 0 {
		t.Errorf("%d series carry db_query_text, e.g. %v", len(v), v[0].Metric)
	}
	for _, summary := range []string{"SELECT items", "SELECT stock", "INSERT items"} {
		if v := r.vector(t, `db_client_operation_duration_seconds_count{db_query_summary="`+summary+`"}`); len(v) != 1 {
			t.Errorf("summary %q: %v, want one series", summary, v)
		}
	}
}

// checkConnectionMax (point 10): a limited pool reports its limit, an
// unlimited one reports none, and the saturation ratio never divides by
// zero.
func (r *promRun) checkConnectionMax(t *testing.T) {
	if v := r.scalar(t, `db_client_connection_max{db_client_connection_pool_name="items"}`); v != 4 {
		t.Errorf("items pool max %v, want 4", v)
	}
	if v := r.vector(t, `db_client_connection_max{db_client_connection_pool_name="stock"}`); len(v) != 0 {
		t.Errorf("unlimited stock pool reports a max: %v", v)
	}
	sat := r.vector(t, `sum by (db_client_connection_pool_name) (db_client_connection_count{db_client_connection_state="used"})
		/ sum by (db_client_connection_pool_name) (db_client_connection_max)`)
	if len(sat) != 1 || sat[0].Metric["db_client_connection_pool_name"] != "items" {
		t.Errorf("saturation: %v, want one sample, for the items pool", sat)
	}
	for _, s := range sat {
		if v := float64(s.Value); math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > 1 {
			t.Errorf("saturation of %v = %v", s.Metric, v)
		}
	}
}

// checkClientBodySize (point 12): bodiless GETs are not recorded in the
// client's request body size; POSTs are, with their size.
func (r *promRun) checkClientBodySize(t *testing.T) {
	if v := r.vector(t, `http_client_request_body_size_bytes_count{http_request_method="GET"}`); len(v) != 0 {
		t.Errorf("GET requests recorded with a body size: %v", v)
	}
	if n := r.scalar(t, `sum(http_client_request_body_size_bytes_count{http_request_method="POST"})`); n != postCalls {
		t.Errorf("POST body sizes recorded %v times, want %d", n, postCalls)
	}
	if v := r.scalar(t, `sum(http_client_request_body_size_bytes_sum{http_request_method="POST"})`); v != float64(postCalls*len("item 0")) {
		t.Errorf("POST body bytes %v, want %d", v, postCalls*len("item 0"))
	}
	if t.Failed() {
		t.Logf("evaluated at %v; now: %v", r.at, r.vector(t, `http_client_request_body_size_bytes_count`))
		t.Logf("exposition now:\n%s", grepLines(r.scrape(t), "http_client_request_body_size_bytes_count"))
	}
}

// scrape returns the service's exposition now.
func (r *promRun) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.metrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// promtoolExceptions are the names `promtool check metrics` flags that
// verdict keeps on purpose: OpenTelemetry semantic-convention names of
// gauges (up-down counters) that end in _count.
var promtoolExceptions = []string{"db_client_connection_count", "go_goroutine_count"}

// checkPromtool (point 13): promtool's lint of a live scrape flags nothing
// but the documented exceptions.
func (r *promRun) checkPromtool(t *testing.T) {
	problems := promtest.CheckMetrics(t, []byte(r.scrape(t)))
	t.Logf("promtool check metrics: %d findings: %v", len(problems), problems)
	flagged := map[string]bool{}
	for _, p := range problems {
		name, _, _ := strings.Cut(p, " ")
		name = strings.TrimSuffix(name, ":")
		excepted := false
		for _, e := range promtoolExceptions {
			if name == e && strings.Contains(p, `"_count"`) {
				excepted, flagged[e] = true, true
			}
		}
		if !excepted {
			t.Errorf("promtool: %s", p)
		}
	}
	for _, e := range promtoolExceptions {
		if !flagged[e] {
			t.Errorf("exception %s is no longer flagged: remove it from the list and the docs", e)
		}
	}
}

// checkKernelPerRequest (point 2): the kernel-time histograms count each
// request once (server spans and local roots, not their client and
// database spans), split by the bounded span_name, which for a server span
// carries the route.
func (r *promRun) checkKernelPerRequest(t *testing.T) {
	if c, _ := r.tr.Status().Component("ebpf"); c.State != probes.StateOn {
		if testutil.CI() {
			t.Fatalf("CI=true: eBPF is %s: %s", c.State, c.Reason)
		}
		t.Skipf("eBPF is %s: %s", c.State, c.Reason)
	}
	entries := map[string]int{}
	total := 0
	for _, s := range r.spans.Ended() {
		if s.SpanKind() == trace.SpanKindServer || s.SpanKind() == trace.SpanKindConsumer || !s.Parent().IsValid() || s.Parent().IsRemote() {
			entries[s.Name()]++
			total++
		}
	}
	for _, metric := range []string{"verdict_kernel_offcpu_duration_seconds_count", "verdict_kernel_runqueue_duration_seconds_count", "verdict_kernel_syscall_duration_seconds_count"} {
		if got := r.scalar(t, `sum(`+metric+`)`); got != float64(total) {
			t.Errorf("sum(%s) = %v, want %d (one per entry span; %d spans in all)", metric, got, total, len(r.spans.Ended()))
		}
		if got := r.scalar(t, metric+`{span_name="GET /fast/{id}"}`); got != fastCalls {
			t.Errorf("%s{span_name=\"GET /fast/{id}\"} = %v, want %d", metric, got, fastCalls)
		}
		if v := r.vector(t, metric+`{span_name=""}`); len(v) != 0 {
			t.Errorf("%s without span_name: %v", metric, v)
		}
	}
	t.Logf("entry spans by name: %v", entries)
}
