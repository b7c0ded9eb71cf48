//go:build unix

package harness

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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
// to tell the kernel programs' cost from user space's.
func BenchmarkService(b *testing.B) {
	dir := b.TempDir()
	if err := Seed(dir); err != nil {
		b.Fatal(err)
	}
	noBPF := Variant{Name: "verdict-noebpf", Start: func(ctx context.Context, dsn string) (*Service, error) {
		return startVerdict(ctx, dsn, tracer.EBPFOff)
	}}
	for _, v := range []Variant{Off, Verdict, noBPF} {
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
