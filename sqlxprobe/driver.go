package sqlxprobe

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"reflect"
	"time"
)

// The driver layer wraps a driver.Connector. It does not start spans for
// operations that come through DB and Tx (those start in the call, before
// the pool hands out a connection); it marks the moment a connection is
// handed to the call (Connect, ResetSession or the first driver operation,
// whichever comes first), adds the sqlcommenter comment, counts rows and
// ends the call when its rows are exhausted or closed. Statement
// executions and operations on a raw *sql.Conn, which bypass DB and Tx,
// get their span here (without pool wait, which is not observable there).

type connector struct {
	inner driver.Connector
	in    *instr
}

// Connect opens a new connection. database/sql calls it with the caller's
// context only when the pool has room for one more: the wait for the pool
// ends here, and the connection's set-up (dial, TLS, authentication) is the
// call's own time on the wire, not pool wait.
func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
	}
	ci, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &conn{inner: ci, in: c.in}, nil
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

// Close closes the wrapped connector if it is an io.Closer (sql.DB.Close
// calls it).
func (c *connector) Close() error {
	if cl, ok := c.inner.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

// dsnConnector adapts a driver without driver.DriverContext.
type dsnConnector struct {
	dsn string
	drv driver.Driver
}

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c dsnConnector) Driver() driver.Driver                        { return c.drv }

type conn struct {
	inner driver.Conn
	in    *instr
}

var (
	_ driver.Conn               = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) Close() error { return c.inner.Close() }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	q := query
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
		if !c.in.cfg.preparedSafe {
			q = c.in.comment(query, cl.span.SpanContext())
		}
	}
	var (
		st  driver.Stmt
		err error
	)
	if pc, ok := c.inner.(driver.ConnPrepareContext); ok {
		st, err = pc.PrepareContext(ctx, q)
	} else {
		st, err = c.inner.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	return &stmt{inner: st, in: c.in, query: query}, nil
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	parent, depth := ctx, 0
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
		parent, depth = cl.parent, cl.depth
	}
	var (
		tx  driver.Tx
		err error
	)
	if bt, ok := c.inner.(driver.ConnBeginTx); ok {
		tx, err = bt.BeginTx(ctx, opts)
	} else if opts.Isolation != 0 {
		err = errors.New("sqlxprobe: driver does not support non-default isolation level")
	} else if opts.ReadOnly {
		err = errors.New("sqlxprobe: driver does not support read-only transactions")
	} else {
		tx, err = c.inner.Begin() //nolint:staticcheck // legacy driver
	}
	if err != nil {
		return nil, err
	}
	return &txW{inner: tx, in: c.in, parent: parent, depth: depth}, nil
}

// txW gives Commit and Rollback their spans, whichever API began the
// transaction; they are children of the span that was current at Begin.
type txW struct {
	inner  driver.Tx
	in     *instr
	parent context.Context
	depth  int
}

func (t *txW) Commit() error {
	cl := t.in.start(t.parent, opCommit, t.in.opInfo("COMMIT"), t.depth)
	err := t.inner.Commit()
	cl.finish(err)
	return err
}

func (t *txW) Rollback() error {
	cl := t.in.start(t.parent, opRollback, t.in.opInfo("ROLLBACK"), t.depth)
	err := t.inner.Rollback()
	cl.finish(err)
	return err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	run := c.queryFunc()
	if run == nil {
		return nil, driver.ErrSkip
	}
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
		q := query
		if !(c.in.cfg.preparedSafe && len(args) > 0) {
			q = c.in.comment(query, cl.span.SpanContext())
		}
		rows, err := run(ctx, q, args)
		if err != nil {
			return nil, err // the call's owner ends it; ErrSkip is not an error
		}
		return cl.wrapRows(rows), nil
	}
	// Not through DB/Tx (e.g. a raw *sql.Conn): span from here, started only
	// once the driver did not answer ErrSkip.
	t0 := time.Now()
	rows, err := run(ctx, query, args)
	if errors.Is(err, driver.ErrSkip) {
		return nil, err
	}
	cl := c.in.startAt(ctx, opQuery, c.in.info(query), 0, t0)
	if err != nil {
		cl.finish(err)
		return nil, err
	}
	return cl.wrapRows(rows), nil
}

func (c *conn) queryFunc() func(context.Context, string, []driver.NamedValue) (driver.Rows, error) {
	if qc, ok := c.inner.(driver.QueryerContext); ok {
		return qc.QueryContext
	}
	if q, ok := c.inner.(driver.Queryer); ok { //nolint:staticcheck // legacy driver
		return func(_ context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
			vals, err := namedToValues(args)
			if err != nil {
				return nil, err
			}
			return q.Query(query, vals)
		}
	}
	return nil
}

func (c *conn) execFunc() func(context.Context, string, []driver.NamedValue) (driver.Result, error) {
	if ec, ok := c.inner.(driver.ExecerContext); ok {
		return ec.ExecContext
	}
	if e, ok := c.inner.(driver.Execer); ok { //nolint:staticcheck // legacy driver
		return func(_ context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
			vals, err := namedToValues(args)
			if err != nil {
				return nil, err
			}
			return e.Exec(query, vals)
		}
	}
	return nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	run := c.execFunc()
	if run == nil {
		return nil, driver.ErrSkip
	}
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
		q := query
		if !(c.in.cfg.preparedSafe && len(args) > 0) {
			q = c.in.comment(query, cl.span.SpanContext())
		}
		res, err := run(ctx, q, args)
		if err == nil {
			cl.affected = rowsAffected(res)
		}
		return res, err
	}
	t0 := time.Now()
	res, err := run(ctx, query, args)
	if errors.Is(err, driver.ErrSkip) {
		return nil, err
	}
	cl := c.in.startAt(ctx, opExec, c.in.info(query), 0, t0)
	if err == nil {
		cl.affected = rowsAffected(res)
	}
	cl.finish(err)
	return res, err
}

func rowsAffected(res driver.Result) int64 {
	if res == nil {
		return -1
	}
	n, err := res.RowsAffected()
	if err != nil {
		return -1
	}
	return n
}

func (c *conn) Ping(ctx context.Context) error {
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
	}
	if p, ok := c.inner.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// ResetSession is called by database/sql, with the caller's context, when
// it hands a previously used connection to a new operation: the end of
// that operation's pool wait.
func (c *conn) ResetSession(ctx context.Context) error {
	var err error
	if sr, ok := c.inner.(driver.SessionResetter); ok {
		err = sr.ResetSession(ctx)
	}
	if cl := callFrom(ctx); cl != nil {
		cl.markHandover()
	}
	return err
}

func (c *conn) IsValid() bool {
	if v, ok := c.inner.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// CheckNamedValue defers to the driver; driver.ErrSkip makes database/sql
// use its default conversion, as if this method did not exist.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	if nvc, ok := c.inner.(driver.NamedValueChecker); ok {
		return nvc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func namedToValues(args []driver.NamedValue) ([]driver.Value, error) {
	vals := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("sqlxprobe: driver does not support named parameters")
		}
		vals[i] = a.Value
	}
	return vals, nil
}

type stmt struct {
	inner driver.Stmt
	in    *instr
	query string
}

var (
	_ driver.StmtExecContext   = (*stmt)(nil)
	_ driver.StmtQueryContext  = (*stmt)(nil)
	_ driver.NamedValueChecker = (*stmt)(nil)
)

func (s *stmt) Close() error  { return s.inner.Close() }
func (s *stmt) NumInput() int { return s.inner.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) { //nolint:staticcheck // interface
	return s.inner.Exec(args) //nolint:staticcheck // legacy path, unused by database/sql here
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) { //nolint:staticcheck // interface
	return s.inner.Query(args) //nolint:staticcheck // legacy path, unused by database/sql here
}

// call returns the call a statement operation belongs to: the caller's (a
// DB or Tx method that prepared implicitly; the connection is handed over
// now), or a new one the statement owns and must finish (own).
func (s *stmt) call(ctx context.Context, op opKind) (cl *call, own bool) {
	if cl = callFrom(ctx); cl != nil {
		cl.markHandover()
		return cl, false
	}
	cl = s.in.start(ctx, op, s.in.info(s.query), 0)
	cl.net.Goroutine(cl.start) // the statement holds its connection: no handover
	return cl, true
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	cl, own := s.call(ctx, opExec)
	ctx = cl
	var (
		res driver.Result
		err error
	)
	if ec, ok := s.inner.(driver.StmtExecContext); ok {
		res, err = ec.ExecContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = namedToValues(args); err == nil {
			res, err = s.inner.Exec(vals) //nolint:staticcheck // legacy driver
		}
	}
	if err == nil {
		cl.affected = rowsAffected(res)
	}
	if own {
		cl.finish(err)
	}
	return res, err
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	cl, own := s.call(ctx, opQuery)
	ctx = cl
	var (
		rows driver.Rows
		err  error
	)
	if qc, ok := s.inner.(driver.StmtQueryContext); ok {
		rows, err = qc.QueryContext(ctx, args)
	} else {
		var vals []driver.Value
		if vals, err = namedToValues(args); err == nil {
			rows, err = s.inner.Query(vals) //nolint:staticcheck // legacy driver
		}
	}
	if err != nil {
		if own {
			cl.finish(err)
		}
		return nil, err
	}
	return cl.wrapRows(rows), nil
}

func (s *stmt) CheckNamedValue(nv *driver.NamedValue) error {
	if nvc, ok := s.inner.(driver.NamedValueChecker); ok {
		return nvc.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

// rowsW counts rows and ends its call at exhaustion, error or Close.
type rowsW struct {
	inner driver.Rows
	call  *call
}

var (
	_ driver.RowsNextResultSet              = (*rowsW)(nil)
	_ driver.RowsColumnTypeScanType         = (*rowsW)(nil)
	_ driver.RowsColumnTypeDatabaseTypeName = (*rowsW)(nil)
	_ driver.RowsColumnTypeLength           = (*rowsW)(nil)
	_ driver.RowsColumnTypeNullable         = (*rowsW)(nil)
	_ driver.RowsColumnTypePrecisionScale   = (*rowsW)(nil)
)

func (r *rowsW) Columns() []string { return r.inner.Columns() }

func (r *rowsW) Close() error {
	err := r.inner.Close()
	r.call.finish(err)
	return err
}

func (r *rowsW) Next(dest []driver.Value) error {
	err := r.inner.Next(dest)
	switch {
	case err == nil:
		r.call.rows.Add(1)
	case err == io.EOF:
		if !r.HasNextResultSet() {
			r.call.finish(nil)
		}
	default:
		r.call.finish(err)
	}
	return err
}

func (r *rowsW) HasNextResultSet() bool {
	if nr, ok := r.inner.(driver.RowsNextResultSet); ok {
		return nr.HasNextResultSet()
	}
	return false
}

func (r *rowsW) NextResultSet() error {
	if nr, ok := r.inner.(driver.RowsNextResultSet); ok {
		return nr.NextResultSet()
	}
	return io.EOF
}

var anyType = reflect.TypeFor[any]()

func (r *rowsW) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.inner.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return anyType
}

func (r *rowsW) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.inner.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rowsW) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.inner.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rowsW) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.inner.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rowsW) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.inner.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
