package sqlxprobe

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/verdict-obs/verdict/internal/semconv"
)

// registerPoolMetrics exports sql.DBStats as observable instruments, read
// at each collection (no goroutine of ours). db.client.connection.max is
// observed only while the pool has a limit (SetMaxOpenConns > 0).
func registerPoolMetrics(in *instr, db *sql.DB) (metric.Registration, error) {
	meter := semconv.Meter(in.cfg.mp, scopeName)
	var err, e error
	count, e := meter.Int64ObservableUpDownCounter(semconv.MetricDBClientConnectionCount,
		metric.WithUnit("{connection}"), metric.WithDescription("Connections in the pool by state (idle, used)."))
	err = errors.Join(err, e)
	maxOpen, e := meter.Int64ObservableUpDownCounter(semconv.MetricDBClientConnectionMax,
		metric.WithUnit("{connection}"), metric.WithDescription("The maximum number of open connections allowed; not reported while the pool has no limit."))
	err = errors.Join(err, e)
	waitCount, e := meter.Int64ObservableCounter(semconv.MetricDBClientConnectionWaitCount,
		metric.WithUnit("{request}"), metric.WithDescription("Requests that waited for a pooled connection."))
	err = errors.Join(err, e)
	waitDur, e := meter.Float64ObservableCounter(semconv.MetricDBClientConnectionWaitDuration,
		metric.WithUnit("s"), metric.WithDescription("Total time requests were blocked waiting for a pooled connection."))
	err = errors.Join(err, e)
	closed, e := meter.Int64ObservableCounter(semconv.MetricDBClientConnectionClosed,
		metric.WithUnit("{connection}"), metric.WithDescription("Connections closed by the pool, by reason."))
	err = errors.Join(err, e)
	if err != nil {
		return nil, fmt.Errorf("create pool instruments: %w", err)
	}
	pool := attribute.String(semconv.AttrDBClientConnectionPoolName, in.cfg.poolName)
	set := func(kv ...attribute.KeyValue) metric.ObserveOption {
		return metric.WithAttributeSet(attribute.NewSet(append([]attribute.KeyValue{pool}, kv...)...))
	}
	poolOnly := set()
	idle := set(attribute.String(semconv.AttrDBClientConnectionState, "idle"))
	used := set(attribute.String(semconv.AttrDBClientConnectionState, "used"))
	maxIdle := set(attribute.String(semconv.AttrDBCloseReason, "max_idle"))
	maxIdleTime := set(attribute.String(semconv.AttrDBCloseReason, "max_idle_time"))
	maxLifetime := set(attribute.String(semconv.AttrDBCloseReason, "max_lifetime"))
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := db.Stats()
		o.ObserveInt64(count, int64(s.Idle), idle)
		o.ObserveInt64(count, int64(s.InUse), used)
		// database/sql says 0 for "no limit". A limit of 0 would read as
		// "no connection allowed" and make used/max saturation divide by
		// zero; like go.memory.limit ("if a limit exists"), the metric is
		// absent while there is no limit, so a saturation query yields no
		// sample instead of +Inf or NaN.
		if s.MaxOpenConnections > 0 {
			o.ObserveInt64(maxOpen, int64(s.MaxOpenConnections), poolOnly)
		}
		o.ObserveInt64(waitCount, s.WaitCount, poolOnly)
		o.ObserveFloat64(waitDur, s.WaitDuration.Seconds(), poolOnly)
		o.ObserveInt64(closed, s.MaxIdleClosed, maxIdle)
		o.ObserveInt64(closed, s.MaxIdleTimeClosed, maxIdleTime)
		o.ObserveInt64(closed, s.MaxLifetimeClosed, maxLifetime)
		return nil
	}, count, maxOpen, waitCount, waitDur, closed)
	if err != nil {
		return nil, fmt.Errorf("register pool metrics: %w", err)
	}
	return reg, nil
}
