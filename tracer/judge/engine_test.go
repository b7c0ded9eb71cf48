package judge_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/verdict-obs/verdict/tracer/judge"
)

// levelRule finds a problem for each subject whose level is at or above
// its threshold: onset 10, clear 7 (hysteresis as built-in rules do it).
type levelRule struct {
	id     string
	levels map[string]float64
}

func (r *levelRule) ID() string { return r.id }

func (r *levelRule) Evaluate(s *judge.Snapshot, st judge.State) []judge.Finding {
	var out []judge.Finding
	for subject, v := range r.levels {
		if v >= judge.Threshold(st.Active(subject), 10, 7) {
			out = append(out, judge.Finding{Subject: subject, Summary: subject + " is high", Severity: judge.SeverityWarning,
				Evidence: []judge.Evidence{{Signal: "level", Value: v, Threshold: 10, Source: judge.SourceSpans}}})
		}
	}
	return out
}

type recorder struct {
	mu sync.Mutex
	vs []judge.Verdict
}

func (r *recorder) handle(_ context.Context, v judge.Verdict) {
	r.mu.Lock()
	r.vs = append(r.vs, v)
	r.mu.Unlock()
}

func (r *recorder) all() []judge.Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]judge.Verdict(nil), r.vs...)
}

func step(e *judge.Engine, at time.Time) []judge.Verdict {
	return e.Evaluate(context.Background(), &judge.Snapshot{Time: at, Window: 5 * time.Second, Interval: time.Second})
}

func TestEngineDebounceFireAndClear(t *testing.T) {
	rule := &levelRule{id: "test.level", levels: map[string]float64{}}
	var rec recorder
	e, err := judge.New(judge.WithRules(rule), judge.WithHandler(rec.handle), judge.WithDebounce(2, 3))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }

	rule.levels["a"] = 12
	if out := step(e, at(0)); len(out) != 0 {
		t.Fatalf("fired after one evaluation (onset debounce 2): %v", out)
	}
	out := step(e, at(1))
	if len(out) != 1 || !out[0].Active() || out[0].Subject != "a" || !out[0].Start.Equal(at(0)) {
		t.Fatalf("second evaluation: %+v, want one active verdict for a starting at the first sighting", out)
	}
	for i := 2; i < 6; i++ {
		if out := step(e, at(i)); len(out) != 0 {
			t.Fatalf("evaluation %d while the problem persists: %v (one verdict per incident)", i, out)
		}
	}
	if vs := e.Verdicts(); len(vs) != 1 || !vs[0].Active() {
		t.Fatalf("Verdicts = %v, want the active one", vs)
	}

	delete(rule.levels, "a")
	for i := 6; i < 8; i++ {
		if out := step(e, at(i)); len(out) != 0 {
			t.Fatalf("cleared after %d absent evaluations (clear debounce 3)", i-5)
		}
	}
	out = step(e, at(8))
	if len(out) != 1 || out[0].Active() || !out[0].End.Equal(at(6)) {
		t.Fatalf("third absent evaluation: %+v, want the verdict cleared with End at the first absence", out)
	}
	got := rec.all()
	if len(got) != 2 || !got[0].Active() || got[1].Active() {
		t.Fatalf("handler saw %v, want fire then clear", got)
	}
	if vs := e.Verdicts(); len(vs) != 1 || vs[0].Active() {
		t.Fatalf("Verdicts after clearing = %v, want one recent", vs)
	}
}

// A signal that hovers around the threshold (9..11 with onset 10, clear
// 7) fires once and never flaps; a pending finding that does not persist
// never fires.
func TestEngineHoveringDoesNotFlap(t *testing.T) {
	rule := &levelRule{id: "test.level", levels: map[string]float64{}}
	var rec recorder
	e, err := judge.New(judge.WithRules(rule), judge.WithHandler(rec.handle))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	// Blips: one evaluation above, then below: never fires.
	for i := range 20 {
		rule.levels["x"] = map[bool]float64{true: 11, false: 5}[i%3 == 0]
		step(e, t0.Add(time.Duration(i)*time.Second))
	}
	if got := rec.all(); len(got) != 0 {
		t.Fatalf("single-evaluation blips fired: %v", got)
	}
	// Hovering around the onset threshold, always above the clear one.
	hover := []float64{11, 11, 9, 10.5, 8, 9.5, 11, 7.5, 9, 12, 8.5, 10}
	for i := range 120 {
		rule.levels["x"] = hover[i%len(hover)]
		step(e, t0.Add(time.Duration(100+i)*time.Second))
	}
	got := rec.all()
	if len(got) != 1 || !got[0].Active() {
		t.Fatalf("hovering signal: transitions %v, want exactly one firing", got)
	}
}

func TestEngineRuleSet(t *testing.T) {
	a := &levelRule{id: "a", levels: map[string]float64{"": 20}}
	a2 := &levelRule{id: "a", levels: map[string]float64{"replaced": 20}}
	b := &levelRule{id: "b", levels: map[string]float64{"": 20}}
	c := &levelRule{id: "c", levels: map[string]float64{"": 20}}

	e, err := judge.New(judge.WithRules(a, b, c, a2), judge.WithoutRules("b"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.Rules(), ","); got != "a,c" {
		t.Errorf("rules = %s, want a,c (a replaced in place, b removed)", got)
	}
	step(e, time.Unix(1, 0))
	out := step(e, time.Unix(2, 0))
	subjects := map[string]bool{}
	for _, v := range out {
		subjects[v.Rule+"/"+v.Subject] = true
	}
	if !subjects["a/replaced"] || subjects["a/"] || !subjects["c/"] || len(out) != 2 {
		t.Errorf("fired %v, want a (the replacement) and c", subjects)
	}

	e, err = judge.New(judge.WithRules(a, b, c), judge.WithOnlyRules("b"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(e.Rules(), ","); got != "b" {
		t.Errorf("WithOnlyRules(b): rules = %s", got)
	}

	_, err = judge.New(judge.WithRules(judge.RuleFunc("", nil)))
	if !errors.Is(err, judge.ErrRule) {
		t.Errorf("empty ID: err = %v, want ErrRule", err)
	}
}

// A rule or handler that panics is skipped; the others go on.
func TestEnginePanics(t *testing.T) {
	bad := judge.RuleFunc("bad", func(*judge.Snapshot, judge.State) []judge.Finding { panic("boom") })
	good := judge.RuleFunc("good", func(*judge.Snapshot, judge.State) []judge.Finding {
		return []judge.Finding{{Summary: "ok"}}
	})
	var rec recorder
	e, err := judge.New(judge.WithRules(bad, good), judge.WithDebounce(1, 1),
		judge.WithHandler(func(context.Context, judge.Verdict) { panic("handler") }),
		judge.WithHandler(rec.handle))
	if err != nil {
		t.Fatal(err)
	}
	out := step(e, time.Unix(1, 0))
	if len(out) != 1 || out[0].Rule != "good" {
		t.Fatalf("transitions %v, want good's", out)
	}
	if len(rec.all()) != 1 {
		t.Errorf("the second handler was not called after the first panicked")
	}
	step(e, time.Unix(2, 0))
	want := []judge.Fault{{What: "rule bad", Panic: "boom", Count: 2}, {What: "verdict handler", Panic: "handler", Count: 1}}
	if got := e.Faults(); !slices.Equal(got, want) {
		t.Errorf("Faults() = %+v, want %+v", got, want)
	}
}

// Verdicts lists active verdicts oldest first, then cleared ones most
// recent first, at most WithRecent of them.
func TestEngineVerdictsOrderAndBound(t *testing.T) {
	rule := &levelRule{id: "r", levels: map[string]float64{}}
	e, err := judge.New(judge.WithRules(rule), judge.WithDebounce(1, 1), judge.WithRecent(2))
	if err != nil {
		t.Fatal(err)
	}
	at := func(i int) time.Time { return time.Unix(int64(100+i), 0) }
	for i, s := range []string{"s1", "s2", "s3", "s4"} {
		rule.levels[s] = 20
		step(e, at(2*i))
		delete(rule.levels, s)
		step(e, at(2*i+1))
	}
	rule.levels["old"] = 20
	step(e, at(10))
	rule.levels["new"] = 20
	step(e, at(11))
	vs := e.Verdicts()
	var got []string
	for _, v := range vs {
		got = append(got, v.Subject)
	}
	if strings.Join(got, ",") != "old,new,s4,s3" {
		t.Errorf("Verdicts subjects = %v, want old,new (active) then s4,s3 (recent, bounded to 2)", got)
	}
}

func TestVerdictString(t *testing.T) {
	v := judge.Verdict{Rule: "downstream.refused", Subject: "10.0.0.7:50051", Severity: judge.SeverityCritical,
		Summary: "12 refused connects/s.", Action: "Check it.", Start: time.Unix(0, 0)}
	want := "critical downstream.refused (10.0.0.7:50051): 12 refused connects/s. Check it."
	if got := v.String(); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	v.End = time.Unix(42, 0)
	if got := v.String(); !strings.Contains(got, "cleared after 42s") {
		t.Errorf("cleared String = %q", got)
	}
}

func TestMeasure(t *testing.T) {
	m := judge.Measure{Value: 0.32, Baseline: 0.1, HasBaseline: true}
	if !m.Exceeds(3, 0.2, false) || m.Exceeds(3.5, 0, false) || m.Exceeds(2, 0.5, false) {
		t.Errorf("Exceeds wrong for %+v", m)
	}
	n := judge.Measure{Value: 0.3}
	if n.Exceeds(1, 0, false) || !n.Exceeds(1, 0.2, true) {
		t.Errorf("Exceeds without baseline wrong")
	}
	if r := (judge.Measure{Value: 1, Baseline: 0}).Ratio(0.5); r != 2 {
		t.Errorf("Ratio with floor = %v, want 2", r)
	}
}

// WithEvidence adds evidence once, on firing; it stays while the verdict
// is active and reaches the handlers.
func TestEngineExtraEvidence(t *testing.T) {
	rule := &levelRule{id: "r", levels: map[string]float64{"s": 20}}
	calls := 0
	var rec recorder
	e, err := judge.New(judge.WithRules(rule), judge.WithDebounce(1, 1), judge.WithHandler(rec.handle),
		judge.WithEvidence(func(_ context.Context, v judge.Verdict) []judge.Evidence {
			calls++
			return []judge.Evidence{{Signal: "flight_record", Source: judge.SourceRuntime, Detail: "/tmp/x.trace"}}
		}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		step(e, time.Unix(int64(i), 0))
	}
	if calls != 1 {
		t.Errorf("evidence function called %d times, want once (on firing)", calls)
	}
	has := func(v judge.Verdict) bool {
		for _, ev := range v.Evidence {
			if ev.Signal == "flight_record" {
				return true
			}
		}
		return false
	}
	if got := rec.all(); len(got) != 1 || !has(got[0]) {
		t.Errorf("handler got %v, want the verdict with the extra evidence", got)
	}
	if vs := e.Verdicts(); len(vs) != 1 || !has(vs[0]) || len(vs[0].Evidence) != 2 {
		t.Errorf("active verdict after refreshes: %+v", vs)
	}
}
