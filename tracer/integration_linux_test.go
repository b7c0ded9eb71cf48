package tracer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/internal/nanosleep"
	"github.com/verdict-obs/verdict/internal/semconv"
	"github.com/verdict-obs/verdict/internal/testutil"
	"github.com/verdict-obs/verdict/middleware"
)

// The acceptance path of the eBPF companion, end to end: a real HTTP server
// through verdict's middleware, the tracer with eBPF required, and handlers
// whose kernel time is known.
func TestEBPFThroughMiddleware(t *testing.T) {
	testutil.RequireRoot(t, "use eBPF")
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
		nanosleep.Block(30 * time.Millisecond)
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
// 1.3× off), with every built-in probe: the runtime probe and the named
// probes gc and sched (exact with eBPF; with it off, the runtime's pauses
// and one verdict.unmeasured per span). Client and server share the
// process, so the per-syscall cost of the tracepoints is paid twice.
func BenchmarkHTTPThroughMiddleware(b *testing.B) {
	testutil.RequireRoot(b, "use eBPF")
	for _, mode := range []EBPFMode{EBPFOff, EBPFRequired} {
		b.Run("ebpf="+mode.String(), func(b *testing.B) {
			// No in-memory exporter: it would keep every span of the run.
			tr, err := Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(),
				WithEBPF(mode), WithSpanExporter(tracetest.NewNoopExporter()),
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
			cpu0 := processCPU(b)
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
			// The process's CPU time (user + system, kernel programs
			// included) per request: steadier than wall time on a
			// loaded machine.
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// processCPU is the process's user + system CPU time.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHTTPThroughMiddlewareOnOff is BenchmarkHTTPThroughMiddleware with
// the two modes interleaved in one run, for a loaded machine: phases of 500
// requests alternate between a tracer with eBPF off and one with eBPF
// required (each started before its phase and shut down after it, outside
// the timer, so no eBPF program is attached during an "off" phase). It
// reports the mean time per request of each mode and the ratio on/off.
func BenchmarkHTTPThroughMiddlewareOnOff(b *testing.B) {
	testutil.RequireRoot(b, "use eBPF")
	const phase = 500
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	var t [2]time.Duration
	var n [2]int
	var tr *Tracer
	var srv *httptest.Server
	stop := func() {
		if srv != nil {
			srv.Close()
			tr.Shutdown(context.Background())
			srv, tr = nil, nil
		}
	}
	defer stop()
	on := 1
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%phase == 0 {
			b.StopTimer()
			stop()
			on = 1 - on
			mode := EBPFOff
			if on == 1 {
				mode = EBPFRequired
			}
			var err error
			tr, err = Start(context.Background(), WithConsoleFormat(ConsoleNone), WithoutGlobals(),
				WithEBPF(mode), WithoutRuntimeProbe(), WithSpanExporter(tracetest.NewNoopExporter()),
				WithMetricReader(sdkmetric.NewManualReader()), WithLogExporter(&memLogExporter{}))
			if err != nil {
				b.Fatal(err)
			}
			srv = httptest.NewServer(middleware.NewHandler(handler,
				middleware.WithTracerProvider(tr.TracerProvider()), middleware.WithMeterProvider(tr.MeterProvider())))
			runtime.GC() // Start's garbage (kernel BTF, the line table) is not a per-request cost
			b.StartTimer()
		}
		t0 := time.Now()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		t[on] += time.Since(t0)
		n[on]++
	}
	b.StopTimer()
	if n[0] > 0 && n[1] > 0 {
		off, onNs := float64(t[0])/float64(n[0]), float64(t[1])/float64(n[1])
		b.ReportMetric(off, "ns-off/req")
		b.ReportMetric(onNs, "ns-on/req")
		b.ReportMetric(onNs/off, "on/off")
	}
}
