package dashboards

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStdlibOnly: the package and its command import the standard library
// and this package only, so that depending on verdict's dashboards costs
// nothing (the validators live in the nested module dashboards/validate).
func TestStdlibOnly(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	cmd, _ := filepath.Glob("cmd/*/*.go")
	for _, f := range append(files, cmd...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		pf, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range pf.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && path != "github.com/verdict-obs/verdict/dashboards" {
				t.Errorf("%s imports %s: the dashboards package uses the standard library only", f, path)
			}
		}
	}
}
