package judge

// Rule draws conclusions from a [Snapshot]. Built-in rules (package
// tracer/judge/rules) and user rules implement the same interface and read
// the same snapshot.
//
// Concurrency: the engine calls Evaluate from one goroutine, about once a
// second; a rule need not be safe for concurrent use but must not keep the
// snapshot's slices beyond the call. Evaluate should be quick (it runs
// beside every other rule) and must not block; a rule that panics is
// reported once and skipped for that evaluation.
type Rule interface {
	// ID is the rule's stable identifier, e.g. "db.pool_exhausted": the
	// Verdict's Rule, the metric attribute, the key that replaces or
	// disables a rule. It must not change.
	ID() string
	// Evaluate returns what the rule finds wrong now, at most one finding
	// per subject. st says which subjects already have an active verdict
	// of this rule, so that the rule can hold it with a lower (clear)
	// threshold than the one it fires at.
	Evaluate(s *Snapshot, st State) []Finding
}

// Finding is what a rule reports for one subject in one evaluation. The
// engine turns findings that persist into a [Verdict].
type Finding struct {
	// Subject is what the finding is about (a peer address, a fingerprint,
	// a pool name); empty for the whole process. The engine keeps one
	// verdict per rule and subject.
	Subject   string
	Severity  Severity
	Summary   string
	Action    string
	Evidence  []Evidence
	Exemplars []Exemplar
}

// State tells a rule which of its subjects have an active verdict.
type State struct {
	active map[string]bool
}

// Active reports whether the rule's verdict for subject is active.
func (s State) Active(subject string) bool { return s.active[subject] }

// NewState returns a State in which the given subjects are active. Rule
// tests use it; the engine builds its own.
func NewState(active ...string) State {
	m := make(map[string]bool, len(active))
	for _, a := range active {
		m[a] = true
	}
	return State{active: m}
}

// RuleFunc adapts a function to a [Rule] with the given ID.
func RuleFunc(id string, f func(s *Snapshot, st State) []Finding) Rule {
	return funcRule{id: id, f: f}
}

type funcRule struct {
	id string
	f  func(*Snapshot, State) []Finding
}

func (r funcRule) ID() string { return r.id }

func (r funcRule) Evaluate(s *Snapshot, st State) []Finding {
	if r.f == nil {
		return nil
	}
	return r.f(s, st)
}

// Threshold picks a rule's threshold with hysteresis: onset while the
// verdict is not active, clear (usually lower) while it is.
func Threshold(active bool, onset, clear float64) float64 {
	if active {
		return clear
	}
	return onset
}
