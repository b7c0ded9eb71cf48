package sched_test

import (
	"context"
	"log"

	"github.com/verdict-obs/verdict/probes/sched"
)

// The tracer runs the sched probe by itself (tracer.Tracer.Sched); built by
// hand, without eBPF, it gives the process view and says what spans lack.
func Example() {
	p, err := sched.New(sched.WithoutEBPF("not wanted here"))
	if err != nil {
		log.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	s := p.Snapshot()
	log.Printf("GOMAXPROCS %d, CPU limit %.1f, threads waiting for a CPU %.2f, throttled %.0f%% of periods",
		s.GOMAXPROCS, s.CPULimit, s.RunQueueRate, 100*s.ThrottledRatio)
}
