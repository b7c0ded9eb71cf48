package dashboards_test

import (
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/verdict-obs/verdict/dashboards"
)

// Write the dashboards, provisioning files, rules and runbook into a
// directory that Grafana and Prometheus mount.
func ExampleWriteTo() {
	dir, err := os.MkdirTemp("", "verdict-observability-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := dashboards.WriteTo(dir); err != nil {
		log.Fatal(err)
	}
	rules, _ := filepath.Glob(filepath.Join(dir, "prometheus", "*.rules.yml"))
	for _, r := range rules {
		fmt.Println(filepath.Base(r))
	}
	// Output:
	// verdict-alerts.rules.yml
	// verdict-recording.rules.yml
}

// List the embedded dashboards.
func ExampleFS() {
	names, _ := fs.Glob(dashboards.FS(), "grafana/dashboards/*.json")
	for _, n := range names {
		fmt.Println(n)
	}
	// Output:
	// grafana/dashboards/verdict-go-runtime.json
	// grafana/dashboards/verdict-http-grpc.json
	// grafana/dashboards/verdict-kernel.json
	// grafana/dashboards/verdict-overview.json
	// grafana/dashboards/verdict-sql.json
}
