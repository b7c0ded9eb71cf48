package sqlxprobe

import (
	"context"
	"database/sql"
	"sync/atomic"

	"github.com/jmoiron/sqlx"
)

type txKey struct{}

// txState is what a context carries about an open transaction.
type txState struct {
	pool  *dbShared // identity of the pool
	depth int
	done  atomic.Bool
}

// Tx is an instrumented *sqlx.Tx from [DB.BeginTxx] or [DB.Beginx]. It has
// every method of *sqlx.Tx (and the embedded *sql.Tx) with the same
// signatures, except that Unsafe returns a *Tx; the embedded *sqlx.Tx is
// available as tx.Tx. Its operations carry db.transaction.depth.
//
// A Tx is not safe for concurrent use, as *sql.Tx is not.
type Tx struct {
	*sqlx.Tx
	db  *DB
	st  *txState
	ctx context.Context
}

// Context returns the context given to BeginTxx, marked with this open
// transaction. Pass it down: a BeginTxx (or any pool operation of the same
// DB) with this context is known to run inside the transaction, gets depth
// one more, and is reported as taking a second pooled connection (the
// classic pool deadlock) according to the DB's [NestedPolicy].
func (tx *Tx) Context() context.Context { return tx.ctx }

// Depth is the nesting depth of the transaction: 1 for a top-level one.
func (tx *Tx) Depth() int { return tx.st.depth }

// Commit commits the transaction.
func (tx *Tx) Commit() error {
	err := tx.Tx.Commit()
	tx.st.done.Store(true)
	return err
}

// Rollback aborts the transaction.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback()
	tx.st.done.Store(true)
	return err
}

// Unsafe returns a version of Tx which silently succeeds to scan when
// columns in the SQL result have no fields in the destination struct.
func (tx *Tx) Unsafe() *Tx {
	return &Tx{Tx: tx.Tx.Unsafe(), db: tx.db, st: tx.st, ctx: tx.ctx}
}

func (tx *Tx) call(ctx context.Context, kind opKind, query string) *call {
	if ctx == nil {
		ctx = bg()
	}
	c := tx.db.in.start(ctx, kind, tx.db.in.info(query), tx.st.depth)
	c.noWait = true // the transaction holds its connection
	return c
}

// ExecContext executes a query without returning rows.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	c := tx.call(ctx, opExec, query)
	res, err := tx.Tx.ExecContext(c, query, args...)
	c.finish(err)
	return res, err
}

// Exec executes a query without returning rows.
func (tx *Tx) Exec(query string, args ...any) (sql.Result, error) {
	return tx.ExecContext(bg(), query, args...)
}

// MustExecContext is ExecContext that panics on error, as sqlx's does.
func (tx *Tx) MustExecContext(ctx context.Context, query string, args ...any) sql.Result {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		panic(err)
	}
	return res
}

// MustExec is Exec that panics on error, as sqlx's does.
func (tx *Tx) MustExec(query string, args ...any) sql.Result {
	return tx.MustExecContext(bg(), query, args...)
}

// NamedExecContext executes a query with named parameters bound from arg.
func (tx *Tx) NamedExecContext(ctx context.Context, query string, arg any) (sql.Result, error) {
	c := tx.call(ctx, opExec, query)
	res, err := tx.Tx.NamedExecContext(c, query, arg)
	c.finish(err)
	return res, err
}

// NamedExec executes a query with named parameters bound from arg.
func (tx *Tx) NamedExec(query string, arg any) (sql.Result, error) {
	return tx.NamedExecContext(bg(), query, arg)
}

// QueryContext runs a query; its span ends when the rows are exhausted or
// closed.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	c := tx.call(ctx, opQuery, query)
	rows, err := tx.Tx.Tx.QueryContext(c, query, args...)
	c.after(err)
	return rows, err
}

// Query runs a query.
func (tx *Tx) Query(query string, args ...any) (*sql.Rows, error) {
	return tx.QueryContext(bg(), query, args...)
}

// QueryxContext runs a query returning *sqlx.Rows.
func (tx *Tx) QueryxContext(ctx context.Context, query string, args ...any) (*sqlx.Rows, error) {
	c := tx.call(ctx, opQuery, query)
	rows, err := tx.Tx.QueryxContext(c, query, args...)
	c.after(err)
	return rows, err
}

// Queryx runs a query returning *sqlx.Rows.
func (tx *Tx) Queryx(query string, args ...any) (*sqlx.Rows, error) {
	return tx.QueryxContext(bg(), query, args...)
}

// QueryRowContext runs a query expected to return at most one row.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	c := tx.call(ctx, opQuery, query)
	row := tx.Tx.Tx.QueryRowContext(c, query, args...)
	c.after(row.Err())
	return row
}

// QueryRow runs a query expected to return at most one row.
func (tx *Tx) QueryRow(query string, args ...any) *sql.Row {
	return tx.QueryRowContext(bg(), query, args...)
}

// QueryRowxContext runs a query expected to return at most one row.
func (tx *Tx) QueryRowxContext(ctx context.Context, query string, args ...any) *sqlx.Row {
	c := tx.call(ctx, opQuery, query)
	row := tx.Tx.QueryRowxContext(c, query, args...)
	c.after(row.Err())
	return row
}

// QueryRowx runs a query expected to return at most one row.
func (tx *Tx) QueryRowx(query string, args ...any) *sqlx.Row {
	return tx.QueryRowxContext(bg(), query, args...)
}

// NamedQuery runs a query with named parameters bound from arg.
func (tx *Tx) NamedQuery(query string, arg any) (*sqlx.Rows, error) {
	c := tx.call(bg(), opQuery, query)
	rows, err := sqlx.NamedQueryContext(c, tx.Tx, query, arg)
	c.after(err)
	return rows, err
}

// GetContext scans one row into dest.
func (tx *Tx) GetContext(ctx context.Context, dest any, query string, args ...any) error {
	c := tx.call(ctx, opQuery, query)
	err := tx.Tx.GetContext(c, dest, query, args...)
	c.after(err)
	return err
}

// Get scans one row into dest.
func (tx *Tx) Get(dest any, query string, args ...any) error {
	return tx.GetContext(bg(), dest, query, args...)
}

// SelectContext scans all rows into dest, a pointer to a slice.
func (tx *Tx) SelectContext(ctx context.Context, dest any, query string, args ...any) error {
	c := tx.call(ctx, opQuery, query)
	err := tx.Tx.SelectContext(c, dest, query, args...)
	c.after(err)
	return err
}

// Select scans all rows into dest, a pointer to a slice.
func (tx *Tx) Select(dest any, query string, args ...any) error {
	return tx.SelectContext(bg(), dest, query, args...)
}

// PrepareContext prepares a statement within the transaction.
func (tx *Tx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	c := tx.call(ctx, opPrepare, query)
	st, err := tx.Tx.Tx.PrepareContext(c, query)
	c.finish(err)
	return st, err
}

// Prepare prepares a statement within the transaction.
func (tx *Tx) Prepare(query string) (*sql.Stmt, error) { return tx.PrepareContext(bg(), query) }

// PreparexContext prepares a statement within the transaction.
func (tx *Tx) PreparexContext(ctx context.Context, query string) (*sqlx.Stmt, error) {
	c := tx.call(ctx, opPrepare, query)
	st, err := tx.Tx.PreparexContext(c, query)
	c.finish(err)
	return st, err
}

// Preparex prepares a statement within the transaction.
func (tx *Tx) Preparex(query string) (*sqlx.Stmt, error) { return tx.PreparexContext(bg(), query) }

// PrepareNamedContext prepares a statement with named parameters.
func (tx *Tx) PrepareNamedContext(ctx context.Context, query string) (*sqlx.NamedStmt, error) {
	c := tx.call(ctx, opPrepare, query)
	st, err := tx.Tx.PrepareNamedContext(c, query)
	c.finish(err)
	return st, err
}

// PrepareNamed prepares a statement with named parameters.
func (tx *Tx) PrepareNamed(query string) (*sqlx.NamedStmt, error) {
	return tx.PrepareNamedContext(bg(), query)
}
