package rules

import (
	"strings"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// PoolExhausted (db.pool_exhausted) fires for a connection pool whose
// operations spend most of their time waiting for a connection
// (db.client.connection.wait_time against the span's duration). The
// pool's own statistics, when available, add how many connections are in
// use out of the maximum.
type PoolExhausted struct {
	// MinCount operations in the window are needed.
	MinCount int
	// WaitShare of the operations' time fires, WaitShareClear holds.
	WaitShare, WaitShareClear float64
	// WaitFloor is the least P99 wait (seconds) that counts.
	WaitFloor float64
}

// NewPoolExhausted returns db.pool_exhausted with its defaults.
func NewPoolExhausted() PoolExhausted {
	return PoolExhausted{MinCount: 10, WaitShare: 0.5, WaitShareClear: 0.3, WaitFloor: 0.01}
}

// ID returns "db.pool_exhausted".
func (PoolExhausted) ID() string { return IDPoolExhausted }

// Evaluate implements judge.Rule.
func (r PoolExhausted) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, p := range s.Pools {
		active := st.Active(p.Name)
		share := judge.Threshold(active, r.WaitShare, r.WaitShareClear)
		floor := judge.Threshold(active, r.WaitFloor, r.WaitFloor/2)
		if p.Count < r.MinCount || p.WaitShare.Value < share || p.WaitP99.Value < floor {
			continue
		}
		ev := []judge.Evidence{
			measured("pool.wait.share", p.WaitShare, share, "1", judge.SourceSpans),
			measured("pool.wait.p99", p.WaitP99, floor, "s", judge.SourceSpans),
			counted("pool.operations.rate", p.Count, s.Window, 0, judge.SourceSpans),
		}
		summary := sprintf("Database operations on %s spend %s of their time waiting for a pooled connection (P99 wait %s)",
			p.Name, pct(p.WaitShare.Value), dur(p.WaitP99.Value))
		action := "Raise the pool's maximum (SetMaxOpenConns) if the database has room, or shorten what holds connections: long transactions, rows not closed, slow queries"
		if ps := p.Stats; ps.Available {
			ev = append(ev,
				judge.Evidence{Signal: "pool.in_use", Value: float64(ps.InUse), Threshold: float64(ps.MaxOpen), Unit: "{connection}", Source: judge.SourcePool},
				measured("pool.wait.rate", ps.WaitRate, 0, "/s", judge.SourcePool))
			if ps.MaxOpen > 0 {
				summary += sprintf(", %d of %d connections in use", ps.InUse, ps.MaxOpen)
				action = sprintf("Raise the pool's maximum (SetMaxOpenConns, now %d) if the database has room, or shorten what holds connections: long transactions, rows not closed, slow queries", ps.MaxOpen)
			}
		}
		summary += ": the pool is exhausted."
		if q := topQuery(s, p.Name); q != nil {
			action += sprintf("; the busiest query is %s", quote(q.Fingerprint))
		}
		action += "."
		sev := judge.SeverityWarning
		if p.WaitShare.Value >= 0.8 {
			sev = judge.SeverityCritical
		}
		out = append(out, judge.Finding{Subject: p.Name, Severity: sev, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(p.Exemplars)})
	}
	return out
}

// topQuery returns the pool's query that takes the most execution time,
// transaction control statements aside.
func topQuery(s *judge.Snapshot, pool string) *judge.Query {
	var best *judge.Query
	for i := range s.Queries {
		q := &s.Queries[i]
		switch strings.ToUpper(strings.SplitN(strings.TrimSpace(q.Fingerprint), " ", 2)[0]) {
		case "BEGIN", "COMMIT", "ROLLBACK", "START", "SAVEPOINT", "RELEASE", "END":
			continue
		}
		if q.Pool == pool && (best == nil || float64(q.Count)*q.P50.Value > float64(best.Count)*best.P50.Value) {
			best = q
		}
	}
	return best
}

// SlowQuery (db.slow_query) fires for a query fingerprint whose execution
// time (pool wait excluded) became several times its own baseline. The
// subject is the fingerprint.
type SlowQuery struct {
	// MinCount executions in the window are needed.
	MinCount int
	// Ratio of P50 (or P99) over its baseline that fires, RatioClear that
	// holds; Floor is the least increase (seconds) that counts.
	Ratio, RatioClear, Floor float64
	// TailCount executions in the window before the P99 is judged.
	TailCount int
}

// NewSlowQuery returns db.slow_query with its defaults.
func NewSlowQuery() SlowQuery {
	return SlowQuery{MinCount: 5, Ratio: 3, RatioClear: 2, Floor: 0.005, TailCount: 200}
}

// ID returns "db.slow_query".
func (SlowQuery) ID() string { return IDSlowQuery }

// Evaluate implements judge.Rule.
func (r SlowQuery) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, q := range s.Queries {
		if q.Count-q.Errors < r.MinCount {
			continue
		}
		ratio := judge.Threshold(st.Active(q.Fingerprint), r.Ratio, r.RatioClear)
		p50 := q.P50.Exceeds(ratio, 0, false) && q.P50.Value-q.P50.Baseline >= r.Floor
		// The P99 of few executions is the slowest one: judged over many.
		p99 := q.Count >= r.TailCount && q.P99.Exceeds(ratio, 0, false) && q.P99.Value-q.P99.Baseline >= 2*r.Floor
		if !p50 && !p99 {
			continue
		}
		qn, sig, m := "P50", "query.duration.p50", q.P50
		if !p50 {
			qn, sig, m = "P99", "query.duration.p99", q.P99
		}
		name := q.Summary
		if name == "" {
			name = strings.SplitN(q.Fingerprint, " ", 2)[0]
		}
		ev := []judge.Evidence{
			measured(sig, m, m.Baseline*ratio, "s", judge.SourceSpans),
			counted("query.executions.rate", q.Count, s.Window, 0, judge.SourceSpans),
			{Signal: "query.fingerprint", Unit: "1", Source: judge.SourceSpans, Detail: q.Fingerprint},
		}
		summary := sprintf("%s %s takes %s at %s against %s before (%s), pool wait excluded: the query regressed.",
			name, quote(q.Fingerprint), dur(m.Value), qn, dur(m.Baseline), times(m.Ratio(1e-6)))
		action := "EXPLAIN (ANALYZE) the query: a dropped or unused index, a changed plan, a grown table or a lock it waits on are the usual causes."
		out = append(out, judge.Finding{Subject: q.Fingerprint, Severity: judge.SeverityWarning, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(q.Exemplars)})
	}
	return out
}

// NestedTx (db.nested_tx) fires for a pool on which an operation took a
// second pooled connection while its context held an open transaction of
// the same pool (sqlxprobe's verdict.db.nested_connection span event): it
// works until the pool is exhausted, then deadlocks.
type NestedTx struct {
	// MinCount nested operations in the window fire (and hold).
	MinCount int
}

// NewNestedTx returns db.nested_tx with its defaults.
func NewNestedTx() NestedTx { return NestedTx{MinCount: 1} }

// ID returns "db.nested_tx".
func (NestedTx) ID() string { return IDNestedTx }

// Evaluate implements judge.Rule.
func (r NestedTx) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for _, p := range s.Pools {
		if p.Nested < max(r.MinCount, 1) {
			continue
		}
		ev := []judge.Evidence{counted("pool.nested.rate", p.Nested, s.Window, rate(r.MinCount, s.Window), judge.SourceSpans)}
		where := ""
		if len(p.NestedOperations) > 0 {
			where = " under " + strings.Join(p.NestedOperations, ", ")
			ev = append(ev, judge.Evidence{Signal: "pool.nested.operations", Value: float64(len(p.NestedOperations)), Unit: "{operation}", Source: judge.SourceSpans, Detail: strings.Join(p.NestedOperations, "\n")})
		}
		summary := sprintf("%d operations in %s took a second connection from %s while their context held a transaction of it%s: nested transactions deadlock once the pool is exhausted",
			p.Nested, s.Window, p.Name, where)
		sev := judge.SeverityWarning
		if ps := p.Stats; ps.Available && ps.MaxOpen > 0 {
			summary += sprintf(" (%d of %d connections in use)", ps.InUse, ps.MaxOpen)
			ev = append(ev, judge.Evidence{Signal: "pool.in_use", Value: float64(ps.InUse), Threshold: float64(ps.MaxOpen), Unit: "{connection}", Source: judge.SourcePool})
		}
		if p.WaitShare.Value >= 0.5 {
			sev = judge.SeverityCritical
		}
		summary += "."
		action := "Run the inner queries on the transaction (tx.QueryContext, tx.ExecContext) instead of the DB, or finish the transaction before starting another; sqlxprobe.WithNestedPolicy(sqlxprobe.NestedError) turns it into an error."
		out = append(out, judge.Finding{Subject: p.Name, Severity: sev, Summary: summary, Action: action, Evidence: ev, Exemplars: exemplars(p.NestedExemplars)})
	}
	return out
}
