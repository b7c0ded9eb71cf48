package sqlxprobe_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/lib/pq"
	_ "modernc.org/sqlite"

	"github.com/verdict-obs/verdict/sqlxprobe"
)

func ExampleFingerprint() {
	fmt.Println(sqlxprobe.Fingerprint("SELECT * FROM users WHERE email = 'ann@example.com' AND id IN (1, 2, 3) -- login"))
	fmt.Println(sqlxprobe.Fingerprint("UPDATE t SET v = $1::jsonb, n = n + 1 WHERE k = E'it\\'s'"))
	// Output:
	// SELECT * FROM users WHERE email = ? AND id IN (?)
	// UPDATE t SET v = ?::jsonb, n = n + ? WHERE k = ?
}

func ExampleOpen() {
	// One-line switch from sqlx.Open; providers default to the globals.
	db, err := sqlxprobe.Open("sqlite", "file:example?mode=memory&cache=shared",
		sqlxprobe.WithSlowQueryThreshold(200*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.MustExec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
	db.MustExec("INSERT INTO users (id, name) VALUES (?, ?)", 1, "ann")
	var name string
	if err := db.Get(&name, "SELECT name FROM users WHERE id = ?", 1); err != nil {
		log.Fatal(err)
	}
	fmt.Println(name)
	// Output: ann
}

func ExampleConnect() {
	db, err := sqlxprobe.Connect("postgres", "postgres://app@db.internal:5432/app?sslmode=disable",
		sqlxprobe.WithCommenter(sqlxprobe.CommentTraceparent), // pg_stat_activity shows the trace
		sqlxprobe.WithPreparedStatementSafe(true),
		sqlxprobe.WithLogger(slog.Default()),
	)
	if err != nil {
		log.Print(err)
		return
	}
	defer db.Close()
}

func ExampleNewDB() {
	c, err := pq.NewConnector("postgres://app@db.internal:5432/app?sslmode=disable")
	if err != nil {
		log.Fatal(err)
	}
	db, err := sqlxprobe.NewDB(c, "postgres", sqlxprobe.WithServerAddress("db.internal", 5432))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
}

func ExampleDB_BeginTxx() {
	db, err := sqlxprobe.Open("sqlite", "file:example_tx?mode=memory&cache=shared",
		sqlxprobe.WithNestedPolicy(sqlxprobe.NestedError))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback()
	// Code deeper down gets tx.Context(). Beginning another transaction on
	// the pool from there would hold two connections at once.
	_, err = db.BeginTxx(tx.Context(), nil)
	fmt.Println(tx.Depth(), err)
	// Output: 1 BEGIN (depth 1): second pooled connection inside an open transaction
}
