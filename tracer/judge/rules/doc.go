// Package rules holds verdict's built-in rules. Each is a value with its
// thresholds as exported fields and a constructor with the defaults
// ([NewGCDelay], ...); [Defaults] returns all of them. They use only the
// public API of package judge — the same [judge.Snapshot] and
// [judge.Rule] a user rule has — and every one works from user-space
// signals, using eBPF ones when present; each piece of evidence names its
// source.
//
// Thresholds are relative to the subject's own baseline wherever one
// exists, with absolute floors so that a tiny baseline does not make noise
// an incident, and with lower clear thresholds (hysteresis) so that a
// signal hovering around a threshold does not flap. To tune a rule, pass a
// modified copy with the same ID after the defaults (it replaces them):
//
//	r := rules.NewSlowQuery()
//	r.Ratio = 5
//	tracer.WithRule(r)
//
// The rules and their IDs:
//
//	gc.stw_delay          GC pressure (pause time, GC CPU) while requests slow down or fail
//	runtime.memory_limit  memory near GOMEMLIMIT with the GC running hard
//	downstream.refused    a peer refuses connections (HTTP connection_refused, gRPC UNAVAILABLE)
//	downstream.slow       calls to a peer slow, waiting for the server dominating
//	dns.failure           name resolution fails or is slow for a host
//	tls.failure           TLS handshakes fail or are slow for a peer
//	db.pool_exhausted     pool wait dominates database operations
//	db.slow_query         one query fingerprint slower than its own baseline
//	db.nested_tx          a transaction's context used to take a second pooled connection
//	cpu.starvation        goroutines and threads wait for a CPU (run queue, cgroup throttling)
//	lock.contention       goroutines blocked on sync.Mutex/RWMutex
//	goroutine.leak        goroutines growing steadily without more work in flight
//	telemetry.dropping    verdict's own pipeline drops telemetry
package rules
