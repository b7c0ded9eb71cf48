package pgtest

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	_ "github.com/lib/pq"
)

func TestStartQueryStop(t *testing.T) {
	s, err := Start()
	if err != nil {
		if errors.Is(err, ErrNoPostgres) {
			Require(t) // skips, or fails under CI=true
		}
		t.Fatal(err)
	}
	db, err := sql.Open("postgres", s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRow("SELECT version() /* pgtest-marker */").Scan(&v); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if !strings.Contains(v, "PostgreSQL 15") {
		t.Errorf("version %q, want PostgreSQL 15", v)
	}
	if !strings.Contains(s.Log(), "pgtest-marker") {
		t.Errorf("log_statement=all did not log the query:\n%s", s.Log())
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}
