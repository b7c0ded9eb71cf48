// Package tracertest runs verdict's judge inside `go test`, so that a
// goroutine leak, a pool a new query exhausts or a nested transaction fails
// the test that introduced it:
//
//	func TestCheckout(t *testing.T) {
//		tracertest.Start(t) // verdict for this test; any verdict fails it at the end
//		... // the code under test, instrumented with middleware and sqlxprobe as in production
//	}
//
// [Start] starts a verdict tracer for the test — an in-memory exporter, the
// judge on with fast evaluation (every 250 ms, a verdict fires on its first
// finding), eBPF off unless asked for — and registers a cleanup that, once
// the test's own cleanups ran:
//
//   - checks the test's goroutines against those it had at Start and names
//     the stacks of those left behind (the judge's goroutine.leak rule, fed
//     by the runtime probe's leak check: [goruntime.Probe.CheckLeaks]);
//   - evaluates the rules once more on every span that ended
//     ([tracer.Tracer.EvaluateVerdicts]) and fails the test (t.Errorf) for
//     every verdict that fired during the test, printing its summary,
//     action, evidence, scope, an example trace as an indented tree of its
//     spans (durations, verdict.cause, pool wait, kernel and GC time, ...)
//     and, with the flight recorder on, the execution trace it saved
//     (`go tool trace <file>` opens it);
//   - shuts the tracer down and fails the test if any goroutine verdict
//     started for it (tracer, probes, judge) is still running.
//
// Options allow rules ([AllowRules]), tune or add rules ([WithRule]: a
// copy of a built-in with other thresholds replaces it, see package
// tracer/judge/rules), expect a verdict ([ExpectVerdict]: the test fails
// unless it fires, and it is no failure), and turn on the flight recorder
// ([WithFlightRecorder], or -verdict.flight for every test).
//
// # Flags
//
//	-verdict.out DIR   write execution traces under DIR (default: the test's
//	                   ArtifactDir, a temporary directory unless go test -artifacts)
//	-verdict.flight    run the flight recorder for every test that calls Start
//
// # One set of OpenTelemetry globals, many tests
//
// A process has one global TracerProvider, and tests of a package run in
// one process, in parallel with t.Parallel. Each test gets its own verdict
// tracer (its own span stage, judge, runtime probe and exporter, set up
// WithoutGlobals); the first Start makes a router the global
// TracerProvider (and W3C tracecontext+baggage the global propagator if
// none was set), and the router hands every span started through the
// globals — instrumentation built with the default providers — to the
// tracer of the test it belongs to:
//
//  1. the test whose [T.Context] (or a context derived from it) the span
//     is started with;
//  2. the test whose tracer started the span's parent (a local parent);
//  3. the test whose trace the parent belongs to (a remote parent: a
//     server span of a request the test's instrumented client sent);
//  4. the only test running, when just one runs (tests without
//     t.Parallel).
//
// Spans the router cannot place go to the provider that was global before
// (a no-op by default) and are counted; a test that saw such spans says so
// in its log. So with t.Parallel, start the test's work with [T.Context]
// or pass [T.TracerProvider] to the instrumentation. The router stays
// installed for the life of the process; it holds no goroutine.
//
// # What is judged per test, what is process-wide
//
// Signals read from spans (requests, downstream calls, queries, pools,
// nested transactions, verdict's own pipeline) are the test's own: its
// judge sees only its spans. The leak check is the test's own too:
// [Start] puts a pprof label on the test's goroutine, inherited by every
// goroutine it starts (directly or not), and the check counts only
// labelled goroutines (it replaces labels the test's goroutine had before
// Start). Signals of the Go runtime and the CPU (GC, memory limit, lock
// contention, scheduling latency, run-queue wait) are process-wide: the
// message says so, since tests running in parallel contribute to them. A
// verdict on such signals fails a test that ran alone (no other test used
// tracertest meanwhile); while other tests ran in parallel it cannot tell
// whose the verdict is, and logs it (t.Log) instead of failing: run the
// test without t.Parallel to judge it.
//
// Rules that compare a signal with its own baseline (db.slow_query,
// downstream.slow, ...) need minutes of history a unit test does not
// have; they fire in long tests only, or when tuned with [WithRule].
package tracertest
