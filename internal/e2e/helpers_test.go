package e2e

import (
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/tracer"
)

// startTracer starts a Tracer for one test: no console output, logs to
// nowhere (Jaeger refuses them), providers handed out explicitly.
func startTracer(t *testing.T, opts ...tracer.Option) *tracer.Tracer {
	t.Helper()
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	base := []tracer.Option{tracer.WithConsoleFormat(tracer.ConsoleNone), tracer.WithoutGlobals()}
	tr, err := tracer.Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tr.Shutdown(ctx); err != nil {
			t.Errorf("tracer shutdown: %v", err)
		}
	})
	return tr
}

func startService(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("service close: %v", err)
		}
	})
	return s
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends one request and checks its status.
func call(t testing.TB, method, url, body string, want int) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d", method, url, resp.StatusCode, want)
	}
}

// quantile returns the nearest-rank q-quantile of ds (the value below
// which a fraction q of the observations lie, as histogram_quantile
// estimates it).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}
