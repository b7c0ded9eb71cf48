package tracertest

import (
	"flag"
	"time"

	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge"
)

// Flags of the test binary (see the package documentation).
var (
	flagOut    = flag.String("verdict.out", "", "tracertest: directory for the execution traces of verdicts that fire (default: the test's ArtifactDir)")
	flagFlight = flag.Bool("verdict.flight", false, "tracertest: run the flight recorder in every test that calls tracertest.Start")
)

// Defaults of the judge in a test.
const (
	// DefaultInterval is how often a test's judge evaluates its rules.
	DefaultInterval = 250 * time.Millisecond
	// DefaultLeakGrace is how long the leak check waits for goroutines
	// that are still exiting.
	DefaultLeakGrace = time.Second
	// DefaultMaxSpans is how many ended spans a test keeps (the most
	// recent) for Spans and the example traces.
	DefaultMaxSpans = 10000
)

// Option configures [Start].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	allow      map[string]bool
	expect     []string
	rules      []judge.Rule
	tracerOpts []tracer.Option
	flight     bool
	leakCheck  bool
	leakGrace  time.Duration
	ignore     []string
	maxSpans   int
}

func newConfig(opts []Option) config {
	c := config{
		allow:     map[string]bool{},
		leakCheck: true,
		leakGrace: DefaultLeakGrace,
		maxSpans:  DefaultMaxSpans,
		flight:    *flagFlight,
		// verdict's process-wide pool sampler runs while any
		// instrumented pool is open in the process, whichever test opened
		// the first: it is no test's leak (database/sql's own goroutines
		// still show a pool left open).
		ignore: []string{"github.com/verdict-obs/verdict/internal/poolreg.loop"},
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// AllowRules lets verdicts of the given rules fire without failing the
// test; they are logged (t.Log) instead. Allowing goroutine.leak turns the
// leak check's failures into log lines too.
func AllowRules(ids ...string) Option {
	return optionFunc(func(c *config) {
		for _, id := range ids {
			c.allow[id] = true
		}
	})
}

// ExpectVerdict asserts that a verdict of rule id (e.g.
// "db.pool_exhausted") fires during the test: the test fails if none did,
// and such a verdict is not a failure. For tests of failure handling.
func ExpectVerdict(id string) Option {
	return optionFunc(func(c *config) {
		if id != "" {
			c.expect = append(c.expect, id)
		}
	})
}

// WithRule adds a rule, written against judge.Snapshot like the built-in
// ones. A rule whose ID equals a built-in's replaces it: pass a copy with
// other thresholds to tighten or relax a built-in for the test, e.g.
//
//	r := rules.NewPoolExhausted()
//	r.MinCount = 3 // a short test runs few queries
//	tracertest.Start(t, tracertest.WithRule(r))
//
// Nil is ignored.
func WithRule(r judge.Rule) Option {
	return optionFunc(func(c *config) {
		if r != nil {
			c.rules = append(c.rules, r)
		}
	})
}

// WithTracerOptions passes options to the test's tracer after the
// helper's own, so they win: tracer.WithEBPF(tracer.EBPFAuto) for kernel
// time on the spans (root only), tracer.WithJudgeOptions for another
// evaluation interval or window, tracer.WithRuntimeOptions, ... Options
// that would make the tracer global or export elsewhere defeat the helper.
func WithTracerOptions(opts ...tracer.Option) Option {
	return optionFunc(func(c *config) {
		c.tracerOpts = append(c.tracerOpts, opts...)
	})
}

// WithFlightRecorder runs the runtime's flight recorder (shared by the
// tests that ask for it) while the test runs; a verdict that fires saves
// the last seconds of execution trace under -verdict.out or the test's
// ArtifactDir, and the failure message names the file for `go tool trace`.
// The flag -verdict.flight turns it on for every test.
func WithFlightRecorder() Option {
	return optionFunc(func(c *config) { c.flight = true })
}

// WithLeakGrace sets how long the leak check waits for goroutines that
// are still exiting before it calls them leaked (default 1 s; a test
// without leaks does not wait).
func WithLeakGrace(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d >= 0 {
			c.leakGrace = d
		}
	})
}

// IgnoreGoroutines leaves goroutines whose stack contains one of the
// functions (full names, e.g. "net/http.(*persistConn).readLoop") out of
// the leak check.
func IgnoreGoroutines(funcs ...string) Option {
	return optionFunc(func(c *config) { c.ignore = append(c.ignore, funcs...) })
}

// WithoutLeakCheck turns the goroutine-leak check off.
func WithoutLeakCheck() Option {
	return optionFunc(func(c *config) { c.leakCheck = false })
}

// WithMaxSpans sets how many ended spans the test keeps (default 10,000,
// the most recent).
func WithMaxSpans(n int) Option {
	return optionFunc(func(c *config) {
		if n > 0 {
			c.maxSpans = n
		}
	})
}
