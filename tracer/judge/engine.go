package judge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrRule is wrapped by the error [New] returns for an invalid rule set.
var ErrRule = errors.New("judge: invalid rule")

// maxIncidents bounds the verdicts (active and pending) the engine tracks;
// findings for new subjects beyond it are ignored until some clear.
const maxIncidents = 1024

// Engine evaluates rules on snapshots and turns persistent findings into
// verdicts: one per incident of a rule for a subject, fired after the onset
// debounce and cleared after the clear debounce (see [WithDebounce]).
//
// Concurrency: Evaluate must be called from one goroutine at a time (Run
// does); Verdicts, Rules and the accessors are safe for concurrent use.
type Engine struct {
	cfg   config
	rules []Rule

	evalMu sync.Mutex // serialises Evaluate

	mu        sync.Mutex // guards the fields below
	incidents map[incidentKey]*incident
	recent    []Verdict // most recent last
	panicked  map[string]*Fault
}

// Fault is a part of the engine's input that panicked: a rule, a verdict
// handler or an evidence function. The engine recovers, skips it for that
// evaluation (the other rules go on) and reports its first panic once
// through the logger; [Engine.Faults] lists every part that panicked.
type Fault struct {
	What  string // "rule my.rule", "verdict handler", "evidence function"
	Panic string // the first panic's value
	Count uint64 // panics so far
}

type incidentKey struct{ rule, subject string }

type incident struct {
	seen, absent int
	active       bool
	firstSeen    time.Time
	firstAbsent  time.Time
	v            Verdict
	extra        []Evidence // from WithEvidence, kept while active
}

// New returns an engine with the rules and handlers of opts. It fails
// (errors.Is [ErrRule]) when a rule has an empty ID.
func New(opts ...Option) (*Engine, error) {
	cfg := newConfig(opts)
	var rules []Rule
	index := map[string]int{}
	for _, r := range cfg.rules {
		id := r.ID()
		if id == "" {
			return nil, fmt.Errorf("%w: %T has an empty ID", ErrRule, r)
		}
		if i, ok := index[id]; ok {
			rules[i] = r
			continue
		}
		index[id] = len(rules)
		rules = append(rules, r)
	}
	rules = slices.DeleteFunc(rules, func(r Rule) bool {
		return cfg.without[r.ID()] || (cfg.only != nil && !cfg.only[r.ID()])
	})
	return &Engine{
		cfg:       cfg,
		rules:     rules,
		incidents: map[incidentKey]*incident{},
		panicked:  map[string]*Fault{},
	}, nil
}

// Interval is how often Run evaluates.
func (e *Engine) Interval() time.Duration { return e.cfg.interval }

// Window is the sliding window snapshots should cover.
func (e *Engine) Window() time.Duration { return e.cfg.window }

// BaselinePeriod is how much history baselines should cover.
func (e *Engine) BaselinePeriod() time.Duration { return e.cfg.baseline }

// Rules returns the IDs of the rules the engine runs, in order.
func (e *Engine) Rules() []string {
	ids := make([]string, len(e.rules))
	for i, r := range e.rules {
		ids[i] = r.ID()
	}
	return ids
}

// Run evaluates the rules every interval on the snapshot source returns,
// until ctx is done. source is called on Run's goroutine; a nil snapshot
// skips the evaluation.
func (e *Engine) Run(ctx context.Context, source func(now time.Time) *Snapshot) {
	t := time.NewTicker(e.cfg.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if s := source(now); s != nil {
				e.Evaluate(ctx, s)
			}
		}
	}
}

// Evaluate runs every rule on s, advances the debounce of every incident,
// calls the handlers for the verdicts that fired or cleared, and returns
// those transitions (fired ones active, cleared ones with End set).
func (e *Engine) Evaluate(ctx context.Context, s *Snapshot) []Verdict {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	now := s.Time
	if now.IsZero() {
		now = time.Now()
	}

	active := map[string]map[string]bool{}
	e.mu.Lock()
	for k, inc := range e.incidents {
		if inc.active {
			if active[k.rule] == nil {
				active[k.rule] = map[string]bool{}
			}
			active[k.rule][k.subject] = true
		}
	}
	e.mu.Unlock()

	type found struct {
		key incidentKey
		f   Finding
	}
	var all []found
	seen := map[incidentKey]bool{}
	for _, r := range e.rules {
		id := r.ID()
		for _, f := range e.evalRule(r, s, State{active: active[id]}) {
			k := incidentKey{id, f.Subject}
			if seen[k] {
				continue // one finding per subject and rule
			}
			seen[k] = true
			all = append(all, found{k, f})
		}
	}

	var out []Verdict
	var fired []incidentKey
	e.mu.Lock()
	for _, fd := range all {
		inc := e.incidents[fd.key]
		if inc == nil {
			if len(e.incidents) >= maxIncidents {
				continue
			}
			inc = &incident{firstSeen: now}
			e.incidents[fd.key] = inc
		}
		inc.seen++
		inc.absent = 0
		inc.firstAbsent = time.Time{}
		v := fromFinding(fd.key.rule, fd.f)
		if inc.active {
			v.Start = inc.v.Start
			if len(inc.extra) > 0 {
				v.Evidence = append(slices.Clip(v.Evidence), inc.extra...)
			}
			inc.v = v
			continue
		}
		if inc.seen >= e.cfg.onset {
			inc.active = true
			v.Start = inc.firstSeen
			inc.v = v
			fired = append(fired, fd.key)
		}
	}
	for k, inc := range e.incidents {
		if seen[k] {
			continue
		}
		if !inc.active {
			delete(e.incidents, k) // a pending finding that did not persist
			continue
		}
		if inc.absent == 0 {
			inc.firstAbsent = now
		}
		inc.absent++
		inc.seen = 0
		if inc.absent >= e.cfg.clear {
			v := inc.v
			v.End = inc.firstAbsent
			delete(e.incidents, k)
			out = append(out, v)
			if e.cfg.recent > 0 {
				if len(e.recent) >= e.cfg.recent {
					e.recent = append(e.recent[:0], e.recent[1:]...)
				}
				e.recent = append(e.recent, v)
			}
		}
	}
	e.mu.Unlock()

	// Fired verdicts get the extra evidence first (outside the lock: it
	// may write files), then go out before the cleared ones.
	var fout []Verdict
	for _, k := range fired {
		e.mu.Lock()
		v := e.incidents[k].v
		e.mu.Unlock()
		var extra []Evidence
		for _, f := range e.cfg.evidence {
			extra = append(extra, e.callEvidence(ctx, f, v)...)
		}
		if len(extra) > 0 {
			v.Evidence = append(slices.Clip(v.Evidence), extra...)
			e.mu.Lock()
			if inc := e.incidents[k]; inc != nil {
				inc.extra = extra
				inc.v = v
			}
			e.mu.Unlock()
		}
		fout = append(fout, v)
	}
	out = append(fout, out...)

	for _, v := range out {
		for _, h := range e.cfg.handlers {
			e.callHandler(ctx, h, v)
		}
	}
	return out
}

func fromFinding(rule string, f Finding) Verdict {
	return Verdict{
		Rule:      rule,
		Subject:   f.Subject,
		Summary:   f.Summary,
		Action:    f.Action,
		Severity:  f.Severity,
		Evidence:  f.Evidence,
		Exemplars: f.Exemplars,
	}
}

func (e *Engine) evalRule(r Rule, s *Snapshot, st State) (fs []Finding) {
	defer func() {
		if p := recover(); p != nil {
			fs = nil
			e.reportPanic("rule "+r.ID(), p)
		}
	}()
	return r.Evaluate(s, st)
}

func (e *Engine) callHandler(ctx context.Context, h func(context.Context, Verdict), v Verdict) {
	defer func() {
		if p := recover(); p != nil {
			e.reportPanic("verdict handler", p)
		}
	}()
	h(ctx, v)
}

func (e *Engine) callEvidence(ctx context.Context, f func(context.Context, Verdict) []Evidence, v Verdict) (ev []Evidence) {
	defer func() {
		if p := recover(); p != nil {
			ev = nil
			e.reportPanic("evidence function", p)
		}
	}()
	return f(ctx, v)
}

func (e *Engine) reportPanic(what string, p any) {
	e.mu.Lock()
	f := e.panicked[what]
	first := f == nil
	if first {
		f = &Fault{What: what, Panic: fmt.Sprint(p)}
		e.panicked[what] = f
	}
	f.Count++
	e.mu.Unlock()
	if first {
		e.cfg.logger.Error("verdict: "+what+" panicked; skipped (reported once)", "panic", f.Panic)
	}
}

// Faults returns the parts of the engine's input that panicked (see
// [Fault]), sorted by What.
func (e *Engine) Faults() []Fault {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Fault, 0, len(e.panicked))
	for _, f := range e.panicked {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Fault) int { return strings.Compare(a.What, b.What) })
	return out
}

// Verdicts returns the active verdicts (oldest first) followed by the
// recently cleared ones (most recent first).
func (e *Engine) Verdicts() []Verdict {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Verdict
	for _, inc := range e.incidents {
		if inc.active {
			out = append(out, inc.v)
		}
	}
	slices.SortFunc(out, func(a, b Verdict) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		if a.Rule != b.Rule {
			if a.Rule < b.Rule {
				return -1
			}
			return 1
		}
		if a.Subject < b.Subject {
			return -1
		}
		if a.Subject > b.Subject {
			return 1
		}
		return 0
	})
	for i := len(e.recent) - 1; i >= 0; i-- {
		out = append(out, e.recent[i])
	}
	return out
}
