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

func ExampleFingerprintDialect() {
	// The same text, read as each database reads it.
	q := `SELECT * FROM f WHERE dir = 'C:\' AND owner = 'alice' -- x`
	for _, d := range []sqlxprobe.Dialect{sqlxprobe.DialectPostgres, sqlxprobe.DialectMySQL, sqlxprobe.DialectGeneric} {
		fmt.Printf("%-10s %s\n", d, sqlxprobe.FingerprintDialect(d, q))
	}
	// Batches of any size share one fingerprint.
	fmt.Println(sqlxprobe.FingerprintDialect(sqlxprobe.DialectPostgres, "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')"))
	// Output:
	// postgresql SELECT * FROM f WHERE dir = ? AND owner = ?
	// mysql      SELECT * FROM f WHERE dir = ?
	// generic    SELECT * FROM f WHERE dir = ?
	// INSERT INTO t (a, b) VALUES (?, ?)
}

func ExampleWithDialect() {
	// A driver registered under a name that says nothing about the
	// database: tell the pool how to read its statements.
	db, err := sqlxprobe.Open("sqlite", "file:example_dialect?mode=memory&cache=shared",
		sqlxprobe.WithDialect(sqlxprobe.DialectSQLite))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	fmt.Println(sqlxprobe.DialectForDriver("pgx/v5"), sqlxprobe.DialectForDriver("sqlite3"), sqlxprobe.DialectForDriver("odbc"))
	// Output:
	// postgresql sqlite generic
}

// PoolSnapshot is the pool over time; MaxOpen 0 means no limit.
func ExampleDB_PoolSnapshot() {
	db, err := sqlxprobe.Open("sqlite", "file:example_pool?mode=memory&cache=shared", sqlxprobe.WithPoolName("orders"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(4)
	db.MustExec("CREATE TABLE t (a INT)")
	s := db.PoolSnapshot()
	fmt.Printf("%s (%s): %d open, %d in use, %d idle, limit %d, %d waits\n", s.Pool, s.System, s.Open, s.InUse, s.Idle, s.MaxOpen, s.WaitCount)
	// Output: orders (sqlite): 1 open, 0 in use, 1 idle, limit 4, 0 waits
}
