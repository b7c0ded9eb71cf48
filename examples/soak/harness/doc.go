// Package harness is the load and soak harness behind examples/soak (and the
// otelhttp + otelsql comparison in bench/soakpeer): it starts one child
// process per variant of the same small service (HTTP → SQLite), drives
// them in turn with an open-loop load generator at a fixed rate, samples
// each child's RSS, goroutines, descriptors and CPU time and the tracer's
// counters once a second, and reports latency percentiles per variant, the
// soak figures, BPF events, spans and verdicts, with an SVG plot.
//
// A child is the harness's own executable started again with
// EnvChild set to the variant's name: Main (and a test's TestMain through
// Child) must call Child first.
package harness
