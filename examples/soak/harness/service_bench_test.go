//go:build unix

package harness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/verdict-obs/verdict/middleware"
	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

// BenchmarkService serves b.N requests of the soak's load through a real
// loopback server of each variant, from 8 closed-loop clients, for CPU and
// allocation profiles of a variant in one process:
//
//	go test -run '^$' -bench 'Service/verdict' -benchtime 20000x -cpuprofile cpu.out
//
// Allocations and CPU (cpu-ns/op: the process's user and system time) per
// operation include the client's, the same for every variant: compare
// variants, not absolute figures. verdict-noebpf is verdict with EBPFOff,
// to tell the kernel programs' cost from user space's. The other variants
// take verdict apart, eBPF off: sdk-spans (two bare SDK spans per request,
// server and database, batched into a counter: the floor of any
// SDK-based instrumentation), part-tracer (tracer.Start, nothing wrapped),
// part-middleware and part-sqlxprobe (one of the two), part-both.
func BenchmarkService(b *testing.B) {
	dir := b.TempDir()
	if err := Seed(dir); err != nil {
		b.Fatal(err)
	}
	for _, v := range []Variant{Off, Verdict, VerdictNoEBPF, SDKSpans,
		partial("part-tracer", false, false), partial("part-middleware", true, false),
		partial("part-sqlxprobe", false, true), partial("part-both", true, true)} {
		b.Run(v.Name, func(b *testing.B) {
			svc, err := v.Start(context.Background(), DSN(dir))
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(svc.Handler)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				MaxIdleConns: 8, MaxIdleConnsPerHost: 8, DisableCompression: true,
			}}
			defer func() {
				client.CloseIdleConnections()
				srv.Close()
				if svc.Close != nil {
					if err := svc.Close(context.Background()); err != nil {
						b.Error(err)
					}
				}
			}()
			get := func(i int64) {
				resp, err := client.Get(srv.URL + "/orders/" + strconv.FormatInt(i%Rows+1, 10))
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
			for i := range int64(200) { // warm the pools and connections
				get(i)
			}
			b.ReportAllocs()
			var before syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			b.ResetTimer()
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						get(i)
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			var after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// partial is verdict with eBPF off and only some of its parts: the
// middleware around the handler, sqlxprobe under it, or neither.
func partial(name string, mw, sqlx bool) Variant {
	return Variant{Name: name, Start: func(ctx context.Context, dsn string) (*Service, error) {
		metricExp, err := stdoutmetric.New(stdoutmetric.WithWriter(io.Discard))
		if err != nil {
			return nil, err
		}
		tr, err := tracer.Start(ctx, tracer.WithServiceName("soak"), tracer.WithEBPF(tracer.EBPFOff),
			tracer.WithSpanExporter(&CountingExporter{}), tracer.WithConsoleWriter(io.Discard),
			tracer.WithMetricReader(sdkmetric.NewPeriodicReader(metricExp, sdkmetric.WithInterval(MetricInterval))))
		if err != nil {
			return nil, err
		}
		var svc *Service
		if sqlx {
			db, err := sqlxprobe.Open("sqlite", dsn)
			if err != nil {
				return nil, errors.Join(err, tr.Shutdown(ctx))
			}
			db.SetMaxOpenConns(PoolSize)
			db.SetMaxIdleConns(PoolSize)
			svc = &Service{Handler: Handler(db), Close: func(context.Context) error { return db.Close() }}
		} else if svc, err = Off.Start(ctx, dsn); err != nil {
			return nil, errors.Join(err, tr.Shutdown(ctx))
		}
		if mw {
			svc.Handler = middleware.NewHandler(svc.Handler)
		}
		closeDB := svc.Close
		svc.Close = func(ctx context.Context) error { return errors.Join(closeDB(ctx), tr.Shutdown(ctx)) }
		return svc, nil
	}}
}
