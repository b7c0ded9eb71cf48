package sqlxprobe

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/verdict-obs/verdict/internal/semconv"
)

func TestDialectForDriver(t *testing.T) {
	for name, want := range map[string]Dialect{
		"postgres":         DialectPostgres,
		"pgx":              DialectPostgres,
		"pgx/v5":           DialectPostgres,
		"pq":               DialectPostgres,
		"cloudsqlpostgres": DialectPostgres,
		"mysql":            DialectMySQL,
		"nrmysql":          DialectMySQL,
		"mariadb":          DialectMySQL,
		"sqlite":           DialectSQLite,
		"sqlite3":          DialectSQLite,
		"SQLite3_extended": DialectSQLite,
		"libsql":           DialectSQLite,
		"sqlserver":        DialectGeneric,
		"":                 DialectGeneric,
	} {
		if got := DialectForDriver(name); got != want {
			t.Errorf("DialectForDriver(%q) = %s, want %s", name, got, want)
		}
	}
	for d, s := range map[Dialect]string{DialectGeneric: "generic", DialectPostgres: "postgresql", DialectMySQL: "mysql", DialectSQLite: "sqlite", Dialect(42): "generic"} {
		if d.String() != s {
			t.Errorf("Dialect(%d).String() = %q, want %q", d, d.String(), s)
		}
	}
	// Out-of-range dialects read as the generic one.
	q := `SELECT "x" FROM t WHERE a = 'it''s'`
	if got, want := FingerprintDialect(Dialect(42), q), Fingerprint(q); got != want {
		t.Errorf("Dialect(42): %q, want the generic %q", got, want)
	}
}

// TestDialectOfInstrumentedDB: db.query.text is read as the driver's
// database by default, and as WithDialect says when given.
func TestDialectOfInstrumentedDB(t *testing.T) {
	// Unresolvable "name" is a string to SQLite; [t] and `t` are names.
	const q = `SELECT "zz", 'x' FROM [t] WHERE ` + "`id`" + ` = 1`
	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{nil, "SELECT ?, ? FROM [t] WHERE `id` = ?"},
		{[]Option{WithDialect(DialectPostgres)}, "SELECT \"zz\", ? FROM [t] WHERE `id` = ?"},
		{[]Option{WithDialect(DialectGeneric)}, "SELECT ?, ? FROM [t] WHERE `id` = ?"},
	} {
		h := newSQLite(t, tc.opts...)
		h.db.MustExec("CREATE TABLE IF NOT EXISTS t (id INTEGER)")
		h.reset()
		rows, err := h.db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
		var text string
		for _, s := range h.ended() {
			if v, ok := attrOf(s, semconv.AttrDBQueryText); ok && strings.HasPrefix(v.AsString(), "SELECT") {
				text = v.AsString()
			}
		}
		if text != tc.want {
			t.Errorf("db.query.text %q, want %q", text, tc.want)
		}
	}
	// SQLite really reads the unresolvable "zz" as the string 'zz'.
	db, err := sql.Open("sqlite", "file:dqs?mode=memory")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow(`SELECT "zz"`).Scan(&s); err != nil || s != "zz" {
		t.Fatalf(`SELECT "zz" = %q, %v; want the string zz`, s, err)
	}
}

func TestKeywordHash(t *testing.T) {
	seen := map[uint]string{}
	for _, k := range keywordList {
		h := kwHash(k.word)
		if other, ok := seen[h]; ok {
			t.Fatalf("keywords %q and %q share slot %d", k.word, other, h)
		}
		seen[h] = k.word
		for _, w := range []string{k.word, strings.ToUpper(k.word), strings.ToUpper(k.word[:1]) + k.word[1:]} {
			if keyword(w) != k.class {
				t.Errorf("keyword(%q) = %d, want %d", w, keyword(w), k.class)
			}
		}
	}
	for _, w := range []string{"i", "ix", "froms", "selectx", "valuez", "rows", "into_", "t"} {
		if keyword(w) != kwNone {
			t.Errorf("keyword(%q) = %d", w, keyword(w))
		}
	}
}
