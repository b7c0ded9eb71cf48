package nethttp_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/verdict-obs/verdict/internal/probetest"
	"github.com/verdict-obs/verdict/middleware"
)

// BenchmarkRequestOnOff: an HTTP request through the middleware's client
// and server (two spans) to a handler that answers "ok", with every probe
// on (eBPF required: kernel time, stop-the-world, sockets, nethttp, grpc,
// sql, tcp) and with eBPF off, in alternating phases of one run. It reports
// ns-on/req, ns-off/req, their ratio and the allocations per request of
// each (the whole process's, client and server).
func BenchmarkRequestOnOff(b *testing.B) {
	probetest.OnOff(b, 1000, workload)
}

// workload is the benchmark's request, on e's tracer.
func workload(b testing.TB, e *probetest.Env) (func(), func()) {
	tp := middleware.WithTracerProvider(e.Tracer.TracerProvider())
	mp := middleware.WithMeterProvider(e.Tracer.MeterProvider())
	srv := httptest.NewServer(middleware.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}), tp, mp))
	tr := &http.Transport{}
	c := &http.Client{Transport: middleware.NewTransport(tr, tp, mp)}
	do := func() {
		resp, err := c.Get(srv.URL + "/bench")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return do, func() { tr.CloseIdleConnections(); srv.Close() }
}

// TestRequestAllocsOnOff: with every probe on, a request allocates no more
// than with eBPF off (run by CI's allocation pass, without -race).
func TestRequestAllocsOnOff(t *testing.T) { probetest.AllocsOnOff(t, workload) }
