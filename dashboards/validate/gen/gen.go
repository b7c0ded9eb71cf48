// Package gen generates verdict's Grafana dashboards and Prometheus rule
// files, which package dashboards embeds. The generated files are
// committed; the test of this package fails when they differ from what
// the generator produces, and rewrites them with -update:
//
//	cd dashboards/validate && go test ./gen -update
//
// It uses the standard library only: what the files mean is checked by
// the validators of the parent package (strict Grafana schema, PromQL
// parser, promtool, a live Prometheus), not by construction.
package gen

// Files returns every generated file by its path under dashboards/.
func Files() map[string][]byte {
	out := map[string][]byte{
		"prometheus/verdict-recording.rules.yml": RecordingRules(),
		"prometheus/verdict-alerts.rules.yml":    AlertingRules(),
	}
	for _, d := range Dashboards() {
		out["grafana/dashboards/"+d.UID+".json"] = d.JSON()
	}
	return out
}
