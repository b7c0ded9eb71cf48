package sqlxprobe

import (
	"flag"
	"strings"
	"testing"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite testdata/queries.txt expectations from the current Fingerprint (review the diff!)")

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
		got := Fingerprint(e.Query)
		if *updateCorpus {
			entries[i].Expected = got
			continue
		}
		if !e.HasWant {
			t.Errorf("line %d: no expectation", e.Line)
			continue
		}
		if got != e.Expected {
			t.Errorf("line %d (%s):\n query %q\n got   %q\n want  %q", e.Line, e.Dialect, e.Query, got, e.Expected)
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

func TestFingerprintNoLiteralLeak(t *testing.T) {
	entries, err := sqlcorpus.Read("testdata/queries.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		got := Fingerprint(e.Query)
		if len(got) > len(e.Query) {
			t.Errorf("line %d: output longer than input", e.Line)
		}
		if strings.Contains(got, "'") && !strings.Contains(e.Query, "'unterminated") {
			t.Errorf("line %d: quote survived in %q", e.Line, got)
		}
	}
}
