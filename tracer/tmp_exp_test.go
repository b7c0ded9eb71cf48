package tracer

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/probes"
	"github.com/verdict-obs/verdict/probes/gcstw"
	"github.com/verdict-obs/verdict/probes/kernel"
)

func BenchmarkTmpParts(b *testing.B) {
	mk := map[string]func() []probes.Probe{
		"kernel":       func() []probes.Probe { k, _ := kernel.New(); return []probes.Probe{k} },
		"kernel-nosys": func() []probes.Probe { k, _ := kernel.New(kernel.WithoutSyscallTracing()); return []probes.Probe{k} },
		"gcstw":        func() []probes.Probe { return []probes.Probe{gcstw.New()} },
	}
	for name, f := range mk {
		b.Run(name, func(b *testing.B) {
			tr, _ := startBuiltin(b, WithEBPF(EBPFOff), WithoutRuntimeProbe(), WithSpanExporter(tracetest.NewNoopExporter()), WithProbes(f()...))
			defer tr.Shutdown(context.Background())
			h := middleware.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
				middleware.WithTracerProvider(tr.TracerProvider()), middleware.WithMeterProvider(tr.MeterProvider()))
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := srv.Client()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				resp, _ := client.Get(srv.URL)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
