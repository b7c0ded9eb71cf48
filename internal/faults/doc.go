// Package faults holds verdict's fault-injection tests (it has no code of
// its own): a real tracer, real HTTP servers with verdict's middleware, a
// real OTLP receiver (internal/otlptest) and a real PostgreSQL
// (internal/pgtest), put under the faults of issue 16 — an OTLP endpoint
// that blackholes, refuses, then answers slowly; a collector killed and
// restarted; the database restarted; eBPF tables too small; no privileges;
// Shutdown under load; thousands of short-lived goroutines; ten thousand
// routes and query fingerprints.
//
// Each test asserts the same four promises: the host keeps serving, memory
// stays bounded (the figure is logged), every dropped item is counted
// (exported plus dropped equals produced), and the cause shows in
// tracer.Status. Time bounds in these tests are liveness bounds, far above
// the expected time, because CI runs them on a loaded 2-core machine.
package faults
