package dashboards

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

//go:embed RUNBOOK.md grafana/dashboards/*.json grafana/provisioning prometheus/*.rules.yml
var files embed.FS

// FS returns the embedded files, laid out as the package documentation
// lists them. It is safe for concurrent use.
func FS() fs.FS { return files }

// WriteTo writes every file of [FS] under dir, creating the directories it
// needs. A file that exists is replaced (written to a temporary file in
// the same directory, then renamed, so a server reading the directory never
// sees half a file); other files in dir are left alone. It returns the
// first error, naming the path.
func WriteTo(dir string) error {
	return fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(path))
		if d.IsDir() {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return fmt.Errorf("dashboards: %w", err)
			}
			return nil
		}
		data, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		return writeFile(target, data)
	})
}

func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("dashboards: write %s: %w", path, err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp.Name(), 0o644)
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("dashboards: write %s: %w", path, werr)
	}
	return nil
}
