package tracer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/middleware"
)

// The acceptance path of the eBPF companion, end to end: a real HTTP server
// through verdict's middleware, the tracer with eBPF required, and handlers
// whose kernel time is known.
func TestEBPFThroughMiddleware(t *testing.T) {
	needRoot(t)
	tr, exp := startBuiltin(t, WithEBPF(EBPFRequired), WithoutRuntimeProbe())
	defer shutdown(t, tr)
	dir := t.TempDir()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Create(filepath.Join(dir, "w"))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		for i := 0; i < 4; i++ {
			f.Write(make([]byte, 4096))
			f.Sync()
		}
		f.Close()
		blockInKernel(30 * time.Millisecond)
		x := 0
		for end := time.Now().Add(10 * time.Millisecond); time.Now().Before(end); {
			x++
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /park", func(w http.ResponseWriter, r *http.Request) {
		ch := make(chan struct{})
		time.AfterFunc(20*time.Millisecond, func() { close(ch) })
		<-ch
		time.Sleep(20 * time.Millisecond)
		io.WriteString(w, "ok")
	})
	srv := httptest.NewServer(middleware.NewHandler(mux, middleware.WithTracerProvider(tr.TracerProvider()),
		middleware.WithMeterProvider(tr.MeterProvider())))
	defer srv.Close()
	for _, path := range []string{"/work", "/park"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	work := serverSpan(t, tr, exp, "GET /work")
	offcpu, _ := work.Value(semconv.AttrKernelOffCPUDuration)
	sys, _ := work.Value(semconv.AttrKernelSyscallDuration)
	count, _ := work.Value(semconv.AttrKernelSyscallCount)
	t.Logf("GET /work: %d syscalls, %.2f ms in syscalls, %.2f ms off-CPU", count.AsInt64(), sys.AsFloat64()*1e3, offcpu.AsFloat64()*1e3)
	if o := offcpu.AsFloat64(); o < 0.028 || o > 0.5 {
		t.Errorf("off-CPU = %.4fs, want about the 30 ms nanosleep (plus fsync waits)", o)
	}
	if s := sys.AsFloat64(); s < offcpu.AsFloat64() {
		t.Errorf("syscall time %.4fs < off-CPU time %.4fs: off-CPU here is all inside syscalls", s, offcpu.AsFloat64())
	}
	if c := count.AsInt64(); c < 10 {
		t.Errorf("syscall count %d, want at least the 4 writes, 4 fsyncs, open, close, nanosleep", c)
	}

	park := serverSpan(t, tr, exp, "GET /park")
	if v, _ := park.Value(semconv.AttrKernelOffCPUDuration); v.AsFloat64() > 0.005 {
		t.Errorf("parked handler (channel + time.Sleep) off-CPU = %.4fs, want ~0: the kernel cannot see a parked goroutine", v.AsFloat64())
	}
}

func serverSpan(t *testing.T, tr *Tracer, exp *tracetest.InMemoryExporter, name string) attribute.Set {
	t.Helper()
	return spanAttrs(t, tr, exp, name)
}

// BenchmarkHTTPThroughMiddleware compares one HTTP request through verdict's
// middleware with eBPF off and on, in the same run (the bound: on ≤
// 1.3× off). Client and server share the process, so the per-syscall cost of
// the tracepoints is paid twice.
func BenchmarkHTTPThroughMiddleware(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for eBPF")
	}
	for _, mode := range []EBPFMode{EBPFOff, EBPFRequired} {
		b.Run("ebpf="+mode.String(), func(b *testing.B) {
			// No in-memory exporter: it would keep every span of the run.
			tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(),
				WithEBPF(mode), WithoutRuntimeProbe(), WithSpanExporter(tracetest.NewNoopExporter()),
				WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			h := middleware.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "ok")
			}), middleware.WithTracerProvider(tr.TracerProvider()), middleware.WithMeterProvider(tr.MeterProvider()))
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := srv.Client()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, err := client.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			b.StopTimer() // Start and Shutdown (detaching uprobes) are not per-request costs
		})
	}
}
