// Package jaegertest starts a throw-away Jaeger v2 (the all-in-one binary:
// OTLP in, in-memory storage, query API out) for tests, and reads traces back
// through its query API (/api/v3/traces, OTLP JSON).
//
// The binary is built once by .ci/jaeger.sh from the Go module at the pinned
// [Version] into ${VERDICT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verdict}/jaeger-<version>/jaeger
// (VERDICT_JAEGER names another binary). Without it, [Start] skips the test
// with the reason, except under CI=true, where it fails it.
//
// Every listener is pinned to 127.0.0.1 on a free port: OTLP gRPC and HTTP,
// the query extension's HTTP and gRPC servers (0.0.0.0:16686/16685 by
// default), the health check; the collector's own telemetry (metrics on
// :8888 by default) and the query service's self-tracing are off.
package jaegertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/internal/testproc"
)

// Version is the Jaeger release the tests run against; .ci/jaeger.sh builds
// the same one.
const Version = "v1.76.0"

// Jaeger is a running Jaeger v2.
type Jaeger struct {
	OTLPGRPC string // "127.0.0.1:port", for an OTLP/gRPC exporter
	OTLPHTTP string // "http://127.0.0.1:port", base URL for OTLP/HTTP (append /v1/traces)
	QueryURL string // "http://127.0.0.1:port" of the query API and UI
	Health   string // URL of the health check
	proc     *testproc.Process
	http     *http.Client
}

// Binary returns the path of the Jaeger binary, or an error wrapping
// testproc.ErrNotInstalled that says how to build it.
func Binary() (string, error) {
	if p := os.Getenv("VERDICT_JAEGER"); p != "" {
		return p, nil
	}
	cache := os.Getenv("VERDICT_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("jaeger %s %w: no cache directory (%v); run .ci/jaeger.sh or set VERDICT_JAEGER", Version, testproc.ErrNotInstalled, err)
			}
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "verdict")
	}
	p := filepath.Join(cache, "jaeger-"+Version, "jaeger")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("jaeger %s %w at %s: run .ci/jaeger.sh (builds it once, ~2.5 min) or set VERDICT_JAEGER", Version, testproc.ErrNotInstalled, p)
	}
	return p, nil
}

// Start starts Jaeger and waits until it is healthy; the test's cleanup
// stops it (and logs its output if the test failed).
func Start(tb testing.TB) *Jaeger {
	tb.Helper()
	bin, err := Binary()
	testproc.Require(tb, err)
	j, err := start(bin, tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := j.proc.Stop(10 * time.Second); err != nil {
			tb.Errorf("jaeger: %v", err)
		}
		if tb.Failed() {
			tb.Logf("jaeger log:\n%s", j.proc.Log())
		}
	})
	return j
}

func start(bin, dir string) (*Jaeger, error) {
	var lastErr error
	for range 3 {
		ports, err := testproc.FreePorts(5)
		if err != nil {
			return nil, err
		}
		addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
		conf := filepath.Join(dir, "jaeger.yaml")
		if err := os.WriteFile(conf, []byte(config(addr(0), addr(1), addr(2), addr(3), addr(4))), 0o644); err != nil {
			return nil, err
		}
		// The query service and the collector read OTEL_* for their own
		// telemetry: keep them from exporting anywhere.
		p, err := testproc.Start(bin, []string{"--config", conf}, dir,
			"OTEL_SDK_DISABLED=true", "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
		if err != nil {
			return nil, err
		}
		j := &Jaeger{
			OTLPGRPC: addr(0),
			OTLPHTTP: "http://" + addr(1),
			QueryURL: "http://" + addr(2),
			Health:   "http://" + addr(4) + "/status",
			proc:     p,
			http:     &http.Client{Timeout: 30 * time.Second},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = p.WaitHTTP(ctx, j.Health, func(status int, _ []byte) bool { return status == http.StatusOK })
		if err == nil {
			// Health turns green when the pipeline runs; the query
			// extension may still be binding its port.
			err = p.WaitHTTP(ctx, j.QueryURL+"/api/v3/services", func(status int, _ []byte) bool { return status == http.StatusOK })
		}
		cancel()
		if err == nil {
			return j, nil
		}
		_ = p.Stop(5 * time.Second)
		lastErr = fmt.Errorf("jaegertest: %w", err)
		if !strings.Contains(p.Log(), "address already in use") {
			return nil, lastErr
		}
	}
	return nil, lastErr
}

// config is a Jaeger v2 (OpenTelemetry Collector) configuration with every
// listener on the given loopback addresses.
func config(otlpGRPC, otlpHTTP, queryHTTP, queryGRPC, health string) string {
	return `service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: warn

extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: ` + health + `
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: ` + queryHTTP + `
    grpc:
      endpoint: ` + queryGRPC + `
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000

receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ` + otlpGRPC + `
      http:
        endpoint: ` + otlpHTTP + `

processors:
  batch:
    timeout: 100ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
`
}

// Pid returns the process id.
func (j *Jaeger) Pid() int { return j.proc.Pid() }

// Log returns Jaeger's output so far.
func (j *Jaeger) Log() string { return j.proc.Log() }

// ErrNoTraces is returned when the query matched no trace (Jaeger answers
// 404).
var ErrNoTraces = errors.New("jaegertest: no traces found")

// FindTraces returns the traces of service whose spans started in
// [from, to] (at most 100), through GET /api/v3/traces.
func (j *Jaeger) FindTraces(ctx context.Context, service string, from, to time.Time) ([]Trace, error) {
	q := url.Values{
		"query.service_name":   {service},
		"query.start_time_min": {from.UTC().Format(time.RFC3339Nano)},
		"query.start_time_max": {to.UTC().Format(time.RFC3339Nano)},
		"query.num_traces":     {"100"},
	}
	return j.get(ctx, "/api/v3/traces?"+q.Encode())
}

// GetTrace returns one trace by its hex ID, through GET /api/v3/traces/{id}.
func (j *Jaeger) GetTrace(ctx context.Context, traceID string) (Trace, error) {
	ts, err := j.get(ctx, "/api/v3/traces/"+url.PathEscape(traceID))
	if err != nil {
		return Trace{}, err
	}
	for _, t := range ts {
		if t.ID == traceID {
			return t, nil
		}
	}
	return Trace{}, fmt.Errorf("%w: trace %s", ErrNoTraces, traceID)
}

// WaitTraces polls FindTraces until done accepts the traces (spans arrive
// in batches) or ctx ends; it returns the last traces seen.
func (j *Jaeger) WaitTraces(ctx context.Context, service string, from time.Time, done func([]Trace) bool) ([]Trace, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var (
		last    []Trace
		lastErr error
	)
	for {
		ts, err := j.FindTraces(ctx, service, from, time.Now().Add(time.Minute))
		switch {
		case err == nil:
			last, lastErr = ts, nil
			if done(ts) {
				return ts, nil
			}
		case errors.Is(err, ErrNoTraces):
			lastErr = err
		default:
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("jaegertest: traces of %s not complete (%d traces; last error %v): %w", service, len(last), lastErr, ctx.Err())
		case <-tick.C:
		}
	}
}

func (j *Jaeger) get(ctx context.Context, path string) ([]Trace, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := j.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jaeger query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("jaeger query: %w", err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, ErrNoTraces
	default:
		return nil, fmt.Errorf("jaeger query %s: HTTP %d: %.300s", path, resp.StatusCode, body)
	}
	var r struct {
		Result tracesData `json:"result"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("jaeger query %s: %w", path, err)
	}
	return r.Result.traces()
}
