package sqlxprobe

import (
	"testing"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
)

// Fuzzing per dialect against the reference readings: for any input the
// fingerprint holds no literal-only word of any reading of its dialect,
// does not depend on literal content, is no longer than the input and
// keeps valid UTF-8 valid (checkNoLeak). CI runs each target for a
// bounded time (.ci/run).

// fuzzSeeds are statements that exercise the places where readings
// differ.
var fuzzSeeds = []string{
	`SELECT * FROM f WHERE dir = 'C:\' AND owner = 'alice-secret-token'`,
	"SELECT * FROM t WHERE a # 1 = 0 AND note = 'x\nsecret-part'",
	`SELECT * FROM p WHERE name = N'O\'Brien' AND ssn = '123-45-6789'`,
	`SELECT 'single', "double"`,
	"SELECT E'a'\n'b\\'c' AS x, 'd'",
	"SELECT $fn$ it's $fn$, $1, \"Col\" FROM t WHERE a @> '{}' AND b #> '{a}' = 'x'",
	`INSERT INTO "t" ("a", "b") VALUES ("x", 'y'), ("z", 'w')`,
	"SELECT `a`, `1b`, [c d] FROM t -- c\n WHERE x = 1--2\n",
	"SELECT /*! STRAIGHT_JOIN */ a FROM t /* a /* b */ c */ WHERE b = X'0A' AND c = 0x1F",
	"SELECT :name, @var, $p, #h, ?1, $1 FROM t WHERE a = $x(y) AND b = U&'d\\0061t'",
	"SELECT 1--'a\n, 'secret'",
	"SELECT 12E'x', 1.5e+3, .5, B'0101', _utf8mb4'z' COLLATE c",
}

func fuzzDialect(f *testing.F, d Dialect) {
	for _, q := range fuzzSeeds {
		f.Add(q)
	}
	if entries, err := sqlcorpus.Read("testdata/queries.txt"); err == nil {
		for _, e := range entries {
			f.Add(e.Query)
		}
	}
	f.Fuzz(func(t *testing.T, q string) {
		if msg := checkNoLeak(d, q); msg != "" {
			t.Fatalf("query %q\n%s", q, msg)
		}
	})
}

func FuzzFingerprintGeneric(f *testing.F)  { fuzzDialect(f, DialectGeneric) }
func FuzzFingerprintPostgres(f *testing.F) { fuzzDialect(f, DialectPostgres) }
func FuzzFingerprintMySQL(f *testing.F)    { fuzzDialect(f, DialectMySQL) }
func FuzzFingerprintSQLite(f *testing.F)   { fuzzDialect(f, DialectSQLite) }
