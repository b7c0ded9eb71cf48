package sqlxprobe

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/lib/pq"

	"github.com/verdict-obs/verdict/internal/pgtest"
	"github.com/verdict-obs/verdict/internal/semconv"
)

func TestOpenErrors(t *testing.T) {
	if _, err := Open("no-such-driver", "x"); err == nil || !strings.Contains(err.Error(), "no-such-driver") {
		t.Errorf("unknown driver: %v", err)
	}
	if _, err := NewDB(nil, "postgres"); err == nil {
		t.Error("nil connector accepted")
	}
	// Connect pings: a closed port fails with a wrapped error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := Connect("postgres", "postgres://u@"+addr+"/db?sslmode=disable&connect_timeout=2"); err == nil || !strings.HasPrefix(err.Error(), "connect postgres: ") {
		t.Errorf("connect to a closed port: %v", err)
	}
}

func TestCloseIdempotentAndUnregisters(t *testing.T) {
	h := newSQLite(t)
	h.db.MustExec("SELECT 1")
	if _, ok := h.metrics(t)[semconv.MetricDBClientConnectionCount]; !ok {
		t.Fatal("no pool metrics before Close")
	}
	if err := h.db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, ok := h.metrics(t)[semconv.MetricDBClientConnectionCount]; ok {
		t.Error("pool metrics still reported after Close")
	}
}

func TestDriverLevelSpans(t *testing.T) {
	h := newSQLite(t)
	ctx := context.Background()
	h.db.MustExec("CREATE TABLE d (a INT)")
	h.db.MustExec("INSERT INTO d VALUES (1), (2)")
	// Prepared statement executions.
	st, err := h.db.PreparexContext(ctx, "SELECT a FROM d WHERE a > ?")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h.reset()
	var as []int
	if err := st.SelectContext(ctx, &as, 0); err != nil {
		t.Fatal(err)
	}
	spans := h.ended()
	if len(spans) != 1 {
		t.Fatalf("statement query: %d spans", len(spans))
	}
	if v, _ := attrOf(spans[0], semconv.AttrDBResponseReturnedRows); v.AsInt64() != 2 {
		t.Errorf("statement rows %d", v.AsInt64())
	}
	if v, _ := attrOf(spans[0], semconv.AttrDBQueryText); v.AsString() != "SELECT a FROM d WHERE a > ?" {
		t.Errorf("statement text %q", v.AsString())
	}
	// A dedicated connection.
	conn, err := h.db.Connx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h.reset()
	var n int
	if err := conn.GetContext(ctx, &n, "SELECT count(*) FROM d WHERE a <> 7"); err != nil || n != 2 {
		t.Fatalf("conn get: %v %d", err, n)
	}
	if _, err := conn.ExecContext(ctx, "DELETE FROM d WHERE a = 1"); err != nil {
		t.Fatal(err)
	}
	spans = h.ended()
	if len(spans) != 2 || spans[0].Name() != "SELECT d" || spans[1].Name() != "DELETE d" {
		t.Fatalf("conn spans %v", spans)
	}
	if v, _ := attrOf(spans[1], semconv.AttrDBRowsAffected); v.AsInt64() != 1 {
		t.Errorf("rows affected %d", v.AsInt64())
	}
}

func TestPostgresNewDB(t *testing.T) {
	srv := pgtest.Require(t)
	c, err := pq.NewConnector(srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessWith(t, func(opts ...Option) (*DB, error) {
		return NewDB(c, "postgres", append(opts, WithServerAddress("db.example", 6543))...)
	})
	var one int
	if err := h.db.GetContext(context.Background(), &one, "SELECT $1::int", 1); err != nil || one != 1 {
		t.Fatalf("get: %v", err)
	}
	s := h.ended()[0]
	if v, _ := attrOf(s, semconv.AttrDBSystemName); v.AsString() != "postgresql" {
		t.Errorf("system %q", v.AsString())
	}
	if v, _ := attrOf(s, semconv.AttrServerAddress); v.AsString() != "db.example" {
		t.Errorf("server.address %q", v.AsString())
	}
}
