package goruntime

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
)

// Defaults of the options.
const (
	DefaultSampleInterval   = time.Second
	DefaultHotspotInterval  = 30 * time.Second
	DefaultHotspotTopN      = 10
	DefaultBlockingInterval = 10 * time.Second
	DefaultBlockingTopN     = 3
	DefaultStackDumpLimit   = 1 << 20 // bytes
	DefaultLeakWindow       = 6
	DefaultLeakMinGrowth    = 5
)

// Option configures a [Probe] built by [New].
type Option interface {
	apply(config) config
}

type optionFunc func(config) config

func (f optionFunc) apply(c config) config { return f(c) }

type config struct {
	meterProvider    metric.MeterProvider
	logger           *slog.Logger
	sampleInterval   time.Duration
	hotspotInterval  time.Duration
	hotspotTopN      int
	blockingInterval time.Duration
	blockingTopN     int
	stackDumpLimit   int
	leakWindow       int
	leakMinGrowth    int

	flightRecorder bool
	flightMinAge   time.Duration
	flightMaxBytes uint64

	setBlockRate    bool
	blockRate       int
	setMutexFrac    bool
	mutexFraction   int
	gcAttribution   bool
	metricsDisabled bool
}

func newConfig(opts []Option) config {
	c := config{
		sampleInterval:   DefaultSampleInterval,
		hotspotInterval:  DefaultHotspotInterval,
		hotspotTopN:      DefaultHotspotTopN,
		blockingInterval: DefaultBlockingInterval,
		blockingTopN:     DefaultBlockingTopN,
		stackDumpLimit:   DefaultStackDumpLimit,
		leakWindow:       DefaultLeakWindow,
		leakMinGrowth:    DefaultLeakMinGrowth,
		gcAttribution:    true,
	}
	for _, o := range opts {
		if o != nil {
			c = o.apply(c)
		}
	}
	if c.meterProvider == nil {
		c.meterProvider = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// WithMeterProvider sets the MeterProvider the probe's instruments are
// created from. A nil provider is ignored; the default is the global
// provider (otel.GetMeterProvider) at the time of [New].
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c config) config {
		if mp != nil {
			c.meterProvider = mp
		}
		return c
	})
}

// WithoutMetrics turns the OpenTelemetry instruments off; the snapshot,
// hotspots, blocking analysis and span hook keep working.
func WithoutMetrics() Option {
	return optionFunc(func(c config) config {
		c.metricsDisabled = true
		return c
	})
}

// WithLogger sets the logger the probe reports through (the top allocation
// site of each hotspot analysis at Debug, newly suspected goroutine leaks
// and problems at Warn). A nil logger is ignored; the default
// discards everything.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c config) config {
		if l != nil {
			c.logger = l
		}
		return c
	})
}

// WithSampleInterval sets how often the background loop reads the runtime
// metrics to refresh [Probe.Snapshot] and its rates. Values below 10 ms are
// raised to 10 ms; zero or negative keeps the default (1 s). Metric export
// reads the runtime on its own schedule in addition.
func WithSampleInterval(d time.Duration) Option {
	return optionFunc(func(c config) config {
		if d > 0 {
			c.sampleInterval = max(d, 10*time.Millisecond)
		}
		return c
	})
}

// WithHotspots sets the interval of the allocation-hotspot analysis and how
// many allocation sites it keeps. interval 0 turns the analysis off; a
// negative interval or topN < 1 keeps the respective default (30 s, 10).
func WithHotspots(interval time.Duration, topN int) Option {
	return optionFunc(func(c config) config {
		if interval >= 0 {
			c.hotspotInterval = interval
		}
		if topN >= 1 {
			c.hotspotTopN = topN
		}
		return c
	})
}

// WithBlocking sets the interval of the goroutine-blocking analysis and how
// many blocking stacks it keeps per class. interval 0 turns the analysis off;
// a negative interval or topN < 1 keeps the respective default (10 s, 3).
//
// Each analysis takes a goroutine dump (runtime.Stack with all=true), which
// stops the world for a time proportional to the number of goroutines
// (about 1 µs per goroutine); keep the interval long in processes with very
// many goroutines.
func WithBlocking(interval time.Duration, topN int) Option {
	return optionFunc(func(c config) config {
		if interval >= 0 {
			c.blockingInterval = interval
		}
		if topN >= 1 {
			c.blockingTopN = topN
		}
		return c
	})
}

// WithStackDumpLimit caps the size of the goroutine dump buffer in bytes
// (default 1 MiB, minimum 64 KiB). Goroutines past the cap are counted in
// [Blocking.Truncated] instead of being classified.
func WithStackDumpLimit(bytes int) Option {
	return optionFunc(func(c config) config {
		if bytes > 0 {
			c.stackDumpLimit = max(bytes, 64<<10)
		}
		return c
	})
}

// WithLeakDetection sets the goroutine-leak signal: a blocking stack is a
// leak suspect when, over the last window analyses (window ≥ 3, default 6),
// the number of goroutines parked on it never decreased, rose in most
// steps, and grew by at least minGrowth (default 5) in total. Values out of
// range keep the defaults.
func WithLeakDetection(window, minGrowth int) Option {
	return optionFunc(func(c config) config {
		if window >= 3 {
			c.leakWindow = window
		}
		if minGrowth >= 1 {
			c.leakMinGrowth = minGrowth
		}
		return c
	})
}

// WithFlightRecorder keeps runtime/trace's flight recorder running while the
// probe runs so that [Probe.WriteFlightRecord] can save the last moments of
// execution. minAge and maxBytes bound the window as in
// trace.FlightRecorderConfig; zero means the runtime's defaults. Only one
// flight recorder can run in a process: if another one is active, the probe
// runs degraded without it.
func WithFlightRecorder(minAge time.Duration, maxBytes uint64) Option {
	return optionFunc(func(c config) config {
		c.flightRecorder = true
		c.flightMinAge = max(minAge, 0)
		c.flightMaxBytes = maxBytes
		return c
	})
}

// WithBlockProfileRate sets runtime.SetBlockProfileRate(rate) on Start.
// Shutdown sets it back to 0 (the runtime default: the runtime offers no way
// to read the previous rate). Without this option the rate is not touched.
func WithBlockProfileRate(rate int) Option {
	return optionFunc(func(c config) config {
		c.setBlockRate = true
		c.blockRate = rate
		return c
	})
}

// WithMutexProfileFraction sets runtime.SetMutexProfileFraction(rate) on
// Start and restores the previous fraction on Shutdown. Without this option
// the fraction is not touched.
func WithMutexProfileFraction(rate int) Option {
	return optionFunc(func(c config) config {
		if rate >= 0 {
			c.setMutexFrac = true
			c.mutexFraction = rate
		}
		return c
	})
}

// WithoutGCPauseAttribution turns the span hook into a no-op.
func WithoutGCPauseAttribution() Option {
	return optionFunc(func(c config) config {
		c.gcAttribution = false
		return c
	})
}
