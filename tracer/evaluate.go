package tracer

import (
	"context"
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// EvaluateVerdicts evaluates the judge's rules now, instead of waiting for
// its next evaluation (about once a second), on a snapshot that covers
// every span that ended before the call, and returns the verdicts that
// fired or cleared in this evaluation; the verdict handlers see them as
// usual. A test helper calls it at the end of a test (package
// tracer/tracertest); a service can call it before Shutdown. It is safe for
// concurrent use with the judge's own evaluations. It returns nil when the
// judge is off and after Shutdown.
func (t *Tracer) EvaluateVerdicts(ctx context.Context) []Verdict {
	if t == nil || t.judge == nil || t.shut.Load() {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	js := t.judge
	// The stage's windows end where the snapshot's interval starts: one
	// interval ahead, the current interval (the latest spans) is inside.
	s := js.lockedSnapshot(time.Now().Add(js.engine.Interval()))
	if s == nil {
		return nil
	}
	return js.engine.Evaluate(ctx, s)
}

// lockedSnapshot is snapshot for more than one caller.
func (js *judgeState) lockedSnapshot(now time.Time) *judge.Snapshot {
	js.snapMu.Lock()
	defer js.snapMu.Unlock()
	return js.snapshot(now)
}
