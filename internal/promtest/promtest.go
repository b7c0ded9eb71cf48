// Package promtest starts a throw-away Prometheus server (Debian's
// /usr/bin/prometheus, 2.42 here) on 127.0.0.1 for tests: a generated
// configuration scraping the given targets at a short interval, optional
// rule files, storage in a temporary directory; [CheckMetrics] runs `promtool check
// metrics` on an exposition.
//
// Queries use the HTTP API with plain JSON decoding into
// prometheus/common/model types (client_golang's api package would add
// json-iterator and two more modules to go.mod).
//
// Without the binary, [Start] skips the test with the reason, except under
// CI=true, where it fails it (internal/testproc's policy).
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/verdict-obs/verdict/internal/testproc"
)

// Config describes the server to start.
type Config struct {
	// Targets are the host:port endpoints scraped at /metrics, in one job
	// "verdict". Required.
	Targets []string
	// ScrapeInterval is also the rule evaluation interval and the scrape
	// timeout; zero means 1 s.
	ScrapeInterval time.Duration
	// RuleFiles are loaded as rule_files (absolute paths).
	RuleFiles []string
	// NativeHistograms starts the server with
	// --enable-feature=native-histograms: it then asks targets for the
	// protobuf exposition and stores native histograms.
	NativeHistograms bool
	// Exemplars starts the server with --enable-feature=exemplar-storage:
	// it stores the exemplars of OpenMetrics scrapes (query them at
	// /api/v1/query_exemplars).
	Exemplars bool
}

// Server is a running Prometheus.
type Server struct {
	URL  string // http://127.0.0.1:port
	http *http.Client
	proc *testproc.Process
	cfg  Config
}

// Binary returns the path of the prometheus binary (PROMETHEUS_BIN, else
// the PATH), or an error wrapping testproc.ErrNotInstalled.
func Binary() (string, error) { return binary("PROMETHEUS_BIN", "prometheus") }

func binary(env, name string) (string, error) {
	if p := os.Getenv(env); p != "" {
		return p, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s %w (apt-get install -y prometheus; .ci/run installs it)", name, testproc.ErrNotInstalled)
	}
	return p, nil
}

// Start starts Prometheus and waits until it is ready; the test's cleanup
// stops it. It skips or fails tb as described in the package comment.
func Start(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	bin, err := Binary()
	testproc.Require(tb, err)
	s, err := start(bin, tb.TempDir(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.proc.Stop(10 * time.Second); err != nil {
			tb.Errorf("prometheus: %v", err)
		}
		if tb.Failed() {
			tb.Logf("prometheus log:\n%s", s.proc.Log())
		}
	})
	return s
}

func start(bin, dir string, cfg Config) (*Server, error) {
	if len(cfg.Targets) == 0 {
		return nil, errors.New("promtest: no targets")
	}
	if cfg.ScrapeInterval <= 0 {
		cfg.ScrapeInterval = time.Second
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(configYAML(cfg)), 0o644); err != nil {
		return nil, err
	}
	var lastErr error
	for range 3 {
		ports, err := testproc.FreePorts(1)
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(ports[0])
		args := []string{
			"--config.file=" + conf,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--log.level=warn",
		}
		var features []string
		if cfg.NativeHistograms {
			features = append(features, "native-histograms")
		}
		if cfg.Exemplars {
			features = append(features, "exemplar-storage")
		}
		if len(features) > 0 {
			args = append(args, "--enable-feature="+strings.Join(features, ","))
		}
		p, err := testproc.Start(bin, args, dir)
		if err != nil {
			return nil, err
		}
		url := "http://" + addr
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err = p.WaitHTTP(ctx, url+"/-/ready", func(status int, _ []byte) bool { return status == 200 })
		cancel()
		if err != nil {
			_ = p.Stop(5 * time.Second)
			lastErr = fmt.Errorf("promtest: %w", err)
			if strings.Contains(p.Log(), "address already in use") {
				continue
			}
			return nil, lastErr
		}
		return &Server{URL: url, http: &http.Client{Timeout: 30 * time.Second}, proc: p, cfg: cfg}, nil
	}
	return nil, lastErr
}

func configYAML(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  evaluation_interval: %s\n  scrape_timeout: %s\n",
		model.Duration(cfg.ScrapeInterval), model.Duration(cfg.ScrapeInterval), model.Duration(cfg.ScrapeInterval))
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	b.WriteString("scrape_configs:\n  - job_name: verdict\n    static_configs:\n      - targets:\n")
	for _, t := range cfg.Targets {
		fmt.Fprintf(&b, "          - %q\n", t)
	}
	return b.String()
}

// Targets returns the scraped targets.
func (s *Server) Targets() []string { return append([]string(nil), s.cfg.Targets...) }

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.proc.Pid() }

// Log returns the server's output so far.
func (s *Server) Log() string { return s.proc.Log() }

// apiResponse is the envelope of the HTTP API's answers.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

type queryData struct {
	ResultType model.ValueType `json:"resultType"`
	Result     json.RawMessage `json:"result"`
}

// get calls an API endpoint and decodes its data into out. Warnings are
// returned as an error.
func (s *Server) get(ctx context.Context, path string, params url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var r apiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("HTTP %d: %w: %.200s", resp.StatusCode, err, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	if len(r.Warnings) > 0 {
		return fmt.Errorf("warnings %v", r.Warnings)
	}
	return json.Unmarshal(r.Data, out)
}

// Query evaluates expr at time at (zero: now) and returns the vector it
// yields. Warnings are returned as an error; a non-vector result is an
// error.
func (s *Server) Query(ctx context.Context, expr string, at time.Time) (model.Vector, error) {
	if at.IsZero() {
		at = time.Now()
	}
	var d queryData
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {expr}, "time": {formatTime(at)}}, &d); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	if d.ResultType != model.ValVector {
		return nil, fmt.Errorf("query %s: %s result, want vector", expr, d.ResultType)
	}
	var vec model.Vector
	if err := json.Unmarshal(d.Result, &vec); err != nil {
		return nil, fmt.Errorf("query %s: %w", expr, err)
	}
	return vec, nil
}

// QueryRange evaluates expr over [start, end] every step.
func (s *Server) QueryRange(ctx context.Context, expr string, start, end time.Time, step time.Duration) (model.Matrix, error) {
	params := url.Values{"query": {expr}, "start": {formatTime(start)}, "end": {formatTime(end)},
		"step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}
	var d queryData
	if err := s.get(ctx, "/api/v1/query_range", params, &d); err != nil {
		return nil, fmt.Errorf("query_range %s: %w", expr, err)
	}
	if d.ResultType != model.ValMatrix {
		return nil, fmt.Errorf("query_range %s: %s result, want matrix", expr, d.ResultType)
	}
	var m model.Matrix
	if err := json.Unmarshal(d.Result, &m); err != nil {
		return nil, fmt.Errorf("query_range %s: %w", expr, err)
	}
	return m, nil
}

func formatTime(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', -1, 64)
}

// Scalar evaluates expr at time at (zero: now); it must yield exactly
// one sample, whose value it returns.
func (s *Server) Scalar(ctx context.Context, expr string, at time.Time) (float64, error) {
	vec, err := s.Query(ctx, expr, at)
	if err != nil {
		return 0, err
	}
	if len(vec) != 1 {
		return 0, fmt.Errorf("query %s: %d samples, want 1: %v", expr, len(vec), vec)
	}
	return float64(vec[0].Value), nil
}

// WaitScraped waits until every target has been scraped successfully
// (up == 1) by a scrape that started after t, and returns the time to
// evaluate queries at to see what the targets exposed at t: the start of
// the latest of those scrapes. Query at that time, not now: a later scrape
// that fails (a slow target under -race) writes staleness markers, and an
// instant query at "now" then finds nothing.
func (s *Server) WaitScraped(ctx context.Context, t time.Time) (time.Time, error) {
	tick := time.NewTicker(s.cfg.ScrapeInterval / 4)
	defer tick.Stop()
	var last string
	for {
		// timestamp() must be applied to the selector itself: on an
		// expression such as up == 1 it returns the evaluation time.
		vec, err := s.Query(ctx, "timestamp(up) and up == 1", time.Time{})
		switch {
		case err != nil:
			last = err.Error()
		case len(vec) == len(s.cfg.Targets):
			fresh, at := true, time.Time{}
			for _, smp := range vec {
				ts := time.UnixMilli(int64(math.Round(float64(smp.Value) * 1000)))
				fresh = fresh && !ts.Before(t.Truncate(time.Millisecond))
				if ts.After(at) {
					at = ts
				}
			}
			if fresh {
				return at, nil
			}
			last = fmt.Sprintf("last scrapes %v", vec)
		default:
			last = fmt.Sprintf("%d of %d targets up", len(vec), len(s.cfg.Targets))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("promtest: targets not scraped after %v (%s): %w", t.Format(time.RFC3339Nano), last, ctx.Err())
		case <-tick.C:
		}
	}
}

// CheckMetrics runs `promtool check metrics` on an exposition in the text
// format and returns the problems it reports, one per line ("name: text").
// An empty result means promtool found nothing. It skips or fails tb like
// [Start] when promtool is missing.
func CheckMetrics(tb testing.TB, exposition []byte) []string {
	tb.Helper()
	bin, err := binary("PROMTOOL_BIN", "promtool")
	testproc.Require(tb, err)
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		tb.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
	var problems []string
	for _, line := range strings.Split(out.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			problems = append(problems, line)
		}
	}
	if err != nil && len(problems) == 0 {
		tb.Fatalf("promtool check metrics: %v without output", err)
	}
	return problems
}
