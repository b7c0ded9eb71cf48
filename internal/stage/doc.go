// Package stage is the judge's span stage and sliding windows: it reads
// every ended span's outcome and attributes, keeps per-operation, per-peer,
// per-query and per-pool windows with streaming latency baselines, marks
// anomalous spans, names the component that dominated each failed or
// anomalous span (verdict.cause), accumulates children's components onto
// their local root, and builds the judge.Snapshot the rules read.
//
// The span path ([Stage.Start], [Stage.End]) allocates nothing: subjects
// are found in copy-on-write maps of bounded size (an overflow subject
// "_OTHER" takes the rest), per-second slots are updated with atomics, and
// local traces live in a fixed table. Everything that allocates (new
// subjects, snapshots) happens once per subject or once per tick.
//
// Only the tracer uses this package; it feeds it spans from its span
// pipeline and probe readings from a small adapter ([Readings]).
package stage
