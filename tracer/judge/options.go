package judge

import (
	"context"
	"log/slog"
	"time"
)

// Defaults of the engine's options.
const (
	DefaultInterval       = time.Second
	DefaultWindow         = 5 * time.Second
	DefaultBaselinePeriod = 5 * time.Minute
	DefaultOnset          = 2
	DefaultClear          = 5
	DefaultRecent         = 64
)

// Option configures an [Engine].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

type config struct {
	interval time.Duration
	window   time.Duration
	baseline time.Duration
	onset    int
	clear    int
	recent   int
	rules    []Rule
	without  map[string]bool
	only     map[string]bool
	handlers []func(context.Context, Verdict)
	evidence []func(context.Context, Verdict) []Evidence
	logger   *slog.Logger
}

func newConfig(opts []Option) config {
	c := config{
		interval: DefaultInterval,
		window:   DefaultWindow,
		baseline: DefaultBaselinePeriod,
		onset:    DefaultOnset,
		clear:    DefaultClear,
		recent:   DefaultRecent,
	}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.window = max(c.window, c.interval)
	c.baseline = max(c.baseline, 2*c.window)
	return c
}

// WithRules adds rules. A rule whose ID equals an earlier rule's replaces
// it, so a tuned built-in ([rules] constructors with thresholds) given
// after the defaults takes their place. Nil rules are ignored.
func WithRules(rs ...Rule) Option {
	return optionFunc(func(c config) config {
		for _, r := range rs {
			if r != nil {
				c.rules = append(c.rules, r)
			}
		}
		return c
	})
}

// WithoutRules disables the rules with the given IDs.
func WithoutRules(ids ...string) Option {
	return optionFunc(func(c config) config {
		if c.without == nil {
			c.without = map[string]bool{}
		}
		for _, id := range ids {
			c.without[id] = true
		}
		return c
	})
}

// WithOnlyRules runs only the rules with the given IDs (given several
// times, the sets add up).
func WithOnlyRules(ids ...string) Option {
	return optionFunc(func(c config) config {
		if c.only == nil {
			c.only = map[string]bool{}
		}
		for _, id := range ids {
			c.only[id] = true
		}
		return c
	})
}

// WithHandler adds a function called, synchronously on the engine's
// goroutine, when a verdict fires and when it clears ([Verdict.Active]
// tells which). It must not block. Nil is ignored.
func WithHandler(h func(context.Context, Verdict)) Option {
	return optionFunc(func(c config) config {
		if h != nil {
			c.handlers = append(c.handlers, h)
		}
		return c
	})
}

// WithEvidence adds a function called when a verdict fires, before the
// handlers: the evidence it returns (e.g. a saved flight record) is added to
// the verdict for as long as it is active. It runs on the engine's
// goroutine and must not block for long. Nil is ignored.
func WithEvidence(f func(context.Context, Verdict) []Evidence) Option {
	return optionFunc(func(c config) config {
		if f != nil {
			c.evidence = append(c.evidence, f)
		}
		return c
	})
}

// WithInterval sets how often [Engine.Run] evaluates the rules (default 1
// s; at least 10 ms).
func WithInterval(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d > 0 {
			c.interval = max(d, 10*time.Millisecond)
		}
		return c
	})
}

// WithWindow sets the sliding window the snapshot's values cover (default
// 5 s; at least one interval).
func WithWindow(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d > 0 {
			c.window = d
		}
		return c
	})
}

// WithBaselinePeriod sets how much history the baselines cover (default 5
// min; at least two windows).
func WithBaselinePeriod(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d > 0 {
			c.baseline = d
		}
		return c
	})
}

// WithDebounce sets how many consecutive evaluations a finding must be
// present before its verdict fires (onset, default 2) and absent before it
// clears (clear, default 5). Values below 1 keep the default.
func WithDebounce(onset, clear int) Option {
	return optionFunc(func(c config) config {
		if onset >= 1 {
			c.onset = onset
		}
		if clear >= 1 {
			c.clear = clear
		}
		return c
	})
}

// WithRecent sets how many cleared verdicts [Engine.Verdicts] keeps
// (default 64).
func WithRecent(n int) Option {
	return optionFunc(func(c config) config {
		if n >= 0 {
			c.recent = n
		}
		return c
	})
}

// WithLogger sets where the engine reports problems of its own (a rule or
// handler that panicked). Default: discarded.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.logger = l
		}
		return c
	})
}
