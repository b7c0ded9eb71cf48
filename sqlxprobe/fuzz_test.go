package sqlxprobe

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
)

// literalFrames embed a string constant in each literal syntax; %s is
// replaced by the constant, escaped for that syntax.
var literalFrames = []struct {
	frame  string
	escape func(string) string
	ok     func(string) bool // whether the constant can be written in this syntax
}{
	{"SELECT a FROM t WHERE b = '%s' AND c = 1", doubleQuotes, noBackslash},
	{"SELECT a FROM t WHERE b IN ('%s', 'x') OR c = 2", doubleQuotes, noBackslash},
	{"INSERT INTO t (a) VALUES (E'%s')", backslashQuotes, always},
	{"SELECT a FROM t WHERE b = N'%s'", doubleQuotes, noBackslash},
	{"SELECT $$%s$$ AS body", ident, func(s string) bool { return !strings.Contains(s, "$$") }},
	{"SELECT $q$%s$q$ AS body", ident, func(s string) bool { return !strings.Contains(s, "$q$") }},
	{"SELECT a FROM t WHERE b = '%s'::text", doubleQuotes, noBackslash},
}

func doubleQuotes(s string) string { return strings.ReplaceAll(s, "'", "''") }
func backslashQuotes(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`)
}
func ident(s string) string     { return s }
func noBackslash(s string) bool { return !strings.Contains(s, `\`) }
func always(string) bool        { return true }

func FuzzFingerprint(f *testing.F) {
	entries, err := sqlcorpus.Read("testdata/queries.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(e.Query, "secret-42")
	}
	f.Add("SELECT '", "it's")
	f.Add("/* /* */", "x\ny")
	f.Add("$a$ $b$", "$$")
	f.Fuzz(func(t *testing.T, q, lit string) {
		// Any input: no panic, never longer than the input, idempotent
		// in the sense that a fingerprint has no literals left to find.
		out := Fingerprint(q)
		if len(out) > len(q) {
			t.Fatalf("output longer than input: %q -> %q", q, out)
		}
		if utf8.ValidString(q) && !utf8.ValidString(out) {
			t.Fatalf("valid UTF-8 input gave invalid output: %q -> %q", q, out)
		}
		// A string constant in any literal syntax never reaches the output.
		if len(lit) < 3 || strings.ContainsAny(lit, "?") || strings.TrimSpace(lit) != lit {
			return
		}
		for _, fr := range literalFrames {
			if !fr.ok(lit) {
				continue
			}
			query := strings.Replace(fr.frame, "%s", fr.escape(lit), 1)
			if strings.Count(query, lit) != 1 {
				continue // the constant also occurs in the frame's own text
			}
			if got := Fingerprint(query); strings.Contains(got, lit) {
				t.Fatalf("literal %q leaked:\n query %q\n got   %q", lit, query, got)
			}
		}
	})
}

// refFingerprint runs the reference (token-by-token) implementation.
func refFingerprint(q string) string {
	out := make([]byte, len(q))
	return string(out[:refFingerprintInto(out, q)])
}

// FuzzFingerprintDifferential: the verbatim-copy implementation writes
// exactly what the simpler token-by-token one writes.
func FuzzFingerprintDifferential(f *testing.F) {
	entries, err := sqlcorpus.Read("testdata/queries.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		f.Add(e.Query)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if got, want := Fingerprint(q), refFingerprint(q); got != want {
			t.Fatalf("Fingerprint(%q)\n got  %q\n want %q", q, got, want)
		}
	})
}
