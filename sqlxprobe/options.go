package sqlxprobe

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// CommentMode selects what the sqlcommenter appends to statements.
type CommentMode int

const (
	// CommentOff leaves every statement unchanged (the default).
	CommentOff CommentMode = iota
	// CommentTraceparent appends /*traceparent='00-…-…-..'*/.
	CommentTraceparent
	// CommentFull appends traceparent, tracestate (when set), db_driver
	// and the tags given with [WithCommentTags].
	CommentFull
)

// NestedPolicy says what happens when an operation would take a second
// pooled connection while its context carries an open transaction of the
// same pool (see [Tx.Context]).
type NestedPolicy int

const (
	// NestedReport lets the operation proceed and reports it: a span event
	// verdict.db.nested_connection, the counter
	// verdict.db.client.nested_connection and a Warn record on the logger
	// (at most one per second per DB). This is the default.
	NestedReport NestedPolicy = iota
	// NestedError refuses the operation with an error wrapping
	// [ErrNestedConnection], before it touches the pool, and reports it as
	// NestedReport does.
	NestedError
)

// Option configures a [DB]. Nil options are ignored.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	tp             trace.TracerProvider
	mp             metric.MeterProvider
	logger         *slog.Logger
	slow           time.Duration
	system         string
	serverAddr     string
	serverPort     int
	poolName       string
	comment        CommentMode
	commentTags    map[string]string
	preparedSafe   bool
	topN           int
	nested         NestedPolicy
	queryCacheSize int
	dialect        Dialect // fingerprint dialect (dialect.go)
	dialectSet     bool
}

func newConfig(driverName, dsn string, opts []Option) config {
	c := config{
		topN:           100,
		queryCacheSize: 4096,
	}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if c.system == "" {
		c.system = systemFromDriver(driverName)
	}
	if !c.dialectSet {
		c.dialect = DialectForDriver(driverName)
	}
	if c.serverAddr == "" {
		c.serverAddr, c.serverPort = serverFromDSN(dsn)
	}
	if c.poolName == "" {
		c.poolName = c.system
		if c.serverAddr != "" {
			c.poolName += "://" + c.serverAddr
		}
	}
	if c.topN < 0 {
		c.topN = 0
	}
	return c
}

// WithTracerProvider sets the tracer provider; the default is the global
// one (otel.GetTracerProvider) at construction time.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// WithMeterProvider sets the meter provider; the default is the global one
// (otel.GetMeterProvider) at construction time.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithLogger sets the logger for slow queries and nested-connection
// warnings; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		if l != nil {
			c.logger = l
		}
	})
}

// WithSlowQueryThreshold logs every operation that takes at least d (from
// the call, including pool wait, to the end of row iteration) as a Warn
// record "slow query" with the fingerprint, duration, wait, rows and
// trace_id. Zero (the default) disables the slow-query log.
func WithSlowQueryThreshold(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d >= 0 {
			c.slow = d
		}
	})
}

// WithDBSystem sets db.system.name (e.g. "postgresql", "mysql", "sqlite");
// by default it is derived from the driver name.
func WithDBSystem(name string) Option {
	return optionFunc(func(c *config) { c.system = name })
}

// WithServerAddress sets server.address and server.port (0 omits the
// port); by default they are parsed from the data source name.
func WithServerAddress(host string, port int) Option {
	return optionFunc(func(c *config) { c.serverAddr, c.serverPort = host, port })
}

// WithPoolName sets db.client.connection.pool.name on the pool metrics and
// the spans (the judge tells pools apart by it);
// the default is "<system>://<server.address>".
func WithPoolName(name string) Option {
	return optionFunc(func(c *config) { c.poolName = name })
}

// WithCommenter sets the sqlcommenter mode (default [CommentOff]).
// Statements that already contain a comment, or end inside an open quote,
// are never changed.
func WithCommenter(mode CommentMode) Option {
	return optionFunc(func(c *config) { c.comment = mode })
}

// WithCommentTags adds static key/value tags (e.g. "application",
// "framework") to the comment in [CommentFull] mode. The map is copied.
func WithCommentTags(tags map[string]string) Option {
	return optionFunc(func(c *config) {
		c.commentTags = make(map[string]string, len(tags))
		for k, v := range tags {
			c.commentTags[k] = v
		}
	})
}

// WithPreparedStatementSafe leaves unchanged every statement that will be
// prepared: explicit Prepare calls and queries with arguments (which
// drivers such as pgx cache and MySQL prepare server-side), so that a
// per-call comment does not defeat statement caches. Only argument-free
// statements then carry the comment.
func WithPreparedStatementSafe(on bool) Option {
	return optionFunc(func(c *config) { c.preparedSafe = on })
}

// WithQuerySummarySeries sets how many query summaries ("SELECT orders")
// keep their own db.client.operation.duration series (default 100); the
// others share one series with db.query.summary "_OTHER". The most
// frequent summaries win their own series over time. Zero folds all into
// "_OTHER". Metrics never carry db.query.text: the fingerprint is on the
// span only.
func WithQuerySummarySeries(n int) Option {
	return optionFunc(func(c *config) { c.topN = n })
}

// WithNestedPolicy sets what happens on an operation that takes a second
// connection inside an open transaction (default [NestedReport]).
func WithNestedPolicy(p NestedPolicy) Option {
	return optionFunc(func(c *config) { c.nested = p })
}
