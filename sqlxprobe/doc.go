// Package sqlxprobe instruments github.com/jmoiron/sqlx: a drop-in *DB
// and *Tx whose operations explain why a query was slow — time waiting for
// a pooled connection versus time in the database, the query's
// parameterised fingerprint, and the nesting of transactions — and carry
// the trace into the database as a sqlcommenter comment.
//
// # Switching
//
// Replace sqlx.Open / sqlx.Connect with [Open] / [Connect] (or build a
// pool from a driver.Connector with [NewDB]). [DB] has every method of
// *sqlx.DB with the same signatures (Beginx and friends return [Tx], which
// has every method of *sqlx.Tx).
//
// # Telemetry
//
// Each operation through DB or Tx (query, exec, prepare, begin, commit,
// rollback, ping) gets one client span, named by its db.query.summary
// ("SELECT users"), that starts at the call. Row iteration is part of the
// query span: it ends when the rows are exhausted or closed, with
// db.response.returned_rows. Attributes follow the OpenTelemetry database
// semantic conventions: db.system.name, db.operation.name,
// db.collection.name, db.query.summary, server.address, server.port, and
// db.query.text holding the [Fingerprint] — never literal values.
//
// Pool wait is measured honestly: the span starts before database/sql
// asks the pool for a connection, and the driver layer records the moment
// a connection is handed over (the pool's ResetSession on a reused
// connection, Connect for a new one, or the first driver call). The
// difference is db.client.connection.wait_time on the span and in the
// histogram of the same name. sql.DBStats are exported as observable
// db.client.connection.* metrics. db.client.operation.duration is recorded
// by fingerprint with bounded cardinality ([WithFingerprintSeries]).
// Operations over [WithSlowQueryThreshold] are logged on the injected
// *slog.Logger with fingerprint, duration, wait, rows and trace_id.
//
// Statements from Prepare and operations on a dedicated connection from
// Conn/Connx bypass DB and Tx: they get spans from the driver layer,
// without pool wait.
//
// # Transactions
//
// A [Tx] knows its depth; [Tx.Context] returns a context marked with the
// open transaction. Code that receives that context and calls BeginTxx or
// any pool operation on the same DB is taking a second pooled connection
// while holding one — the classic pool deadlock once the pool is
// exhausted. It is reported with a span event, a counter and a
// rate-limited Warn record, or refused with [ErrNestedConnection] under
// [NestedError]. Spans inside a transaction carry db.transaction.depth.
//
// # sqlcommenter
//
// With [WithCommenter], statements get a comment following the
// sqlcommenter specification, e.g.
// /*traceparent='00-4bf9…-00f0…-01'*/, so database logs and
// pg_stat_activity show the trace. Statements that already contain a
// comment are left alone. [WithPreparedStatementSafe] leaves statements
// that will be prepared unchanged, so statement caches keep working.
//
// Only the OpenTelemetry API is used; providers come from
// [WithTracerProvider] and [WithMeterProvider], the globals by default.
package sqlxprobe
