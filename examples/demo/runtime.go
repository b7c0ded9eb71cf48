package main

import (
	"fmt"
	"io"
	"time"

	"github.com/verdict-obs/verdict/probes/goruntime"
)

func printRuntime(out io.Writer, s goruntime.Snapshot) {
	fmt.Fprintf(out, "goroutines %d, GC cycles %d, live heap %.1f MiB (goal %.1f MiB), GC CPU %.1f%%\n",
		s.Goroutines, s.GCCycles, mib(s.HeapLive), mib(s.HeapGoal), 100*s.GCCPUFraction)
	if h := s.Hotspots; !h.Time.IsZero() {
		fmt.Fprintf(out, "allocating %.1f MiB/s over the last %s\n", h.TotalBytesPerSecond/(1<<20), h.Interval.Round(time.Millisecond))
	}
	if s.GCPauses > 0 {
		fmt.Fprintf(out, "GC pauses in the last %s: %d, longest %s\n", s.RateWindow, s.GCPauses, s.GCPauseMax)
	}
	for i, site := range s.Hotspots.Sites {
		if i == 3 {
			break
		}
		fmt.Fprintf(out, "allocation hotspot #%d: %s (%s:%d) %.1f MiB/s\n", i+1, site.Function, site.File, site.Line, site.BytesPerSecond/(1<<20))
	}
	for c := goruntime.BlockClass(0); c < goruntime.NumBlockClasses; c++ {
		if n := s.Blocking.Counts[c]; n > 0 {
			fmt.Fprintf(out, "goroutines parked on %s: %d\n", c, n)
		}
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
