package validate

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/verdict-obs/verdict/tracer"
)

// TestLokiDerivedFieldMatchesVerdictLogs: the regex derived field of the
// Loki datasource extracts the trace ID from the lines verdict's console
// logger really writes, in both formats, for a record logged inside a
// span; and finds nothing in a record logged outside one.
func TestLokiDerivedFieldMatchesVerdictLogs(t *testing.T) {
	var re *regexp.Regexp
	for _, d := range loadDatasources(t).Datasources {
		if d.Type != "loki" {
			continue
		}
		for _, fv := range d.JSONData["derivedFields"].([]any) {
			f := fv.(map[string]any)
			if f["matcherType"] == "regex" {
				re = regexp.MustCompile(f["matcherRegex"].(string))
			}
		}
	}
	if re == nil {
		t.Fatal("no regex derived field in the Loki datasource")
	}
	for _, format := range []tracer.ConsoleFormat{tracer.ConsoleText, tracer.ConsoleJSON} {
		t.Run(format.String(), func(t *testing.T) {
			t.Setenv("OTEL_TRACES_EXPORTER", "none")
			t.Setenv("OTEL_METRICS_EXPORTER", "none")
			t.Setenv("OTEL_LOGS_EXPORTER", "none")
			var buf bytes.Buffer
			tr, err := tracer.Start(context.Background(), tracer.WithConsoleFormat(format), tracer.WithConsoleWriter(&buf),
				tracer.WithoutGlobals(), tracer.WithEBPF(tracer.EBPFOff), tracer.WithoutRuntimeProbe())
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				tr.Shutdown(ctx)
			}()
			tr.Logger().Info("outside any span")
			ctx, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "op")
			tr.Logger().InfoContext(ctx, "inside a span", "order", 42)
			span.End()
			want := span.SpanContext().TraceID().String()
			var inside, outside string
			for _, line := range strings.Split(buf.String(), "\n") {
				switch {
				case strings.Contains(line, "inside a span"):
					inside = line
				case strings.Contains(line, "outside any span"):
					outside = line
				}
			}
			m := re.FindStringSubmatch(inside)
			if m == nil || m[1] != want {
				t.Errorf("%s line %q: derived field %v, want trace ID %s", format, inside, m, want)
			}
			if m := re.FindStringSubmatch(outside); m != nil {
				t.Errorf("%s line %q outside a span: derived field %v", format, outside, m)
			}
			t.Logf("%s: %s", format, inside)
		})
	}
}

// TestDashboardProvider: the dashboard provider file decodes strictly in
// Grafana's format and points at a directory.
func TestDashboardProvider(t *testing.T) {
	f, err := os.Open(Root + "/grafana/provisioning/dashboards/verdict.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name                  string `yaml:"name"`
			OrgID                 int    `yaml:"orgId"`
			Folder                string `yaml:"folder"`
			FolderUID             string `yaml:"folderUid"`
			Type                  string `yaml:"type"`
			DisableDeletion       bool   `yaml:"disableDeletion"`
			AllowUIUpdates        bool   `yaml:"allowUiUpdates"`
			UpdateIntervalSeconds int    `yaml:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `yaml:"path"`
				FoldersFromFilesStructure bool   `yaml:"foldersFromFilesStructure"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != 1 || len(p.Providers) != 1 || p.Providers[0].Type != "file" || !strings.HasPrefix(p.Providers[0].Options.Path, "/") {
		t.Errorf("provider %+v", p)
	}
}
