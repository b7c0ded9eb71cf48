//go:build linux && (amd64 || arm64)

package bpf

import (
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkKernelCostPerRequest reports the time the kernel programs run per
// HTTP request (client and server in this process, span published in the
// handler), from the kernel's own BPF run-time statistics. "busy" keeps
// another span open for the whole run, so that every event takes the full
// path, as in a server that always has requests in flight; "idle" lets the
// programs skip all work between spans.
func BenchmarkKernelCostPerRequest(b *testing.B) {
	for _, mode := range []string{"idle", "busy"} {
		b.Run(mode, func(b *testing.B) {
			tm := requireTiming(b, nil)
			stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				b.Skipf("BPF run-time statistics: %v", err)
			}
			defer stats.Close()
			if mode == "busy" {
				done := make(chan struct{})
				started := make(chan struct{})
				go func() {
					tm.Begin(trace(7), span(7))
					close(started)
					<-done
					tm.End(span(7))
				}()
				<-started
				defer close(done)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tm.Begin(trace(1), span(9))
				io.WriteString(w, "ok")
				tm.End(span(9))
			}))
			defer srv.Close()
			c := srv.Client()
			progs := []*ebpf.Program{tm.objs.SysEnter, tm.objs.SysExit, tm.objs.SchedSwitch, tm.objs.SchedWakeup}
			total := func() (d, runs uint64) {
				for _, p := range progs {
					s, err := p.Stats()
					if err != nil {
						b.Fatal(err)
					}
					d += uint64(s.Runtime)
					runs += s.RunCount
				}
				return d, runs
			}
			d0, r0 := total()
			for b.Loop() {
				resp, err := c.Get(srv.URL)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			d1, r1 := total()
			b.ReportMetric(float64(d1-d0)/float64(b.N), "bpf-ns/req")
			b.ReportMetric(float64(r1-r0)/float64(b.N), "events/req")
		})
	}
}

// BenchmarkSyscallOverhead is the cost the programs add to one cheap system
// call (getppid) of this process: without the programs, with them attached
// and nothing published ("idle"), with another goroutine's key published
// ("busy": the full filter path for a goroutine without a span), and with
// the calling goroutine's own key published ("traced"); "no-syscalls" has
// only the scheduler programs attached (TimingOptions.NoSyscalls) and the
// caller's key published.
func BenchmarkSyscallOverhead(b *testing.B) {
	run := func(b *testing.B) {
		for b.Loop() {
			unix.Getppid()
		}
	}
	b.Run("detached", run)
	b.Run("no-syscalls", func(b *testing.B) {
		tm := requireTiming(b, &TimingOptions{NoSyscalls: true})
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tm.Begin(trace(8), span(8))
		defer tm.End(span(8))
		run(b)
	})
	for _, mode := range []string{"idle", "busy", "traced"} {
		b.Run(mode, func(b *testing.B) {
			tm := requireTiming(b, nil)
			switch mode {
			case "busy":
				tm.tab.begin(0xdead000, trace(8), span(8))
				defer tm.End(span(8))
			case "traced":
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				tm.Begin(trace(8), span(8))
				defer tm.End(span(8))
			}
			run(b)
		})
	}
}
