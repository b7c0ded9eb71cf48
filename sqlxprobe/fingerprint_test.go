package sqlxprobe

import (
	"flag"
	"strings"
	"testing"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/queries.txt expectations from the current FingerprintDialect (review the diff!)")

// corpusDialect maps the dialect tags of testdata/queries.txt.
func corpusDialect(tag string) Dialect {
	switch tag {
	case "pg":
		return DialectPostgres
	case "mysql":
		return DialectMySQL
	case "sqlite":
		return DialectSQLite
	}
	return DialectGeneric
}

// TestFingerprintCorpus: every query of testdata/queries.txt has the
// expected fingerprint in its dialect, and no literal under any reading of
// its dialect or the generic one.
func TestFingerprintCorpus(t *testing.T) {
	entries, err := sqlcorpus.Read("testdata/queries.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 150 {
		t.Fatalf("corpus has %d queries, want at least 150", len(entries))
	}
	dialects := map[string]int{}
	for i, e := range entries {
		dialects[e.Dialect]++
		d := corpusDialect(e.Dialect)
		got := FingerprintDialect(d, e.Query)
		for _, dd := range []Dialect{d, DialectGeneric} {
			if msg := checkNoLeak(dd, e.Query); msg != "" {
				t.Errorf("line %d: %s", e.Line, msg)
			}
		}
		if *updateCorpus {
			entries[i].Expected = got
			continue
		}
		if !e.HasWant {
			t.Errorf("line %d: no expectation", e.Line)
			continue
		}
		if got != e.Expected {
			t.Errorf("line %d (%s):\n query %q\n got   %q\n want  %q", e.Line, d, e.Query, got, e.Expected)
		}
	}
	if *updateCorpus {
		if err := sqlcorpus.Write("testdata/queries.txt", entries); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"pg", "mysql", "sqlite"} {
		if dialects[d] < 30 {
			t.Errorf("dialect %s has %d queries, want at least 30", d, dialects[d])
		}
	}
}

// TestFingerprintIssueLeaks: the statements that leaked before dialects
// (issue 10), with what each dialect now makes of them.
func TestFingerprintIssueLeaks(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query string
		want  [numDialects]string // generic, postgres, mysql, sqlite
		never []string            // literal in some reading: must not appear in the generic fingerprint
	}{
		{
			// PostgreSQL and SQLite take no backslash escape in '…';
			// MySQL does unless NO_BACKSLASH_ESCAPES is set.
			name:  "backslash before quote",
			query: `SELECT * FROM f WHERE dir = 'C:\' AND owner = 'alice-secret-token'`,
			want: [numDialects]string{
				`SELECT * FROM f WHERE dir = ?`,
				`SELECT * FROM f WHERE dir = ? AND owner = ?`,
				`SELECT * FROM f WHERE dir = ?`,
				`SELECT * FROM f WHERE dir = ? AND owner = ?`,
			},
			never: []string{"alice", "secret", "token", "C:"},
		},
		{
			// PostgreSQL's # is an operator (XOR), MySQL's a comment.
			name:  "hash operator or comment",
			query: "SELECT * FROM t WHERE a # 1 = 0 AND note = 'x\nsecret-part'",
			want: [numDialects]string{
				`SELECT * FROM t WHERE a ?`,
				`SELECT * FROM t WHERE a # ? = ? AND note = ?`,
				`SELECT * FROM t WHERE a secret-part?`,
				`SELECT * FROM t WHERE a # ? = ? AND note = ?`,
			},
			never: []string{"secret", "part"},
		},
		{
			// MySQL's N'…' takes backslash escapes; read both ways the
			// string ends in different places, so the rest is redacted.
			name:  "national string with backslash",
			query: `SELECT * FROM p WHERE name = N'O\'Brien' AND ssn = '123-45-6789'`,
			want: [numDialects]string{
				`SELECT * FROM p WHERE name = ?`,
				`SELECT * FROM p WHERE name = ?Brien??-?-??`,
				`SELECT * FROM p WHERE name = ?`,
				`SELECT * FROM p WHERE name = N?Brien??-?-??`,
			},
			never: []string{"Brien", "123", "45", "6789"},
		},
		{
			// In MySQL's default mode "…" is a string.
			name:  "double-quoted string",
			query: `SELECT 'single', "double"`,
			want: [numDialects]string{
				`SELECT ?, ?`,
				`SELECT ?, "double"`,
				`SELECT ?, ?`,
				`SELECT ?, ?`, // SQLite reads an unresolvable "double" as a string
			},
			never: []string{"single", "double"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for d := Dialect(0); d < numDialects; d++ {
				got := FingerprintDialect(d, tc.query)
				if got != tc.want[d] {
					t.Errorf("%s: got %q, want %q", d, got, tc.want[d])
				}
				if msg := checkNoLeak(d, tc.query); msg != "" {
					t.Error(msg)
				}
			}
			// The generic fingerprint is what Fingerprint returns.
			got := Fingerprint(tc.query)
			if got != tc.want[DialectGeneric] {
				t.Errorf("Fingerprint: got %q", got)
			}
			for _, w := range tc.never {
				if strings.Contains(got, w) {
					t.Errorf("generic: %q leaked into %q", w, got)
				}
			}
		})
	}
}

// TestFingerprintDialectRules: how each dialect reads strings, names,
// comments and operators, and where it fails closed.
func TestFingerprintDialectRules(t *testing.T) {
	for _, tc := range []struct {
		d     Dialect
		query string
		want  string
	}{
		{DialectPostgres, "SELECT E'a\\'b' AS x", "SELECT ? AS x"},
		{DialectPostgres, "SELECT E'first'\n  'second \\' still', 1", "SELECT ?, ?"},
		{DialectPostgres, "SELECT E'first' /* c */\n 'second', 1", "SELECT ? ?, ?"},
		{DialectPostgres, "SELECT 'C:\\', 'next'", "SELECT ?, ?"},
		{DialectPostgres, "SELECT $$it's$$, $body$ x $$ y $body$, $1, a$b$c FROM t", "SELECT ?, ?, ?, a$b$c FROM t"},
		{DialectPostgres, "SELECT U&'d\\0061t' UESCAPE '!', U&\"col\", B'0101', X'1F', N'nat'", "SELECT ? UESCAPE ?, U&\"col\", ?, ?, ?"},
		{DialectPostgres, "SELECT 1 /* outer /* inner */ still */, 2", "SELECT ? , ?"},
		{DialectPostgres, "SELECT data #> '{a,b}', data ? 'k', data @> '{}' FROM t", "SELECT data #> ?, data ? ?, data @> ? FROM t"},
		{DialectPostgres, "SELECT 1 -- comment\r'cr ends it'", "SELECT ? ?"},
		{DialectPostgres, "SELECT 12E'x'", "SELECT ?"},
		{DialectPostgres, "SELECT $$unterminated", "SELECT ?"},
		// One exponent: the second e starts PostgreSQL's trailing junk, which
		// runs on through $ (fuzz finding).
		{DialectPostgres, "SELECT 0e0E0e0$A0", "SELECT ?"},
		{DialectPostgres, "SELECT 1e5e5, 1.5E+3e, 2", "SELECT ?, ?, ?"},
		// "$1" with an identifier glued on is one (junk) parameter.
		{DialectPostgres, "SELECT $0_ \"_", "SELECT ? ?"},
		{DialectPostgres, "SELECT $1abc$d, $2", "SELECT ?, ?"},
		// … but "$1$$" and "?1$$" are a parameter or number, then a
		// dollar quote.
		{DialectPostgres, "SELECT $0$$ A", "SELECT ??"},
		{DialectPostgres, "SELECT ?1$$ A", "SELECT ??"},
		{DialectMySQL, "SELECT 'a\\\\', \"b\", `c``d` FROM t # comment 'x'\nWHERE e = 1", "SELECT ?, ?, `c``d` FROM t WHERE e = ?"},
		{DialectMySQL, "SELECT a--1, b -- comment 'x'\nFROM t", "SELECT a-?, b FROM t"},
		{DialectMySQL, "SELECT /*!40001 SQL_NO_CACHE */ a, /*+ BKA(t) */ b FROM t", "SELECT a, b FROM t"},
		{DialectMySQL, "SELECT /*! 'x */ ' */ a FROM t", "SELECT ?"},
		{DialectMySQL, "SELECT X'0aFF', x'zz', 0x1F, b'0101', 0b11, _utf8mb4'z', N'n'", "SELECT ?, ?"},
		{DialectMySQL, "SELECT @v := 1, @@session.sql_mode, $a FROM t", "SELECT @v := ?, @@session.sql_mode, $a FROM t"},
		{DialectMySQL, "SELECT :B'2'A, :n", "SELECT :?"},
		{DialectPostgres, "SELECT :E'a\\'b' c, :U&'d', :n", "SELECT :? c, :?, ?"},
		{DialectSQLite, "SELECT [a b], `c`, \"t\".\"d\", \"e\" FROM \"t\" WHERE x = X'0A'", "SELECT [a b], `c`, \"t\".\"d\", ? FROM \"t\" WHERE x = ?"},
		{DialectSQLite, "SELECT :a, @b, $c, #d, ?3, $e::f(g) FROM t", "SELECT ?, ?, ?, ?, ?, ? FROM t"},
		{DialectSQLite, "INSERT INTO \"t\" (\"a\", \"b\") VALUES (\"x\", 1) ON CONFLICT (\"a\") DO UPDATE SET \"b\" = excluded.\"b\"", "INSERT INTO \"t\" (\"a\", \"b\") VALUES (?, ?) ON CONFLICT (?) DO UPDATE SET \"b\" = excluded.\"b\""},
		{DialectSQLite, "SELECT 'a\\', 'b'", "SELECT ?, ?"},
		{DialectGeneric, "SELECT `a`, `1b`, [c] FROM t", "SELECT `a`, ?, [c] FROM t"},
		{DialectGeneric, "SELECT 1--x\n, 2", "SELECT ? , ?"},
		{DialectGeneric, "SELECT 1--'x\n, 2", "SELECT ??"},
		{DialectGeneric, "SELECT $$a$$, $1, :name, @v FROM t", "SELECT ?, ?, ?, @v FROM t"},
		// SQLite's parameter runs on through "$", where PostgreSQL may
		// open a dollar quote.
		{DialectGeneric, "SELECT $0$$ A", "SELECT ?"},
		{DialectGeneric, "SELECT :0$$ A", "SELECT ?"},
		{DialectGeneric, "SELECT :$$ A", "SELECT :?"},
		{DialectGeneric, "SELECT $fn$ 0$fn$A", "SELECT ?"},
		{DialectGeneric, "SELECT $$ 0.$$A", "SELECT ?"},
		{DialectGeneric, "SELECT 0$$$$A", "SELECT ?"},
		{DialectGeneric, "SELECT $fn$ 0$fn$ A", "SELECT ? A"},
		{DialectGeneric, "SELECT :$$ x $$, :$a", "SELECT :?, :?"},
		{DialectGeneric, "SELECT ?1$$ A", "SELECT ?"},
		{DialectGeneric, "SELECT 'a\\\\', 'b\\'c'", "SELECT ?, ?"},
		{DialectGeneric, "SELECT 1 /* a /* b */ c */ , 2", "SELECT ? ?"},
		{DialectGeneric, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, DEFAULT), (4, 'c'), (5, 'd')", "INSERT INTO t VALUES (?, ?), (?, DEFAULT), (?, ?)"},
		{DialectGeneric, "INSERT INTO t (a) VALUES (1), (2) ON CONFLICT (a) DO NOTHING", "INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO NOTHING"},
		{DialectGeneric, "SELECT * FROM (VALUES (1, 'x'), (2, 'y')) AS v (id, name) WHERE id IN (1, 2, 3)", "SELECT * FROM (VALUES (?, ?)) AS v (id, name) WHERE id IN (?)"},
		{DialectGeneric, "SELECT 'a\x00b', c\x00d", "SELECT ?, c?"},
	} {
		if got := FingerprintDialect(tc.d, tc.query); got != tc.want {
			t.Errorf("%s %q:\n got  %q\n want %q", tc.d, tc.query, got, tc.want)
		}
		if msg := checkNoLeak(tc.d, tc.query); msg != "" {
			t.Error(msg)
		}
	}
}

// TestFingerprintBatchesShareOneFingerprint: batch inserts of any size,
// and IN lists of any length, give one fingerprint.
func TestFingerprintBatchesShareOneFingerprint(t *testing.T) {
	for d := Dialect(0); d < numDialects; d++ {
		seen := map[string]bool{}
		for n := 1; n <= 50; n += 7 {
			var b strings.Builder
			b.WriteString("INSERT INTO t (a, b) VALUES ")
			for k := 0; k < n; k++ {
				if k > 0 {
					b.WriteString(",\n  ")
				}
				b.WriteString("('v', 'w')")
			}
			b.WriteString(" RETURNING id")
			seen[FingerprintDialect(d, b.String())] = true
			seen[FingerprintDialect(d, "INSERT INTO t (a, b) VALUES (?, ?) RETURNING id")] = true
		}
		if len(seen) != 1 {
			t.Errorf("%s: %d fingerprints for one batch shape: %v", d, len(seen), seen)
		}
	}
}
