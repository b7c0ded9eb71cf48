package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/tracer"
)

// otlpEnv leaves traces alone on OTLP (metrics and logs off, so that the
// counts are the spans'), with short export bounds so that a dead endpoint
// shows within a second.
func otlpEnv(t *testing.T) {
	t.Helper()
	for k, v := range map[string]string{
		"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
		"OTEL_EXPORTER_OTLP_TIMEOUT": "500", "OTEL_BSP_SCHEDULE_DELAY": "100",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "", "OTEL_EXPORTER_OTLP_PROTOCOL": "", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
		"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "", "OTEL_SDK_DISABLED": "",
		"OTEL_TRACES_SAMPLER": "", "OTEL_BSP_MAX_QUEUE_SIZE": "", "OTEL_BSP_EXPORT_TIMEOUT": "", "VERDICT_EBPF": "",
	} {
		t.Setenv(k, v)
	}
}

// startTracer starts a tracer without console output, globals, eBPF or
// runtime probe unless opts say otherwise; diag receives its diagnostics.
func startTracer(t *testing.T, diag *logBuf, opts ...tracer.Option) *tracer.Tracer {
	t.Helper()
	base := []tracer.Option{tracer.WithServiceName("faults"), tracer.WithoutGlobals(),
		tracer.WithConsoleFormat(tracer.ConsoleNone), tracer.WithEBPF(tracer.EBPFOff), tracer.WithoutRuntimeProbe()}
	if diag != nil {
		base = append(base, tracer.WithLogger(slog.New(slog.NewTextHandler(diag, nil))))
	} else {
		base = append(base, tracer.WithLogger(slog.New(slog.DiscardHandler)))
	}
	tr, err := tracer.Start(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// logBuf collects diagnostics.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// service is the host: a real HTTP server behind verdict's middleware.
type service struct {
	srv    *httptest.Server
	client *http.Client
}

func newService(t *testing.T, tr *tracer.Tracer) *service {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok "+r.PathValue("id"))
	})
	h := middleware.NewHandler(mux, middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider()), middleware.WithPropagators(tr.Propagator()))
	s := &service{srv: httptest.NewServer(h)}
	s.client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	t.Cleanup(s.close)
	return s
}

func (s *service) close() {
	s.srv.Close()
	s.client.CloseIdleConnections()
}

// load sends n requests from workers goroutines and returns how many were
// served with 200; it fails the test on any other outcome.
func (s *service) load(t *testing.T, workers, n int) int {
	t.Helper()
	var served, failed atomic.Int64
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				resp, err := s.client.Get(fmt.Sprintf("%s/work/%d", s.srv.URL, i))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				served.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("the host failed %d of %d requests: %v", failed.Load(), n, firstErr.Load())
	}
	return int(served.Load())
}

// liveHeap is the heap in use after a collection.
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

// waitStatus polls the component until cond holds or the liveness bound
// passes, and returns its last value.
func waitStatus(t *testing.T, tr *tracer.Tracer, name string, bound time.Duration, cond func(tracer.Component) bool) tracer.Component {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		c, _ := tr.Status().Component(name)
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Errorf("%s never reached the expected state within %v: %+v", name, bound, c)
			return c
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func degraded(reason ...string) func(tracer.Component) bool {
	return func(c tracer.Component) bool {
		if c.State != probes.StateDegraded {
			return false
		}
		for _, r := range reason {
			if strings.Contains(c.Reason, r) {
				return true
			}
		}
		return len(reason) == 0
	}
}

// shutdown shuts tr down within bound and returns the traces' drop count
// (0 when nothing was dropped).
func shutdown(t *testing.T, tr *tracer.Tracer, bound time.Duration) (dropped uint64, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	start := time.Now()
	err = tr.Shutdown(ctx)
	// Shutdown honours ctx, plus 100 ms per pipeline for in-flight exports
	// to notice; 2 s more is the liveness slack of a loaded machine.
	if took := time.Since(start); took > bound+2*time.Second {
		t.Errorf("Shutdown took %v with a %v deadline", took, bound)
	}
	var de *tracer.DropError
	if errors.As(err, &de) && de.Signal == "traces" {
		dropped = de.Total()
	}
	return dropped, err
}

// blackhole accepts TCP connections and never reads from or answers them,
// as a collector behind a dead load balancer does.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}
