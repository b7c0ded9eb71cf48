package sqlxprobe

import (
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/lib/pq"

	"github.com/verdict-obs/verdict/internal/pgtest"
	"github.com/verdict-obs/verdict/internal/sqlcorpus"
)

// The reference readings checked against the databases themselves: a real
// PostgreSQL 15 server (internal/pgtest) and SQLite (modernc.org/sqlite).

// randomContent returns a string of characters that matter to SQL lexers,
// with a marker word that must never reach a fingerprint.
func randomContent(r *rand.Rand, marker string, nul bool) string {
	const alphabet = "'\"\\`$#-/*[]?:@;(),.=\n\r\t abcXYZ019_é"
	var b strings.Builder
	n := r.IntN(24)
	at := r.IntN(n + 1)
	for k := 0; k <= n; k++ {
		if k == at {
			b.WriteString(marker)
		}
		if k < n {
			runes := []rune(alphabet)
			b.WriteRune(runes[r.IntN(len(runes))])
		}
	}
	if nul && r.IntN(8) == 0 {
		b.WriteByte(0)
	}
	return b.String()
}

func dollarTag(s string, r *rand.Rand) string {
	for {
		tag := fmt.Sprintf("$t%d$", r.IntN(1000))
		if r.IntN(4) == 0 {
			tag = "$$"
		}
		if !strings.Contains(s+"$", tag) && !strings.Contains("$"+s, tag) {
			return tag
		}
	}
}

// pgEncodings writes s as a PostgreSQL string constant in every syntax.
func pgEncodings(s string, r *rand.Rand) map[string]string {
	esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s)
	half := len(esc) / 2
	for half > 0 && (esc[half-1] == '\\' || !utf8.RuneStart(esc[half])) { // not inside an escape or a character
		half--
	}
	tag := dollarTag(s, r)
	return map[string]string{
		"standard":     "'" + strings.ReplaceAll(s, "'", "''") + "'",
		"escape":       "E'" + esc + "'",
		"continuation": "E'" + esc[:half] + "'\n  -- between\n  '" + esc[half:] + "'",
		"dollar":       tag + s + tag,
		"unicode":      "U&'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'",
	}
}

func TestFingerprintPostgresServer(t *testing.T) {
	srv := pgtest.Require(t)
	db, err := sql.Open("postgres", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	t.Run("issue statements", func(t *testing.T) {
		// What PostgreSQL itself returns as the value of each literal.
		for _, tc := range []struct{ sql, col, value string }{
			{`SELECT 'C:\' AS dir, 'alice-secret-token' AS owner`, "owner", "alice-secret-token"},
			{"SELECT 3 # 1 AS x, 'x\nsecret-part' AS note", "note", "x\nsecret-part"},
			{"SELECT E'a'\n'b\\'c' AS s", "s", "ab'c"},
			{"SELECT $q$it's$q$ AS s", "s", "it's"},
		} {
			rows, err := db.Query(tc.sql)
			if err != nil {
				t.Fatalf("%q: %v", tc.sql, err)
			}
			cols, _ := rows.Columns()
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for k := range vals {
				ptrs[k] = &vals[k]
			}
			if !rows.Next() {
				t.Fatalf("%q: no row", tc.sql)
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			rows.Close()
			for k, c := range cols {
				if c == tc.col && vals[k].String != tc.value {
					t.Errorf("%q: %s = %q, want %q", tc.sql, c, vals[k].String, tc.value)
				}
			}
			for _, d := range []Dialect{DialectPostgres, DialectGeneric} {
				fp := FingerprintDialect(d, tc.sql)
				words := map[string]bool{}
				wordsOf(tc.value, words)
				for w := range words {
					if len(w) > 2 && strings.Contains(fp, w) {
						t.Errorf("%s: %q of the value %q in %q", d, w, tc.value, fp)
					}
				}
			}
		}
	})

	t.Run("corpus literals", func(t *testing.T) {
		// Every literal the PostgreSQL reading finds in the corpus is one
		// complete constant to the server: SELECT <literal> parses.
		stmts, err := sqlcorpus.ReadStatements("testdata/corpus/postgres.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		numeric := regexp.MustCompile(`^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$`)
		seen := map[string]bool{}
		var checked, valueErrors int
		for _, st := range stmts {
			for _, tok := range readPostgres.lex(st.Query) {
				if tok.kind != rLiteral || tok.bodyStart == len(st.Query) && tok.bodyEnd == len(st.Query) {
					continue // not a literal, or unterminated
				}
				text := st.Query[tok.start:tok.end]
				if seen[text] || strings.IndexByte(text, 0) >= 0 {
					continue
				}
				if c := text[0]; (c >= '0' && c <= '9' || c == '.') && !numeric.MatchString(text) {
					continue // trailing junk: an error by design
				}
				seen[text] = true
				checked++
				_, err := db.Exec("SELECT " + text)
				var pqe *pq.Error
				if err == nil || !errors.As(err, &pqe) {
					if err != nil {
						t.Fatalf("%q: %v", text, err)
					}
					continue
				}
				// Bad escapes or digits inside a complete constant are
				// value errors; anything else means the server read the
				// text differently.
				if pqe.Code != "42601" || strings.Contains(pqe.Message, "Unicode") || strings.Contains(pqe.Message, "escape") {
					valueErrors++
					continue
				}
				t.Errorf("%s: literal %q: %s (%s)", st.Source, text, pqe.Message, pqe.Code)
			}
		}
		t.Logf("%d distinct literals of %d statements are single constants to PostgreSQL 15 (%d with invalid values inside)", checked, len(stmts), valueErrors)
		if checked < 1000 {
			t.Errorf("only %d literals checked", checked)
		}
	})

	t.Run("random constants", func(t *testing.T) {
		// Random text in every PostgreSQL string syntax: the server
		// returns the text, and no fingerprint shows its marker.
		r := rand.New(rand.NewPCG(10, 10))
		for k := 0; k < 300; k++ {
			marker := fmt.Sprintf("zqx%dmark", k)
			s := randomContent(r, marker, false)
			for kind, enc := range pgEncodings(s, r) {
				var got string
				if err := db.QueryRow("SELECT " + enc).Scan(&got); err != nil {
					t.Fatalf("%s %q: %v", kind, enc, err)
				}
				if got != s {
					t.Fatalf("%s %q: server read %q, want %q", kind, enc, got, s)
				}
				q := "SELECT a FROM t WHERE b = " + enc + " AND c IN (1, 2) ORDER BY a"
				for _, d := range []Dialect{DialectPostgres, DialectGeneric} {
					if fp := FingerprintDialect(d, q); strings.Contains(fp, marker) {
						t.Fatalf("%s: %s literal %q leaked: %q", d, kind, enc, fp)
					}
					if msg := checkNoLeak(d, q); msg != "" {
						t.Fatal(msg)
					}
				}
			}
		}
	})
}

func TestFingerprintSQLiteEngine(t *testing.T) {
	db, err := sql.Open("sqlite", "file:fingerprint_engine?mode=memory")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (id INTEGER, b TEXT)`); err != nil {
		t.Fatal(err)
	}

	t.Run("double-quoted names", func(t *testing.T) {
		// Where the SQLite dialect keeps "name", SQLite reads a name (an
		// unknown one is an error, not a string); where it redacts,
		// SQLite reads an unknown "name" as a string.
		for _, tc := range []struct {
			sql   string
			err   string // "" if it runs
			value string // the string SQLite made of "zz", if it runs
		}{
			{`SELECT "zz"`, "", "zz"},
			{`SELECT id FROM t WHERE b = "zz" UNION ALL SELECT "zz"`, "", "zz"},
			{`SELECT "nosuch"."id" FROM t`, "no such column", ""},
			{`SELECT t."nosuch" FROM t`, "no such column", ""},
			{`SELECT * FROM "nosuch"`, "no such table", ""},
			{`SELECT * FROM t JOIN "nosuch" ON 1`, "no such table", ""},
			{`INSERT INTO "nosuch" (id) VALUES (1)`, "no such table", ""},
			{`INSERT INTO t ("nosuch") VALUES (1)`, "no column named nosuch", ""},
			{`UPDATE t SET "nosuch" = 1`, "no such column", ""},
			{`UPDATE "nosuch" SET id = 1`, "no such table", ""},
			{`DROP TABLE "nosuch"`, "no such table", ""},
			{`DROP VIEW "nosuch"`, "no such view", ""},
			{`DROP INDEX "nosuch"`, "no such index", ""},
			{`DROP TRIGGER "nosuch"`, "no such trigger", ""},
		} {
			var got string
			err := db.QueryRow(tc.sql).Scan(&got)
			if errors.Is(err, sql.ErrNoRows) {
				err = nil
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("%q: %v", tc.sql, err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("%q: error %v, want %q", tc.sql, err, tc.err)
			case tc.err == "" && got != tc.value:
				t.Errorf("%q = %q, want %q", tc.sql, got, tc.value)
			}
			fp := FingerprintDialect(DialectSQLite, tc.sql)
			if tc.value != "" && strings.Contains(fp, `"zz"`) {
				t.Errorf("%q: SQLite read the string %q, fingerprint kept it: %q", tc.sql, tc.value, fp)
			}
			if tc.err != "" && !strings.Contains(fp, `"nosuch"`) {
				t.Logf("%q: the name is redacted (%q), which costs only detail", tc.sql, fp)
			}
		}
	})

	t.Run("corpus literals", func(t *testing.T) {
		stmts, err := sqlcorpus.ReadStatements("testdata/corpus/sqlite.jsonl")
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		checked := 0
		for _, st := range stmts {
			for _, tok := range readSQLite.lex(st.Query) {
				if tok.kind != rLiteral || tok.bodyStart == len(st.Query) && tok.bodyEnd == len(st.Query) {
					continue
				}
				text := st.Query[tok.start:tok.end]
				if seen[text] || strings.IndexByte(text, 0) >= 0 {
					continue
				}
				seen[text] = true
				checked++
				if _, err := db.Exec("SELECT " + text); err != nil &&
					(strings.Contains(err.Error(), "unrecognized token") || strings.Contains(err.Error(), "syntax error")) {
					t.Errorf("%s: literal %q: %v", st.Source, text, err)
				}
			}
		}
		t.Logf("%d distinct literals of %d statements are single constants to SQLite", checked, len(stmts))
	})

	t.Run("random constants", func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 11))
		for k := 0; k < 300; k++ {
			marker := fmt.Sprintf("zqx%dmark", k)
			s := randomContent(r, marker, false)
			for kind, enc := range map[string]string{
				"string": "'" + strings.ReplaceAll(s, "'", "''") + "'",
				"blob":   fmt.Sprintf("X'%X'", s),
			} {
				var got []byte
				if err := db.QueryRow("SELECT " + enc).Scan(&got); err != nil {
					t.Fatalf("%s %q: %v", kind, enc, err)
				}
				if string(got) != s {
					t.Fatalf("%s %q: SQLite read %q, want %q", kind, enc, got, s)
				}
				q := "SELECT id FROM t WHERE b = " + enc + " AND id IN (1, 2)"
				for _, d := range []Dialect{DialectSQLite, DialectGeneric} {
					if fp := FingerprintDialect(d, q); strings.Contains(fp, marker) || strings.Contains(fp, fmt.Sprintf("%X", marker)) {
						t.Fatalf("%s: %s literal %q leaked: %q", d, kind, enc, fp)
					}
					if msg := checkNoLeak(d, q); msg != "" {
						t.Fatal(msg)
					}
				}
			}
		}
	})
}
