package sqlcorpus

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadStatements(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(good, []byte(`{"src": "a:b.sql", "q": "SELECT 'x'\n-- c"}`+"\n"+`{"src": "c", "q": "SELECT 1"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadStatements(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Source != "a:b.sql" || got[0].Query != "SELECT 'x'\n-- c" || got[1].Query != "SELECT 1" {
		t.Fatalf("got %+v", got)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(`{"src": "a", "q": "x"}`+"\n{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStatements(bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line: %v", err)
	}
	if _, err := ReadStatements(filepath.Join(dir, "missing.jsonl")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
