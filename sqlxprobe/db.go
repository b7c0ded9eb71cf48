package sqlxprobe

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/poolreg"
	"github.com/verdict-obs/verdict/internal/semconv"
)

// ErrNestedConnection is wrapped by the error returned, under
// [NestedError], for an operation that would take a second pooled
// connection while its context carries an open transaction of the same
// pool.
var ErrNestedConnection = errors.New("second pooled connection inside an open transaction")

// DB is an instrumented *sqlx.DB. It has every method of *sqlx.DB (and of
// the embedded *sql.DB) with the same signatures, except that Beginx,
// BeginTxx, MustBegin and MustBeginTx return this package's [Tx], and
// Unsafe returns a *DB.
//
// Operations through DB and [Tx] get a client span that starts at the call
// (so it includes the wait for a pooled connection), the pool wait as
// db.client.connection.wait_time, rows as db.response.returned_rows, and
// the metrics db.client.operation.duration and
// db.client.connection.wait_time. Statements from Prepare and operations
// on a connection from Conn/Connx get spans from the driver layer, without
// pool wait.
//
// DB is safe for concurrent use, as *sqlx.DB is.
type DB struct {
	*sqlx.DB
	in     *instr
	shared *dbShared
}

type dbShared struct {
	reg        metric.Registration
	pool       *poolStats
	unregister func() // from internal/poolreg
	once       sync.Once
	err        error
}

// Open opens an instrumented pool for a registered database/sql driver,
// like sqlx.Open. It does not connect; see [Connect].
func Open(driverName, dataSourceName string, opts ...Option) (*DB, error) {
	probe, err := sql.Open(driverName, dataSourceName)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", driverName, err)
	}
	drv := probe.Driver()
	_ = probe.Close() // never connected: only used to look the driver up
	var c driver.Connector
	if dc, ok := drv.(driver.DriverContext); ok {
		if c, err = dc.OpenConnector(dataSourceName); err != nil {
			return nil, fmt.Errorf("open %s connector: %w", driverName, err)
		}
	} else {
		c = dsnConnector{dsn: dataSourceName, drv: drv}
	}
	return newDB(c, driverName, dataSourceName, opts)
}

// Connect opens an instrumented pool and verifies it with a ping, like
// sqlx.Connect. On a failed ping the pool is closed.
func Connect(driverName, dataSourceName string, opts ...Option) (*DB, error) {
	return ConnectContext(context.Background(), driverName, dataSourceName, opts...)
}

// ConnectContext is [Connect] with a context for the ping.
func ConnectContext(ctx context.Context, driverName, dataSourceName string, opts ...Option) (*DB, error) {
	db, err := Open(driverName, dataSourceName, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect %s: %w", driverName, err)
	}
	return db, nil
}

// NewDB returns an instrumented pool over a driver.Connector (for drivers
// configured in code, e.g. pgx's stdlib.GetConnector or mysql.NewConnector).
// driverName selects sqlx's bind type and db.system.name ("postgres",
// "pgx", "mysql", "sqlite", …); server.address is not known from a
// connector, set it with [WithServerAddress].
func NewDB(c driver.Connector, driverName string, opts ...Option) (*DB, error) {
	if c == nil {
		return nil, errors.New("new db: nil connector")
	}
	return newDB(c, driverName, "", opts)
}

func newDB(c driver.Connector, driverName, dsn string, opts []Option) (*DB, error) {
	in, err := newInstr(driverName, dsn, opts)
	if err != nil {
		return nil, err
	}
	sqldb := sql.OpenDB(&connector{inner: c, in: in})
	db := &DB{DB: sqlx.NewDb(sqldb, driverName), in: in, shared: &dbShared{}}
	reg, err := registerPoolMetrics(in, sqldb)
	if err != nil {
		_ = sqldb.Close()
		return nil, err
	}
	db.shared.reg = reg
	db.shared.pool = newPoolStats(sqldb, in.cfg.poolName, in.cfg.system)
	db.shared.unregister = poolreg.Register(db.shared.pool)
	return db, nil
}

// Close unregisters the pool metrics, removes the pool from the list
// tracer.Pools reads, and closes the pool. It is idempotent: later calls
// return the first result.
func (db *DB) Close() error {
	db.shared.once.Do(func() {
		db.shared.unregister()
		var err error
		if db.shared.reg != nil {
			err = db.shared.reg.Unregister()
		}
		db.shared.err = errors.Join(err, db.DB.Close())
	})
	return db.shared.err
}

// Unsafe returns a version of DB which silently succeeds to scan when
// columns in the SQL result have no fields in the destination struct.
func (db *DB) Unsafe() *DB {
	return &DB{DB: db.DB.Unsafe(), in: db.in, shared: db.shared}
}

// call starts an operation on the pool. If ctx carries an open transaction
// of this pool, the operation takes a second connection: it is reported
// (and refused under NestedError).
func (db *DB) call(ctx context.Context, kind opKind, qi *queryInfo) (*call, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	parent := db.txFrom(ctx)
	depth := 0
	if parent != nil {
		depth = parent.depth
		if kind == opBegin {
			depth++
		}
	} else if kind == opBegin {
		depth = 1
	}
	c := db.in.start(ctx, kind, qi, depth)
	if parent != nil {
		if err := db.nested(c, parent); err != nil {
			c.finish(err)
			return nil, err
		}
	}
	return c, nil
}

func (db *DB) txFrom(ctx context.Context) *txState {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil || st.pool != db.shared || st.done.Load() {
		return nil
	}
	return st
}

// nested reports an operation that takes a second connection inside an
// open transaction.
func (db *DB) nested(c *call, parent *txState) error {
	in := db.in
	stats := db.DB.Stats()
	op := c.info.shape.operation
	c.span.AddEvent(semconv.EventDBNestedConnection, trace.WithAttributes(
		attribute.Int(semconv.AttrDBTransactionParentDepth, parent.depth),
		attribute.String(semconv.AttrDBOperationName, op),
		attribute.Int(semconv.AttrDBPoolInUse, stats.InUse),
		attribute.Int(semconv.AttrDBPoolMaxOpen, stats.MaxOpenConnections),
	))
	in.nestedCtr.Add(c.parent, 1, in.baseAdd...)
	now := time.Now().UnixNano()
	last := in.lastNestedLog.Load()
	if now-last >= int64(time.Second) && in.lastNestedLog.CompareAndSwap(last, now) {
		attrs := []slog.Attr{
			slog.String(semconv.AttrDBOperationName, op),
			slog.String("fingerprint", c.info.fingerprint),
			slog.Int("parent_depth", parent.depth),
			slog.Int("in_use", stats.InUse),
			slog.Int("max_open", stats.MaxOpenConnections),
		}
		if sc := c.span.SpanContext(); sc.HasTraceID() {
			attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
		}
		in.cfg.logger.LogAttrs(c.parent, slog.LevelWarn,
			"sqlxprobe: operation takes a second pooled connection inside an open transaction; run it on the Tx (this deadlocks once the pool is exhausted)",
			attrs...)
	}
	if in.cfg.nested == NestedError {
		return fmt.Errorf("%s (depth %d): %w", op, parent.depth, ErrNestedConnection)
	}
	return nil
}

func bg() context.Context { return context.Background() }

// ExecContext executes a query without returning rows.
func (db *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c, err := db.call(ctx, opExec, db.in.info(query))
	if err != nil {
		return nil, err
	}
	res, err := db.DB.ExecContext(c, query, args...)
	c.finish(err)
	return res, err
}

// Exec executes a query without returning rows.
func (db *DB) Exec(query string, args ...any) (sql.Result, error) {
	return db.ExecContext(bg(), query, args...)
}

// MustExecContext is ExecContext that panics on error, as sqlx's does.
func (db *DB) MustExecContext(ctx context.Context, query string, args ...any) sql.Result {
	res, err := db.ExecContext(ctx, query, args...)
	if err != nil {
		panic(err)
	}
	return res
}

// MustExec is Exec that panics on error, as sqlx's does.
func (db *DB) MustExec(query string, args ...any) sql.Result {
	return db.MustExecContext(bg(), query, args...)
}

// NamedExecContext executes a query with named parameters bound from arg.
func (db *DB) NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error) {
	c, err := db.call(ctx, opExec, db.in.info(query))
	if err != nil {
		return nil, err
	}
	res, err := db.DB.NamedExecContext(c, query, arg)
	c.finish(err)
	return res, err
}

// NamedExec executes a query with named parameters bound from arg.
func (db *DB) NamedExec(query string, arg any) (sql.Result, error) {
	return db.NamedExecContext(bg(), query, arg)
}

// QueryContext runs a query; its span ends when the rows are exhausted or
// closed.
func (db *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		return nil, err
	}
	rows, err := db.DB.DB.QueryContext(c, query, args...)
	c.after(err)
	return rows, err
}

// Query runs a query; see QueryContext.
func (db *DB) Query(query string, args ...any) (*sql.Rows, error) {
	return db.QueryContext(bg(), query, args...)
}

// QueryxContext runs a query returning *sqlx.Rows; its span ends when the
// rows are exhausted or closed.
func (db *DB) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		return nil, err
	}
	rows, err := db.DB.QueryxContext(c, query, args...)
	c.after(err)
	return rows, err
}

// Queryx runs a query returning *sqlx.Rows.
func (db *DB) Queryx(query string, args ...any) (*sqlx.Rows, error) {
	return db.QueryxContext(bg(), query, args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (db *DB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		// *sql.Row cannot carry an error from outside database/sql: run
		// the query with a context cancelled with the refusal as cause, so
		// Scan fails (with context.Canceled) without touching the pool.
		cctx, cancel := context.WithCancelCause(ctx)
		cancel(err)
		return db.DB.DB.QueryRowContext(cctx, query, args...)
	}
	row := db.DB.DB.QueryRowContext(c, query, args...)
	c.after(row.Err())
	return row
}

// QueryRow runs a query expected to return at most one row.
func (db *DB) QueryRow(query string, args ...any) *sql.Row {
	return db.QueryRowContext(bg(), query, args...)
}

// QueryRowxContext runs a query expected to return at most one row.
func (db *DB) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		cctx, cancel := context.WithCancelCause(ctx)
		cancel(err)
		return db.DB.QueryRowxContext(cctx, query, args...)
	}
	row := db.DB.QueryRowxContext(c, query, args...)
	c.after(row.Err())
	return row
}

// QueryRowx runs a query expected to return at most one row.
func (db *DB) QueryRowx(query string, args ...any) *sqlx.Row {
	return db.QueryRowxContext(bg(), query, args...)
}

// NamedQueryContext runs a query with named parameters bound from arg.
func (db *DB) NamedQueryContext(ctx context.Context, query string, arg any) (*sqlx.Rows, error) {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		return nil, err
	}
	rows, err := db.DB.NamedQueryContext(c, query, arg)
	c.after(err)
	return rows, err
}

// NamedQuery runs a query with named parameters bound from arg.
func (db *DB) NamedQuery(query string, arg any) (*sqlx.Rows, error) {
	return db.NamedQueryContext(bg(), query, arg)
}

// GetContext scans one row into dest.
func (db *DB) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		return err
	}
	err = db.DB.GetContext(c, dest, query, args...)
	c.after(err)
	return err
}

// Get scans one row into dest.
func (db *DB) Get(dest any, query string, args ...any) error {
	return db.GetContext(bg(), dest, query, args...)
}

// SelectContext scans all rows into dest, a pointer to a slice.
func (db *DB) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	c, err := db.call(ctx, opQuery, db.in.info(query))
	if err != nil {
		return err
	}
	err = db.DB.SelectContext(c, dest, query, args...)
	c.after(err)
	return err
}

// Select scans all rows into dest, a pointer to a slice.
func (db *DB) Select(dest any, query string, args ...any) error {
	return db.SelectContext(bg(), dest, query, args...)
}

// PrepareContext prepares a statement; its executions get spans from the
// driver layer.
func (db *DB) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	c, err := db.call(ctx, opPrepare, db.in.info(query))
	if err != nil {
		return nil, err
	}
	st, err := db.DB.DB.PrepareContext(c, query)
	c.finish(err)
	return st, err
}

// Prepare prepares a statement.
func (db *DB) Prepare(query string) (*sql.Stmt, error) { return db.PrepareContext(bg(), query) }

// PreparexContext prepares a statement returning *sqlx.Stmt.
func (db *DB) PreparexContext(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c, err := db.call(ctx, opPrepare, db.in.info(query))
	if err != nil {
		return nil, err
	}
	st, err := db.DB.PreparexContext(c, query)
	c.finish(err)
	return st, err
}

// Preparex prepares a statement returning *sqlx.Stmt.
func (db *DB) Preparex(query string) (*sqlx.Stmt, error) { return db.PreparexContext(bg(), query) }

// PrepareNamedContext prepares a statement with named parameters.
func (db *DB) PrepareNamedContext(ctx context.Context, query string) (*sqlx.NamedStmt, error) {
	c, err := db.call(ctx, opPrepare, db.in.info(query))
	if err != nil {
		return nil, err
	}
	st, err := db.DB.PrepareNamedContext(c, query)
	c.finish(err)
	return st, err
}

// PrepareNamed prepares a statement with named parameters.
func (db *DB) PrepareNamed(query string) (*sqlx.NamedStmt, error) {
	return db.PrepareNamedContext(bg(), query)
}

// PingContext verifies a connection to the database is still alive.
func (db *DB) PingContext(ctx context.Context) error {
	c, err := db.call(ctx, opPing, db.in.opInfo("PING"))
	if err != nil {
		return err
	}
	err = db.DB.PingContext(c)
	c.finish(err)
	return err
}

// Ping verifies a connection to the database is still alive.
func (db *DB) Ping() error { return db.PingContext(bg()) }

// BeginTx starts a transaction returning *sql.Tx. Begin, Commit and
// Rollback get spans; statements run on a *sql.Tx get driver-level spans
// without depth (use BeginTxx for depth tracking through the context).
func (db *DB) BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error) {
	c, err := db.call(ctx, opBegin, db.in.opInfo("BEGIN"))
	if err != nil {
		return nil, err
	}
	tx, err := db.DB.DB.BeginTx(c, opts)
	c.finish(err)
	return tx, err
}

// Begin starts a transaction returning *sql.Tx.
func (db *DB) Begin() (*sql.Tx, error) { return db.BeginTx(bg(), nil) }

// BeginTxx starts a transaction. The returned [Tx] knows its depth: 1, or
// one more than the open transaction carried by ctx (see [Tx.Context]).
// A BeginTxx whose ctx carries an open transaction of this pool takes a
// second pooled connection and is reported (see [NestedPolicy]).
func (db *DB) BeginTxx(ctx context.Context, opts *sql.TxOptions) (*Tx, error) {
	if ctx == nil {
		ctx = bg()
	}
	c, err := db.call(ctx, opBegin, db.in.opInfo("BEGIN"))
	if err != nil {
		return nil, err
	}
	stx, err := db.DB.BeginTxx(c, opts)
	c.finish(err)
	if err != nil {
		return nil, err
	}
	st := &txState{pool: db.shared, depth: c.depth}
	return &Tx{Tx: stx, db: db, st: st, ctx: context.WithValue(ctx, txKey{}, st)}, nil
}

// Beginx starts a transaction.
func (db *DB) Beginx() (*Tx, error) { return db.BeginTxx(bg(), nil) }

// MustBeginTx is BeginTxx that panics on error, as sqlx's does.
func (db *DB) MustBeginTx(ctx context.Context, opts *sql.TxOptions) *Tx {
	tx, err := db.BeginTxx(ctx, opts)
	if err != nil {
		panic(err)
	}
	return tx
}

// MustBegin is Beginx that panics on error, as sqlx's does.
func (db *DB) MustBegin() *Tx { return db.MustBeginTx(bg(), nil) }
