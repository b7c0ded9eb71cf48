// Package sqlcorpus reads the SQL corpora shared by the sqlxprobe tests and
// the benchmarks in bench/sqlbench: the table of queries with their
// expected fingerprints (sqlxprobe/testdata/queries.txt, [Read]) and the
// statements derived from public SQL corpora per dialect
// (sqlxprobe/testdata/corpus/*.jsonl, [ReadStatements]).
//
// Format: each entry starts with a line "### <dialect>", followed by the
// query (one or more lines, kept verbatim without the final newline) and a
// line ">>> <expected fingerprint>".
package sqlcorpus

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Entry is one query of the corpus.
type Entry struct {
	Line     int    // line of the "###" header
	Dialect  string // pg, mysql, sqlite or generic
	Query    string
	Expected string // "" until the file has expectations
	HasWant  bool
}

// Read parses the corpus file at path.
func Read(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	var (
		out  []Entry
		cur  *Entry
		body []string
	)
	flush := func() {
		if cur != nil {
			cur.Query = strings.Join(body, "\n")
			out = append(out, *cur)
		}
		cur, body = nil, nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "### "):
			flush()
			cur = &Entry{Line: n, Dialect: strings.TrimSpace(line[4:])}
		case strings.HasPrefix(line, ">>> ") || line == ">>>":
			if cur == nil {
				return nil, fmt.Errorf("corpus line %d: expectation without query", n)
			}
			cur.Expected = strings.TrimPrefix(strings.TrimPrefix(line, ">>>"), " ")
			cur.HasWant = true
		default:
			if cur == nil {
				return nil, fmt.Errorf("corpus line %d: text before first ###", n)
			}
			if cur.HasWant {
				return nil, fmt.Errorf("corpus line %d: text after expectation", n)
			}
			body = append(body, line)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read corpus: %w", err)
	}
	return out, nil
}

// Write writes entries in the corpus format, with expectations.
func Write(path string, entries []Entry) error {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "### %s\n%s\n>>> %s\n", e.Dialect, e.Query, e.Expected)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// Statement is one statement of a derived real-world corpus
// (sqlxprobe/testdata/corpus/*.jsonl, see the README there).
type Statement struct {
	Source string `json:"src"` // repository:path it was taken from
	Query  string `json:"q"`
}

// ReadStatements reads a corpus of one JSON object per line,
// {"src": ..., "q": ...}.
func ReadStatements(path string) ([]Statement, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open corpus: %w", err)
	}
	defer f.Close()
	var out []Statement
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		var s Statement
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("corpus %s line %d: %w", path, n, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read corpus: %w", err)
	}
	return out, nil
}
