package gcstw

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

type config struct {
	meterProvider metric.MeterProvider
	logger        *slog.Logger
	capacity      int
	interval      time.Duration
}

// Option configures a [Probe].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

const (
	defaultCapacity = 1024
	defaultInterval = 100 * time.Millisecond
	maxCapacity     = 1 << 20
)

func newConfig(opts []Option) config {
	c := config{capacity: defaultCapacity, interval: defaultInterval}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// WithMeterProvider sets the provider of the probe's metrics. Nil (or not
// using the option) means otel.GetMeterProvider().
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.meterProvider = mp
		}
		return c
	})
}

// WithLogger sets the logger for the probe's rare diagnostics (a failing
// ring-buffer drain, logged once). Nil means slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.logger = l
		}
		return c
	})
}

// WithCapacity sets how many pauses are kept in memory for attribution
// (default 1024, at most 1<<20; values < 1 are ignored). A span longer than
// the last n pauses gets only those n. Memory is 24 bytes per pause.
func WithCapacity(n int) Option {
	return optionFunc(func(c config) config {
		if n >= 1 {
			c.capacity = min(n, maxCapacity)
		}
		return c
	})
}

// WithDrainInterval sets how often the kernel ring buffer is drained when no
// span ends (default 100ms; values <= 0 are ignored).
func WithDrainInterval(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d > 0 {
			c.interval = d
		}
		return c
	})
}
