// Package judge draws verdicts from a process's fused signals: what is
// wrong, what to do, and the evidence, within seconds of a fault's onset
// and without a backend.
//
// The pieces:
//
//   - [Snapshot] is the documented, immutable view of the signals: requests
//     (local root spans), operations, downstream peers, query fingerprints
//     and pools from the spans; the Go runtime; eBPF kernel time and
//     stop-the-world windows; the cgroup's CPU; the telemetry pipeline. Each
//     value covers a short sliding window (5 s) and comes with a baseline
//     from the history before it ([Measure]). In package tracer the
//     baselines of requests, operations, peers, queries and pools do not
//     learn from slots with many anomalies, nor while a verdict fires (for
//     at most half a baseline period): the next incident is judged against
//     normal times, not against the last one.
//   - A [Rule] reads a Snapshot and returns [Finding]s, one per subject. The
//     built-in rules (package tracer/judge/rules) and user rules implement
//     the same interface; there is no private shortcut.
//   - The [Engine] evaluates the rules about once a second and turns
//     findings that persist into a [Verdict]: one per incident of a rule for
//     a subject, fired after the onset debounce (2 evaluations), cleared
//     after the clear debounce (5). Rules see which of their subjects are
//     active ([State]) and hold them with lower thresholds ([Threshold]),
//     so a signal hovering around its threshold does not flap.
//
// The package imports no part of verdict's tracer and no OpenTelemetry SDK:
// it is tested with hand-built snapshots. Package tracer wires it: its span
// pipeline feeds every ended span to a span stage that keeps the windows
// (and marks anomalous spans, names each failed or anomalous span's
// dominant component in verdict.cause, and keeps failing traces whole); an
// adapter reads the probes' snapshots; and verdicts reach the tracer's
// logger, metrics, open spans, flight recorder and handlers
// (tracer.WithVerdictHandler).
//
// # Writing a rule
//
// A rule is a Go value with a stable ID and an Evaluate method. Compare a
// Measure's Value with its Baseline and with an absolute floor
// ([Measure.Exceeds]), require enough samples, use [Threshold] for
// hysteresis, and say in the Summary what is wrong with numbers and in the
// Action what to do; give each signal as [Evidence] with its source. See
// the example of tracer.WithRule.
package judge
