package sqlxprobe

import (
	"os"
	"testing"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
)

// realWorld are the corpora derived from public SQL (testdata/corpus,
// README.md there), per dialect.
var realWorld = []struct {
	file    string
	dialect Dialect
	min     int
}{
	{"testdata/corpus/postgres.jsonl", DialectPostgres, 2000},
	{"testdata/corpus/mysql.jsonl", DialectMySQL, 1500},
	{"testdata/corpus/sqlite.jsonl", DialectSQLite, 600},
}

// TestFingerprintRealWorldCorpus: no literal of any statement survives,
// read as its own dialect and as the generic one (checkNoLeak), and most
// statements are read to their end. FINGERPRINT_CORPUS=path.jsonl:dialect
// adds a corpus (e.g. the full, unsampled set derive.py can write).
func TestFingerprintRealWorldCorpus(t *testing.T) {
	sets := realWorld
	if extra := os.Getenv("FINGERPRINT_CORPUS"); extra != "" {
		var d Dialect
		path := extra
		for k := len(extra) - 1; k >= 0; k-- {
			if extra[k] == ':' {
				path = extra[:k]
				for dd := Dialect(0); dd < numDialects; dd++ {
					if dd.String() == extra[k+1:] {
						d = dd
					}
				}
				break
			}
		}
		sets = append(sets[:len(sets):len(sets)], struct {
			file    string
			dialect Dialect
			min     int
		}{path, d, 1})
	}
	for _, set := range sets {
		stmts, err := sqlcorpus.ReadStatements(set.file)
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) < set.min {
			t.Errorf("%s: %d statements, want at least %d", set.file, len(stmts), set.min)
		}
		var leaks, closedOwn, closedGeneric, bytes int
		for _, st := range stmts {
			bytes += len(st.Query)
			for _, d := range []Dialect{set.dialect, DialectGeneric} {
				if msg := checkNoLeak(d, st.Query); msg != "" {
					leaks++
					if leaks <= 20 {
						t.Errorf("%s (%s):\n  %q\n  %s", set.file, st.Source, st.Query, msg)
					}
				}
			}
			if failedClosed(set.dialect, st.Query) {
				closedOwn++
			}
			if failedClosed(DialectGeneric, st.Query) {
				closedGeneric++
			}
		}
		t.Logf("%s: %d statements (%d bytes), read as %s and as generic: %d leaks; cut short (rest as \"?\"): %d as %s, %d as generic",
			set.file, len(stmts), bytes, set.dialect, leaks, closedOwn, set.dialect, closedGeneric)
	}
}

// TestFingerprintDialectAllocs: at most one allocation per call in every
// dialect over the corpora, none for a statement that passes unchanged.
func TestFingerprintDialectAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not representative under the race detector")
	}
	for _, set := range realWorld {
		stmts, err := sqlcorpus.ReadStatements(set.file)
		if err != nil {
			t.Fatal(err)
		}
		for d := Dialect(0); d < numDialects; d++ {
			for _, st := range stmts {
				if n := testing.AllocsPerRun(10, func() { _ = FingerprintDialect(d, st.Query) }); n > 1 {
					t.Fatalf("%s: %.0f allocs for %q", d, n, st.Query)
				}
			}
		}
	}
	const bound = "SELECT id, name FROM users WHERE id = ? AND org_id = ?"
	for d := Dialect(0); d < numDialects; d++ {
		if n := testing.AllocsPerRun(100, func() { _ = FingerprintDialect(d, bound) }); n != 0 {
			t.Errorf("%s: %.0f allocs for a statement that passes unchanged", d, n)
		}
		if FingerprintDialect(d, bound) != bound {
			t.Errorf("%s: %q changed", d, bound)
		}
	}
}
