// Command soak is verdict's load and soak harness: it runs the example
// service (HTTP → SQLite through sqlxprobe) once with everything verdict
// has on (eBPF as root) and once without instrumentation, in two child
// processes, drives them in turn at one fixed rate with an open-loop load
// generator, and reports requests served, latency percentiles of each,
// CPU per request, RSS, goroutines and open descriptors over time (and
// whether they stay flat), BPF events produced, consumed and lost, spans
// exported and dropped, and verdicts fired, with a line a second while it
// runs and an SVG plot at the end.
//
//	go run ./examples/soak                               # 1 min at half the capacity wrk measures
//	go run ./examples/soak -duration 10m -rate 1000      # the soak
//	cd bench && go run ./soakpeer -variants verdict,off,verdict,otel -duration 10m -rate 1000  # with otelhttp + otelsql
//
// The exit status is 3 when a child panicked or died.
package main

import (
	"os"

	"github.com/verdict-obs/verdict/examples/soak/harness"
)

func main() {
	os.Exit(harness.Main(harness.Verdict, harness.Off))
}
