package gen

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated files under dashboards/")

// root is the dashboards/ directory, seen from this package's directory.
const root = "../.."

// TestGenerated: the committed files are what the generator produces, so
// an edit by hand (or a generator change without -update) fails here.
func TestGenerated(t *testing.T) {
	files := Files()
	for path, want := range files {
		full := filepath.Join(root, filepath.FromSlash(path))
		if *update {
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(full, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(full)
		if err != nil {
			t.Errorf("%s: %v (run go test ./gen -update in dashboards/validate)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output (run go test ./gen -update in dashboards/validate)", path)
		}
	}
	// No stale generated file: every dashboard JSON is generated.
	matches, _ := filepath.Glob(filepath.Join(root, "grafana", "dashboards", "*.json"))
	for _, m := range matches {
		rel, _ := filepath.Rel(root, m)
		if _, ok := files[filepath.ToSlash(rel)]; !ok {
			if *update {
				os.Remove(m)
				continue
			}
			t.Errorf("%s is not generated any more: remove it", rel)
		}
	}
}
