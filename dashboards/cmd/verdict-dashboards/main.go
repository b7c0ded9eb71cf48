// Command verdict-dashboards writes verdict's Grafana dashboards, Grafana
// provisioning files, Prometheus rules and runbook (package dashboards)
// into a directory:
//
//	go run github.com/verdict-obs/verdict/dashboards/cmd/verdict-dashboards -o ./observability
//
// It prints the files it wrote, one per line. Existing files of the same
// names are replaced; others are left alone.
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/verdict-obs/verdict/dashboards"
)

func main() {
	out := flag.String("o", "", "directory to write into (created if missing)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: verdict-dashboards -o DIR\n\nWrites verdict's dashboards, provisioning files, rules and runbook into DIR.\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := dashboards.WriteTo(*out); err != nil {
		fmt.Fprintln(os.Stderr, "verdict-dashboards:", err)
		os.Exit(1)
	}
	_ = fs.WalkDir(dashboards.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			fmt.Println(filepath.Join(*out, filepath.FromSlash(p)))
		}
		return err
	})
}
