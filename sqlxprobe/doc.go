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
// db.query.text holding the statement's fingerprint ([FingerprintDialect])
// — never literal values.
//
// Pool wait is measured honestly: the span starts before database/sql
// asks the pool for a connection, and the driver layer records the moment
// a connection is handed over (the pool's ResetSession on a reused
// connection, Connect for a new one, or the first driver call). The
// difference is db.client.connection.wait_time on the span and in the
// histogram of the same name. sql.DBStats are exported as observable
// db.client.connection.* metrics (db.client.connection.max only while the
// pool has a limit: database/sql's 0 means none, and a 0 would make a
// used/max saturation divide by zero). db.client.operation.duration is recorded
// by db.query.summary (at most 255 bytes), never by db.query.text, with
// bounded cardinality ([WithQuerySummarySeries]).
// Operations over [WithSlowQueryThreshold] are logged on the injected
// *slog.Logger with fingerprint, duration, wait, rows and trace_id.
//
// Statements from Prepare and operations on a dedicated connection from
// Conn/Connx bypass DB and Tx: they get spans from the driver layer,
// without pool wait.
//
// # Fingerprints and dialects
//
// Databases disagree on what is a string: a backslash escapes a quote in
// MySQL but not in PostgreSQL or SQLite, "#" starts a comment in MySQL and
// is an operator in PostgreSQL, "…" is a string in MySQL and a name
// elsewhere. A fingerprint read with the wrong rules can leak the text
// after a misread literal, so the instrumented pool reads each statement as
// its database does, chosen from the driver name ([DialectForDriver]) unless
// [WithDialect] says otherwise:
//
//	driver name                                   dialect
//	postgres, pgx, pgx/v5, pq, …postgres…         DialectPostgres
//	mysql, …mysql…, …maria…                       DialectMySQL
//	sqlite, sqlite3, …sqlite…, libsql             DialectSQLite
//	any other                                     DialectGeneric
//
// [DialectGeneric] (also what [Fingerprint] uses) redacts wherever the
// three readings disagree. Every dialect fails closed: what it cannot read
// with certainty (an unterminated string, comment or quoted name, a NUL
// byte, a byte the database's tokenizer rejects such as a vertical tab in
// SQLite, text whose extent depends on server settings) turns the rest of
// the statement into "?". Repeated VALUES rows of one shape and IN lists
// collapse, so batches of any size share one fingerprint.
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
// # Pool snapshots
//
// [DB.PoolSnapshot] is the pool over time: connections open, in use and
// idle now, the wait and close counters with wait rates over the last 10 s,
// and one sample per second for the last minute. Every open DB is listed by
// tracer.Tracer.Pools until Close.
//
// # sqlcommenter
//
// With [WithCommenter], statements get a comment following the
// sqlcommenter specification, e.g.
// /*traceparent='00-4bf9…-00f0…-01'*/, so database logs and
// pg_stat_activity show the trace. Keys and values are URL-encoded, so no
// value (the incoming tracestate included) can end the comment or open a
// nested one. Statements that already contain a comment, or end inside an
// open quote, are left alone. [WithPreparedStatementSafe] leaves statements
// that will be prepared unchanged, so statement caches keep working.
//
// Only the OpenTelemetry API is used; providers come from
// [WithTracerProvider] and [WithMeterProvider], the globals by default.
package sqlxprobe
