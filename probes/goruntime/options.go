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
	goroutineDump    bool
	leakWindow       int
	leakMinGrowth    int
	goroutineLabel   string // labelPattern, "" for every goroutine

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
// Each analysis reads the concurrent goroutine profile (runtime.GoroutineProfile,
// pprof's goroutine profile): the runtime stops the world twice, for a
// short time that does not grow with the number of goroutines (tens of
// microseconds here, most of it the time to stop), and records the stacks
// while the world runs. The class of each parked goroutine is read from
// its stack. See [WithGoroutineDump] for the runtime's wait reasons at the
// price of a longer stop. An analysis also runs early, at most once a
// second, when the number of goroutines rose by 20 and by a tenth since the
// last one: the stacks a surge parks on are then known within a second.
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

// WithGoroutineDump makes the blocking analysis take a full goroutine
// dump (runtime.Stack with all=true) instead of the concurrent profile:
// the classes then come from the runtime's own wait reasons ("chan
// receive", "select", ...), but the world stays stopped while every
// goroutine's stack is formatted, about 1 µs per goroutine (measured here:
// 10,000 goroutines stopped the world ~8-15 ms per analysis, against the
// profile's two short stops); the dump is bounded by WithStackDumpLimit,
// and so is the pause. Off by default.
func WithGoroutineDump() Option {
	return optionFunc(func(c config) config {
		c.goroutineDump = true
		return c
	})
}

// WithStackDumpLimit caps the memory of one blocking analysis in bytes
// (default 1 MiB, minimum 64 KiB): 64 bytes per goroutine of the profile
// (at least 1024 goroutines), or the dump buffer with [WithGoroutineDump].
// Past the cap the analysis sets [Blocking.Truncated]: a profile then
// classifies nothing (the runtime gives all of it or none), a dump
// classifies the goroutines that fit.
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
// steps, and grew by at least minGrowth (default 5) in total. Stacks parked
// on a socket read (class network) are never suspects: they are
// connections, whose number follows the peers. Values out of range keep
// the defaults.
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

// WithGoroutineLabel restricts the goroutine-blocking analyses (periodic
// and the leak checks of [Probe.CheckLeaks]) to the goroutines that carry
// the pprof label key=value, set with pprof.Do or pprof.SetGoroutineLabels
// and inherited by every goroutine a labelled goroutine starts: a test
// helper labels a test's goroutine to see only what the test started. Each
// analysis then also reads the goroutine profile (stopping the world once
// more, briefly). An empty key keeps every goroutine.
func WithGoroutineLabel(key, value string) Option {
	return optionFunc(func(c config) config {
		c.goroutineLabel = ""
		if key != "" {
			c.goroutineLabel = labelPattern(key, value)
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
