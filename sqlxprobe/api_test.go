package sqlxprobe

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/verdict-obs/verdict/internal/errclass"
	"github.com/verdict-obs/verdict/internal/semconv"
)

type user struct {
	ID   int64  `db:"id"`
	Name string `db:"name"`
}

// apiCase is one API method; run returns the error of the call.
type apiCase struct {
	name   string
	op     string // expected db.operation.name of the method's span
	text   string // expected db.query.text ("" = none)
	rows   int64  // expected db.response.returned_rows (-1 = not checked)
	depth  int64  // expected db.transaction.depth (0 = absent)
	run    func(ctx context.Context, db *DB) error
	inTx   bool
	txRun  func(ctx context.Context, tx *Tx) error
	extras []string // other span names expected (e.g. BEGIN, COMMIT)
}

func apiCases(bind func(string) string) []apiCase {
	sel := bind("SELECT id, name FROM users WHERE id = ?")
	selAll := "SELECT id, name FROM users WHERE id < 100 AND name <> 'zed' ORDER BY id"
	ins := bind("INSERT INTO users (id, name) VALUES (?, ?)")
	named := "INSERT INTO users (id, name) VALUES (:id, :name)"
	namedSel := "SELECT id, name FROM users WHERE id = :id"
	fpSel := Fingerprint(sel)
	fpAll := Fingerprint(selAll)
	fpIns := Fingerprint(ins)
	var id int64 = 1000
	next := func() int64 { id++; return id }
	one := func(r *sql.Rows, err error) error {
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
		}
		return r.Err()
	}
	onex := func(r interface {
		Next() bool
		Close() error
		Err() error
	}, err error) error {
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
		}
		return r.Err()
	}
	c := []apiCase{
		{name: "Exec", op: "INSERT", text: fpIns, rows: -1, run: func(ctx context.Context, db *DB) error { _, err := db.Exec(ins, next(), "e"); return err }},
		{name: "ExecContext", op: "INSERT", text: fpIns, rows: -1, run: func(ctx context.Context, db *DB) error { _, err := db.ExecContext(ctx, ins, next(), "e"); return err }},
		{name: "MustExec", op: "INSERT", text: fpIns, rows: -1, run: func(ctx context.Context, db *DB) error { db.MustExec(ins, next(), "e"); return nil }},
		{name: "MustExecContext", op: "INSERT", text: fpIns, rows: -1, run: func(ctx context.Context, db *DB) error { db.MustExecContext(ctx, ins, next(), "e"); return nil }},
		{name: "NamedExec", op: "INSERT", text: Fingerprint(named), rows: -1, run: func(ctx context.Context, db *DB) error {
			_, err := db.NamedExec(named, user{ID: next(), Name: "n"})
			return err
		}},
		{name: "NamedExecContext", op: "INSERT", text: Fingerprint(named), rows: -1, run: func(ctx context.Context, db *DB) error {
			_, err := db.NamedExecContext(ctx, named, user{ID: next(), Name: "n"})
			return err
		}},
		{name: "Query", op: "SELECT", text: fpAll, rows: 3, run: func(ctx context.Context, db *DB) error { return one(db.Query(selAll)) }},
		{name: "QueryContext", op: "SELECT", text: fpAll, rows: 3, run: func(ctx context.Context, db *DB) error { return one(db.QueryContext(ctx, selAll)) }},
		{name: "Queryx", op: "SELECT", text: fpAll, rows: 3, run: func(ctx context.Context, db *DB) error { return onex(db.Queryx(selAll)) }},
		{name: "QueryxContext", op: "SELECT", text: fpAll, rows: 3, run: func(ctx context.Context, db *DB) error { return onex(db.QueryxContext(ctx, selAll)) }},
		{name: "QueryRow", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error {
			var u user
			return db.QueryRow(sel, 1).Scan(&u.ID, &u.Name)
		}},
		{name: "QueryRowContext", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error {
			var u user
			return db.QueryRowContext(ctx, sel, 1).Scan(&u.ID, &u.Name)
		}},
		{name: "QueryRowx", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error { var u user; return db.QueryRowx(sel, 1).StructScan(&u) }},
		{name: "QueryRowxContext", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error {
			var u user
			return db.QueryRowxContext(ctx, sel, 1).StructScan(&u)
		}},
		{name: "NamedQuery", op: "SELECT", text: Fingerprint(namedSel), rows: 1, run: func(ctx context.Context, db *DB) error { return onex(db.NamedQuery(namedSel, user{ID: 1})) }},
		{name: "NamedQueryContext", op: "SELECT", text: Fingerprint(namedSel), rows: 1, run: func(ctx context.Context, db *DB) error {
			return onex(db.NamedQueryContext(ctx, namedSel, user{ID: 1}))
		}},
		{name: "Get", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error { var u user; return db.Get(&u, sel, 2) }},
		{name: "GetContext", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error { var u user; return db.GetContext(ctx, &u, sel, 2) }},
		{name: "Select", op: "SELECT", text: fpAll, rows: 3, run: func(ctx context.Context, db *DB) error { var us []user; return db.Select(&us, selAll) }},
		{name: "SelectContext", op: "SELECT", text: fpAll, rows: 3, run: func(ctx context.Context, db *DB) error {
			var us []user
			return db.SelectContext(ctx, &us, selAll)
		}},
		{name: "Prepare", op: "SELECT", text: fpSel, rows: -1, run: func(ctx context.Context, db *DB) error {
			st, err := db.Prepare(sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PrepareContext", op: "SELECT", text: fpSel, rows: -1, run: func(ctx context.Context, db *DB) error {
			st, err := db.PrepareContext(ctx, sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "Preparex+stmt query", op: "SELECT", text: fpSel, rows: -1, run: func(ctx context.Context, db *DB) error {
			st, err := db.Preparex(sel)
			if err != nil {
				return err
			}
			defer st.Close()
			var u user
			return st.GetContext(ctx, &u, 1)
		}},
		{name: "PreparexContext", op: "SELECT", text: fpSel, rows: -1, run: func(ctx context.Context, db *DB) error {
			st, err := db.PreparexContext(ctx, sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PrepareNamed", op: "SELECT", text: Fingerprint(namedSel), rows: -1, run: func(ctx context.Context, db *DB) error {
			st, err := db.PrepareNamed(namedSel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PrepareNamedContext", op: "SELECT", text: Fingerprint(namedSel), rows: -1, run: func(ctx context.Context, db *DB) error {
			st, err := db.PrepareNamedContext(ctx, namedSel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "Ping", op: "PING", rows: -1, run: func(ctx context.Context, db *DB) error { return db.Ping() }},
		{name: "PingContext", op: "PING", rows: -1, run: func(ctx context.Context, db *DB) error { return db.PingContext(ctx) }},
		{name: "Begin+Commit", op: "BEGIN", rows: -1, depth: 1, extras: []string{"COMMIT"}, run: func(ctx context.Context, db *DB) error {
			tx, err := db.Begin()
			if err != nil {
				return err
			}
			return tx.Commit()
		}},
		{name: "BeginTx+Rollback", op: "BEGIN", rows: -1, depth: 1, extras: []string{"ROLLBACK"}, run: func(ctx context.Context, db *DB) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			return tx.Rollback()
		}},
		{name: "Beginx+Commit", op: "BEGIN", rows: -1, depth: 1, extras: []string{"COMMIT"}, run: func(ctx context.Context, db *DB) error {
			tx, err := db.Beginx()
			if err != nil {
				return err
			}
			return tx.Commit()
		}},
		{name: "BeginTxx+Rollback", op: "BEGIN", rows: -1, depth: 1, extras: []string{"ROLLBACK"}, run: func(ctx context.Context, db *DB) error {
			tx, err := db.BeginTxx(ctx, nil)
			if err != nil {
				return err
			}
			return tx.Rollback()
		}},
		{name: "MustBegin", op: "BEGIN", rows: -1, depth: 1, extras: []string{"ROLLBACK"}, run: func(ctx context.Context, db *DB) error {
			return db.MustBegin().Rollback()
		}},
		{name: "MustBeginTx", op: "BEGIN", rows: -1, depth: 1, extras: []string{"ROLLBACK"}, run: func(ctx context.Context, db *DB) error {
			return db.MustBeginTx(ctx, nil).Rollback()
		}},
		{name: "Unsafe().Get", op: "SELECT", text: fpSel, rows: 1, run: func(ctx context.Context, db *DB) error {
			var u struct{ Name string }
			return db.Unsafe().GetContext(ctx, &u, sel, 1)
		}},
	}
	// Transaction methods (run inside BeginTxx … Rollback).
	tc := []apiCase{
		{name: "Exec", op: "INSERT", text: fpIns, txRun: func(ctx context.Context, tx *Tx) error { _, err := tx.Exec(ins, next(), "t"); return err }},
		{name: "ExecContext", op: "INSERT", text: fpIns, txRun: func(ctx context.Context, tx *Tx) error { _, err := tx.ExecContext(ctx, ins, next(), "t"); return err }},
		{name: "MustExec", op: "INSERT", text: fpIns, txRun: func(ctx context.Context, tx *Tx) error { tx.MustExec(ins, next(), "t"); return nil }},
		{name: "MustExecContext", op: "INSERT", text: fpIns, txRun: func(ctx context.Context, tx *Tx) error { tx.MustExecContext(ctx, ins, next(), "t"); return nil }},
		{name: "NamedExec", op: "INSERT", text: Fingerprint(named), txRun: func(ctx context.Context, tx *Tx) error {
			_, err := tx.NamedExec(named, user{ID: next(), Name: "t"})
			return err
		}},
		{name: "NamedExecContext", op: "INSERT", text: Fingerprint(named), txRun: func(ctx context.Context, tx *Tx) error {
			_, err := tx.NamedExecContext(ctx, named, user{ID: next(), Name: "t"})
			return err
		}},
		{name: "Query", op: "SELECT", text: fpAll, rows: 3, txRun: func(ctx context.Context, tx *Tx) error { return one(tx.Query(selAll)) }},
		{name: "QueryContext", op: "SELECT", text: fpAll, rows: 3, txRun: func(ctx context.Context, tx *Tx) error { return one(tx.QueryContext(ctx, selAll)) }},
		{name: "Queryx", op: "SELECT", text: fpAll, rows: 3, txRun: func(ctx context.Context, tx *Tx) error { return onex(tx.Queryx(selAll)) }},
		{name: "QueryxContext", op: "SELECT", text: fpAll, rows: 3, txRun: func(ctx context.Context, tx *Tx) error { return onex(tx.QueryxContext(ctx, selAll)) }},
		{name: "QueryRow", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error {
			var u user
			return tx.QueryRow(sel, 1).Scan(&u.ID, &u.Name)
		}},
		{name: "QueryRowContext", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error {
			var u user
			return tx.QueryRowContext(ctx, sel, 1).Scan(&u.ID, &u.Name)
		}},
		{name: "QueryRowx", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error { var u user; return tx.QueryRowx(sel, 1).StructScan(&u) }},
		{name: "QueryRowxContext", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error {
			var u user
			return tx.QueryRowxContext(ctx, sel, 1).StructScan(&u)
		}},
		{name: "NamedQuery", op: "SELECT", text: Fingerprint(namedSel), rows: 1, txRun: func(ctx context.Context, tx *Tx) error { return onex(tx.NamedQuery(namedSel, user{ID: 1})) }},
		{name: "Get", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error { var u user; return tx.Get(&u, sel, 2) }},
		{name: "GetContext", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error { var u user; return tx.GetContext(ctx, &u, sel, 2) }},
		{name: "Select", op: "SELECT", text: fpAll, rows: 3, txRun: func(ctx context.Context, tx *Tx) error { var us []user; return tx.Select(&us, selAll) }},
		{name: "SelectContext", op: "SELECT", text: fpAll, rows: 3, txRun: func(ctx context.Context, tx *Tx) error {
			var us []user
			return tx.SelectContext(ctx, &us, selAll)
		}},
		{name: "Prepare", op: "SELECT", text: fpSel, txRun: func(ctx context.Context, tx *Tx) error {
			st, err := tx.Prepare(sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PrepareContext", op: "SELECT", text: fpSel, txRun: func(ctx context.Context, tx *Tx) error {
			st, err := tx.PrepareContext(ctx, sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "Preparex", op: "SELECT", text: fpSel, txRun: func(ctx context.Context, tx *Tx) error {
			st, err := tx.Preparex(sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PreparexContext", op: "SELECT", text: fpSel, txRun: func(ctx context.Context, tx *Tx) error {
			st, err := tx.PreparexContext(ctx, sel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PrepareNamed", op: "SELECT", text: Fingerprint(namedSel), txRun: func(ctx context.Context, tx *Tx) error {
			st, err := tx.PrepareNamed(namedSel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "PrepareNamedContext", op: "SELECT", text: Fingerprint(namedSel), txRun: func(ctx context.Context, tx *Tx) error {
			st, err := tx.PrepareNamedContext(ctx, namedSel)
			if err != nil {
				return err
			}
			return st.Close()
		}},
		{name: "Unsafe().Get", op: "SELECT", text: fpSel, rows: 1, txRun: func(ctx context.Context, tx *Tx) error {
			var u struct{ Name string }
			return tx.Unsafe().GetContext(ctx, &u, sel, 1)
		}},
	}
	for _, x := range tc {
		x.name = "Tx." + x.name
		x.inTx = true
		x.depth = 1
		if x.rows == 0 {
			x.rows = -1
		}
		c = append(c, x)
	}
	return c
}

// exerciseAPI runs every API method against h and checks its span.
func exerciseAPI(t *testing.T, h *harness, system string, bind func(string) string) {
	ctx := context.Background()
	h.db.MustExec("DROP TABLE IF EXISTS users")
	h.db.MustExec("CREATE TABLE users (id BIGINT PRIMARY KEY, name TEXT NOT NULL)")
	h.db.MustExec(bind("INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cy')"))
	for _, tc := range apiCases(bind) {
		t.Run(tc.name, func(t *testing.T) {
			h.reset()
			before := opCount(t, h, tc.op)
			parentCtx, parent := h.tp.Tracer("test").Start(ctx, "parent")
			var err error
			if tc.inTx {
				tx, berr := h.db.BeginTxx(parentCtx, nil)
				if berr != nil {
					t.Fatal(berr)
				}
				err = tc.txRun(parentCtx, tx)
				if rerr := tx.Rollback(); rerr != nil {
					t.Fatal(rerr)
				}
			} else {
				err = tc.run(parentCtx, h.db)
			}
			parent.End()
			if err != nil {
				t.Fatal(err)
			}
			var found sdktrace.ReadOnlySpan
			names := map[string]bool{}
			for _, s := range h.ended() {
				names[s.Name()] = true
				if s.Name() == "parent" {
					continue
				}
				if v, _ := attrOf(s, semconv.AttrDBSystemName); v.AsString() != system {
					t.Errorf("span %q: db.system.name %q, want %q", s.Name(), v.AsString(), system)
				}
				if s.SpanKind() != trace.SpanKindClient {
					t.Errorf("span %q: kind %v", s.Name(), s.SpanKind())
				}
				if s.Parent().IsValid() && s.Parent().SpanID() != parent.SpanContext().SpanID() {
					t.Errorf("span %q: parent %v, want the caller's span", s.Name(), s.Parent().SpanID())
				}
				op, _ := attrOf(s, semconv.AttrDBOperationName)
				text, _ := attrOf(s, semconv.AttrDBQueryText)
				if found == nil && op.AsString() == tc.op && text.AsString() == tc.text {
					found = s
				}
			}
			if found == nil {
				t.Fatalf("no span with operation %q text %q; spans: %v", tc.op, tc.text, names)
			}
			if after := opCount(t, h, tc.op); after <= before {
				t.Errorf("%s count for %s did not grow (%d -> %d)", semconv.MetricDBClientOperationDuration, tc.op, before, after)
			}
			if strings.Contains(tc.name, "Context") && found.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Errorf("span of a context method is not a child of the caller's span")
			}
			for _, e := range tc.extras {
				if !names[e] {
					t.Errorf("no %s span; spans: %v", e, names)
				}
			}
			if strings.Contains(tc.text, "'") {
				t.Errorf("literal in db.query.text %q", tc.text)
			}
			if tc.rows >= 0 {
				v, ok := attrOf(found, semconv.AttrDBResponseReturnedRows)
				if !ok || v.AsInt64() != tc.rows {
					t.Errorf("returned_rows = %v (present %v), want %d", v.AsInt64(), ok, tc.rows)
				}
			}
			d, ok := attrOf(found, semconv.AttrDBTransactionDepth)
			if tc.depth == 0 && ok {
				t.Errorf("unexpected depth %d", d.AsInt64())
			}
			if tc.depth > 0 && d.AsInt64() != tc.depth {
				t.Errorf("depth = %d, want %d", d.AsInt64(), tc.depth)
			}
			if tc.op != "PING" && tc.op != "BEGIN" && !tc.inTx && tc.name != "Preparex+stmt query" {
				if _, ok := attrOf(found, semconv.AttrDBConnectionWaitTime); !ok {
					t.Errorf("no %s on a pool operation", semconv.AttrDBConnectionWaitTime)
				}
			}
		})
	}
}

// opCount sums db.client.operation.duration counts of one operation.
func opCount(t *testing.T, h *harness, op string) uint64 {
	m, ok := h.metrics(t)[semconv.MetricDBClientOperationDuration]
	if !ok {
		return 0
	}
	var n uint64
	for _, dp := range m.Data.(metricdata.Histogram[float64]).DataPoints {
		if v, _ := dp.Attributes.Value(semconv.AttrDBOperationName); v.AsString() == op {
			n += dp.Count
		}
	}
	return n
}

func TestSQLiteEveryMethod(t *testing.T) {
	h := newSQLite(t)
	exerciseAPI(t, h, "sqlite", func(s string) string { return s })

	// Metrics: the operation histogram and the pool gauges exist (max only
	// with a limit: TestConnectionMaxOnlyWithLimit).
	h.db.SetMaxOpenConns(8)
	ms := h.metrics(t)
	for _, name := range []string{
		semconv.MetricDBClientOperationDuration, semconv.MetricDBClientConnectionWaitTime,
		semconv.MetricDBClientConnectionCount, semconv.MetricDBClientConnectionMax,
		semconv.MetricDBClientConnectionWaitCount, semconv.MetricDBClientConnectionWaitDuration,
		semconv.MetricDBClientConnectionClosed,
	} {
		if _, ok := ms[name]; !ok {
			t.Errorf("metric %s missing", name)
		}
	}
}

// TestConnectionMaxOnlyWithLimit: db.client.connection.max follows
// SetMaxOpenConns and is absent while the pool has no limit (database/sql's
// 0), never 0, so that used/max cannot divide by zero.
func TestConnectionMaxOnlyWithLimit(t *testing.T) {
	h := newSQLite(t)
	maxPoints := func() []metricdata.DataPoint[int64] {
		m, ok := h.metrics(t)[semconv.MetricDBClientConnectionMax]
		if !ok {
			return nil
		}
		return m.Data.(metricdata.Sum[int64]).DataPoints
	}
	if dp := maxPoints(); len(dp) != 0 {
		t.Errorf("unlimited pool: connection max %+v, want no data point", dp)
	}
	h.db.SetMaxOpenConns(3)
	if dp := maxPoints(); len(dp) != 1 || dp[0].Value != 3 {
		t.Errorf("limit 3: connection max %+v", dp)
	}
	h.db.SetMaxOpenConns(0)
	if dp := maxPoints(); len(dp) != 0 {
		t.Errorf("limit removed: connection max %+v, want no data point", dp)
	}
}

func TestErrorSpan(t *testing.T) {
	h := newSQLite(t)
	_, err := h.db.Exec("INSERT INTO missing_table VALUES (1)")
	if err == nil {
		t.Fatal("want error")
	}
	spans := h.ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	if spans[0].Status().Code.String() != "Error" {
		t.Errorf("status %v", spans[0].Status())
	}
	// A database's own error is none of the taxonomy's kinds: _OTHER, not
	// its Go type (which would make error.type unbounded).
	if v, ok := attrOf(spans[0], semconv.AttrErrorType); !ok || v.AsString() != errclass.Other {
		t.Errorf("error.type = %q, want %q", v.AsString(), errclass.Other)
	}
	// sql.ErrNoRows is not a database error.
	h.db.MustExec("CREATE TABLE t (a INT)")
	h.reset()
	var a int
	if err := h.db.Get(&a, "SELECT a FROM t WHERE a = 5"); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("err %v", err)
	}
	if s := h.ended(); len(s) != 1 || s[0].Status().Code.String() == "Error" {
		t.Errorf("ErrNoRows marked as error: %v", s[0].Status())
	}
}

func TestRowsSpanEndsAtClose(t *testing.T) {
	h := newSQLite(t)
	h.db.MustExec("CREATE TABLE n (i INT)")
	for i := 0; i < 5; i++ {
		h.db.MustExec("INSERT INTO n VALUES (?)", i)
	}
	h.reset()
	rows, err := h.db.Queryx("SELECT i FROM n")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.ended()) != 0 {
		t.Fatal("query span ended before the rows were read")
	}
	rows.Next()
	rows.Next()
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	spans := h.ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans after Close, want 1 (rows iteration is part of the query span)", len(spans))
	}
	if v, _ := attrOf(spans[0], semconv.AttrDBResponseReturnedRows); v.AsInt64() != 2 {
		t.Errorf("returned_rows %d, want 2", v.AsInt64())
	}
}

// error.type takes its values from the closed taxonomy only.
func TestErrorTypeIsBounded(t *testing.T) {
	kinds := map[string]bool{}
	for _, k := range errclass.Kinds() {
		kinds[k] = true
	}
	for err, want := range map[error]string{
		context.Canceled:                             errclass.Canceled,
		context.DeadlineExceeded:                     errclass.Timeout,
		fmt.Errorf("begin: %w", ErrNestedConnection): errclass.NestedConnection,
		fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}): errclass.ConnectionRefused,
		io.ErrUnexpectedEOF:                       errclass.UnexpectedEOF,
		driver.ErrBadConn:                         errclass.Other,
		errors.New("pq: relation does not exist"): errclass.Other,
	} {
		got := errorType(err)
		if got != want || !kinds[got] {
			t.Errorf("errorType(%v) = %q, want %q (in errclass.Kinds)", err, got, want)
		}
	}
}
