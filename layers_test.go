package verdict_test

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/verdict-obs/verdict/internal/testutil"
)

const module = "github.com/verdict-obs/verdict"

// pkg is what `go list -deps -json` says of one package.
type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

// list returns the packages of patterns and their dependencies (tests
// excluded, as users build them), by import path.
func list(t *testing.T, patterns ...string) map[string]pkg {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		if testutil.CI() {
			t.Fatalf("no go command under CI=true: %v", err)
		}
		t.Skipf("no go command to list the import graph: %v", err)
	}
	cmd := exec.Command(gobin, append([]string{"list", "-deps", "-json=ImportPath,Imports,Standard"}, patterns...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

func under(path, dir string) bool {
	return path == module+"/"+dir || strings.HasPrefix(path, module+"/"+dir+"/")
}

// The layering of ARCHITECTURE: the tracer reaches eBPF only as a probe
// (it imports nothing under bpf/, and among everything it links, only
// probes and bpf itself import bpf); instrumentation imports neither the
// tracer nor bpf; bpf knows nothing of OpenTelemetry; only bpf imports
// cilium/ebpf and x/sys/unix.
func TestLayers(t *testing.T) {
	all := list(t, "./...")
	tracerDeps := deps(all, module+"/tracer")
	var linked []string
	for path, p := range all {
		if !strings.HasPrefix(path, module) {
			continue
		}
		if under(path, "bpf") && tracerDeps[path] {
			linked = append(linked, path)
		}
		for _, imp := range p.Imports {
			switch {
			case under(path, "tracer") && under(imp, "bpf"):
				t.Errorf("%s imports %s: the tracer reaches eBPF through probes/ebpf only", path, imp)
			case tracerDeps[path] && under(imp, "bpf") && !under(path, "bpf") && !under(path, "probes"):
				t.Errorf("%s, linked by the tracer, imports %s: only probes use bpf", path, imp)
			case (strings.HasPrefix(imp, "github.com/cilium/ebpf") || imp == "golang.org/x/sys/unix") && !under(path, "bpf"):
				t.Errorf("%s imports %s: only bpf talks to the kernel", path, imp)
			case strings.HasPrefix(imp, "go.opentelemetry.io/otel/sdk") && !under(path, "tracer") && !under(path, "examples") && !testHelper(path, tracerDeps):
				t.Errorf("%s imports %s: only the tracer wires the SDK", path, imp)
			}
		}
	}
	for _, root := range []string{"middleware", "sqlxprobe"} {
		for path := range deps(all, module+"/"+root) {
			if under(path, "tracer") || under(path, "bpf") {
				t.Errorf("%s depends on %s: instrumentation talks to the OpenTelemetry API only", root, path)
			}
		}
	}
	for path := range all {
		if !under(path, "bpf") {
			continue
		}
		for dep := range deps(all, path) {
			if strings.HasPrefix(dep, "go.opentelemetry.io/") {
				t.Errorf("%s depends on %s: bpf is the kernel mechanism only", path, dep)
			}
		}
	}
	t.Logf("the tracer links %d bpf packages, each through probes only: %v", len(linked), linked)
}

// testHelper reports whether path is an internal test-helper package
// (internal/…test, e.g. internal/probetest) that the tracer does not link:
// such a package may start a tracer's SDK for the tests that use it.
func testHelper(path string, tracerDeps map[string]bool) bool {
	return under(path, "internal") && strings.HasSuffix(path, "test") && !tracerDeps[path]
}

// deps returns root and every package it depends on.
func deps(all map[string]pkg, root string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, imp := range all[p].Imports {
			walk(imp)
		}
	}
	walk(root)
	return seen
}
