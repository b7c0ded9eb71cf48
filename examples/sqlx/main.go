// Command sqlx shows sqlxprobe, verdict's drop-in for sqlx: every query is
// a span whose db.query.text is the query's fingerprint (no literal leaves
// the process), with the time it waited for a pooled connection; the
// pool itself is a PoolSnapshot and metrics.
//
//	go run ./examples/sqlx
package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/sqlxprobe"
	"github.com/verdict-obs/verdict/tracer"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "verdict-sqlx-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := run(ctx, os.Stdout, filepath.Join(dir, "shop.db")); err != nil {
		log.Print(err)
	}
}

// run creates a small table in the SQLite file at path, writes to it in a
// transaction and reads it back, under one trace.
func run(ctx context.Context, out io.Writer, path string) error {
	tr, err := tracer.Start(ctx, tracer.WithServiceName("sqlx-example")) // OTEL_* env honoured
	if err != nil {
		return err
	}
	defer tr.Shutdown(context.Background())

	db, err := sqlxprobe.Open("sqlite", "file:"+path, sqlxprobe.WithPoolName("shop")) // like sqlx.Open
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(2)

	// One trace: a parent span, as a request handler would have, and a
	// span per statement under it.
	ctx, span := tr.TracerProvider().Tracer("sqlx-example").Start(ctx, "restock")
	defer span.End()
	if _, err := db.ExecContext(ctx, "CREATE TABLE stock (item TEXT PRIMARY KEY, count INTEGER)"); err != nil {
		return err
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	for _, item := range []string{"espresso", "latte", "mocha"} {
		if _, err := tx.ExecContext(ctx, "INSERT INTO stock (item, count) VALUES (?, ?)", item, 10); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// A literal in the SQL text: the span carries the fingerprint only.
	const q = "SELECT item, count FROM stock WHERE count > 5 AND item <> 'decaf' ORDER BY item"
	var rows []struct {
		Item  string `db:"item"`
		Count int    `db:"count"`
	}
	if err := db.SelectContext(ctx, &rows, q); err != nil {
		return err
	}
	for _, r := range rows {
		fmt.Fprintf(out, "%s: %d\n", r.Item, r.Count)
	}
	fmt.Fprintf(out, "query:        %s\nits span has: %s\n", q, sqlxprobe.FingerprintDialect(sqlxprobe.DialectSQLite, q))
	p := db.PoolSnapshot()
	fmt.Fprintf(out, "pool %s (%s): %d open, %d in use, max %d\n", p.Pool, p.System, p.Open, p.InUse, p.MaxOpen)
	fmt.Fprintf(out, "trace %s\n", span.SpanContext().TraceID())
	return nil
}
