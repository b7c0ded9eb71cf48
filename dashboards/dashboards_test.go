package dashboards

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantFiles are the files the package documentation promises.
var wantFiles = []string{
	"RUNBOOK.md",
	"grafana/dashboards/verdict-go-runtime.json",
	"grafana/dashboards/verdict-http-grpc.json",
	"grafana/dashboards/verdict-kernel.json",
	"grafana/dashboards/verdict-overview.json",
	"grafana/dashboards/verdict-sql.json",
	"grafana/provisioning/dashboards/verdict.yaml",
	"grafana/provisioning/datasources/verdict.yaml",
	"prometheus/verdict-alerts.rules.yml",
	"prometheus/verdict-recording.rules.yml",
}

func embedded(t *testing.T) []string {
	t.Helper()
	var got []string
	err := fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			got = append(got, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestFS(t *testing.T) {
	got := embedded(t)
	if strings.Join(got, "\n") != strings.Join(wantFiles, "\n") {
		t.Fatalf("embedded files:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantFiles, "\n"))
	}
	for _, p := range got {
		data, _ := fs.ReadFile(FS(), p)
		if len(data) < 100 {
			t.Errorf("%s: %d bytes", p, len(data))
		}
	}
}

// TestWriteTo: every file lands with the embedded content, a second
// write replaces them (provisioning re-run) without leaving temporary
// files, and other files in the directory stay.
func TestWriteTo(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "grafana", "dashboards", "mine.json")
	for range 2 {
		if err := WriteTo(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(other, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var written []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			written = append(written, filepath.ToSlash(rel))
		}
		return err
	})
	want := append([]string{"grafana/dashboards/mine.json"}, wantFiles...)
	if len(written) != len(want) {
		t.Fatalf("written %v, want %v", written, want)
	}
	for _, p := range wantFiles {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		exp, _ := fs.ReadFile(FS(), p)
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from the embedded file", p)
		}
	}
}

// TestWriteToError: a path that cannot be written is an error naming it,
// not a panic or a partial success.
func TestWriteToError(t *testing.T) {
	dir := t.TempDir()
	// A file where WriteTo needs a directory.
	if err := os.WriteFile(filepath.Join(dir, "grafana"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteTo(dir)
	if err == nil || !strings.Contains(err.Error(), "grafana") {
		t.Fatalf("WriteTo over a file: %v, want an error naming grafana", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Errorf("error %v does not wrap the *fs.PathError", err)
	}
}
