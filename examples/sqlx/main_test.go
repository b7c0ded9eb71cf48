package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The example writes and reads its table, shows the query's fingerprint
// without its literals and the pool under its name.
func TestExample(t *testing.T) {
	for k, v := range map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
		"OTEL_LOGS_EXPORTER": "none", "VERDICT_EBPF": "off"} {
		t.Setenv(k, v)
	}
	var out bytes.Buffer
	if err := run(context.Background(), &out, filepath.Join(t.TempDir(), "shop.db")); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"espresso: 10\nlatte: 10\nmocha: 10\n", "its span has: SELECT item, count FROM stock WHERE count > ? AND item <> ? ORDER BY item",
		"pool shop (sqlite): "} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if !regexp.MustCompile(`trace [0-9a-f]{32}\n`).MatchString(s) {
		t.Errorf("no trace ID:\n%s", s)
	}
}
