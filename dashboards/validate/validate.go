// Package validate checks verdict's dashboards and rules (package
// dashboards) with the tools they are written for: Grafana's schema
// (grafana-foundation-sdk, strict unmarshal and Validate), the Prometheus
// PromQL parser and rule-file parser, promtool, and a real Prometheus
// scraping a service built from verdict's public API.
//
// It is a nested module, like bench/, so that the library's go.mod does
// not carry Grafana's SDK and Prometheus's server module. Its tests are
// the acceptance of the dashboards: run them with
//
//	cd dashboards/validate && go test -count=1 ./...
//
// (.ci/run does). The live test needs Debian's prometheus package; as
// root it also turns eBPF on, so that the kernel panels' metrics exist.
package validate

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// Root is the dashboards/ directory seen from this module's root
// package directory.
const Root = ".."

func init() { plugins.RegisterDefaultPlugins() }

// Expr is a query found in a dashboard, a rule file or a provisioning
// file, with where it was found.
type Expr struct {
	Where string // "verdict-sql.json: panel 3 \"P99 by query summary\" target B"
	Query string // as written (Grafana variables not substituted)
	Kind  string // "promql" or "logql" or "traceql"
}

// Dashboard is a parsed dashboard file.
type Dashboard struct {
	File  string
	Raw   map[string]any
	Model *dashboard.Dashboard
}

// LoadDashboards reads every dashboard of dir (grafana/dashboards) and
// unmarshals it strictly with the Grafana schema: unknown fields, wrong
// types and missing required fields are errors; panels and queries are
// decoded with their plugin's own types (the default plugins of the SDK
// are registered), and a query or panel options that only fit the
// untyped fallback is an error too. Validate runs on the result.
func LoadDashboards(dir string) ([]Dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	var out []Dashboard
	var errs []error
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		d, err := CheckDashboard(filepath.Base(f), raw)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// CheckDashboard checks one dashboard's JSON as [LoadDashboards] does.
func CheckDashboard(name string, raw []byte) (Dashboard, error) {
	d := Dashboard{File: name, Model: &dashboard.Dashboard{}}
	if err := json.Unmarshal(raw, &d.Raw); err != nil {
		return d, fmt.Errorf("%s: %w", d.File, err)
	}
	// The SDK's strict decoding reports every unknown field, wrong type
	// and missing required field, but (v0.0.22) a nested decoder's empty
	// error list comes back as a non-nil error, so the typed values it
	// decoded are dropped (panels, targets and options stay nil). Strict
	// decoding is therefore the check, and the model checked by Validate
	// and typed() is the regular decoding, which uses the same plugin
	// types.
	if err := buildErr((&dashboard.Dashboard{}).UnmarshalJSONStrict(raw)); err != nil {
		return d, fmt.Errorf("%s: strict unmarshal: %w", d.File, err)
	}
	if err := json.Unmarshal(raw, d.Model); err != nil {
		return d, fmt.Errorf("%s: unmarshal: %w", d.File, err)
	}
	if err := d.Model.Validate(); err != nil {
		return d, fmt.Errorf("%s: validate: %w", d.File, err)
	}
	if err := typed(d.Model); err != nil {
		return d, fmt.Errorf("%s: %w", d.File, err)
	}
	return d, nil
}

// buildErr turns the SDK's empty cog.BuildErrors (a nil slice returned
// as a non-nil error interface) into nil.
func buildErr(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

// typed checks that every query was decoded by its datasource's type and
// every panel's options by its plugin's (strict unmarshal falls back to
// untyped maps when it does not know the type).
func typed(d *dashboard.Dashboard) error {
	var errs []error
	for _, pr := range d.Panels {
		panels := []dashboard.Panel{}
		if pr.Panel != nil {
			panels = append(panels, *pr.Panel)
		}
		if pr.RowPanel != nil {
			panels = append(panels, pr.RowPanel.Panels...)
		}
		for _, p := range panels {
			title := ""
			if p.Title != nil {
				title = *p.Title
			}
			if _, ok := dashboardPanelcfg(p.Type); !ok {
				errs = append(errs, fmt.Errorf("panel %q: plugin type %q unknown to the SDK", title, p.Type))
			}
			if _, isMap := p.Options.(map[string]any); isMap {
				errs = append(errs, fmt.Errorf("panel %q: options not decoded by the %s plugin's type", title, p.Type))
			}
			for i, t := range p.Targets {
				if _, unknown := t.(variants.UnknownDataquery); unknown {
					errs = append(errs, fmt.Errorf("panel %q target %d: query type unknown (no datasource type?)", title, i))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func dashboardPanelcfg(typ string) (variants.PanelcfgConfig, bool) {
	return cog.ConfigForPanelcfgVariant(typ)
}

// Exprs returns every query of a dashboard: panel targets (PromQL or
// LogQL by datasource type), template variable queries, annotation
// queries, and the TraceQL and LogQL queries inside data links.
func (d Dashboard) Exprs() []Expr {
	var out []Expr
	var walkPanels func(ps []any)
	walkPanels = func(ps []any) {
		for _, pv := range ps {
			p, _ := pv.(map[string]any)
			title, _ := p["title"].(string)
			if sub, ok := p["panels"].([]any); ok {
				walkPanels(sub)
			}
			ts, _ := p["targets"].([]any)
			for _, tv := range ts {
				t, _ := tv.(map[string]any)
				where := fmt.Sprintf("%s: panel %q target %v", d.File, title, t["refId"])
				switch dsType(t["datasource"]) {
				case "prometheus":
					out = append(out, Expr{where, str(t["expr"]), "promql"})
				case "loki":
					out = append(out, Expr{where, str(t["expr"]), "logql"})
				}
			}
			for _, l := range dataLinks(p) {
				out = append(out, linkQueries(fmt.Sprintf("%s: panel %q link %q", d.File, title, l["title"]), str(l["url"]))...)
			}
		}
	}
	ps, _ := d.Raw["panels"].([]any)
	walkPanels(ps)
	tmpl, _ := d.Raw["templating"].(map[string]any)
	vars, _ := tmpl["list"].([]any)
	for _, vv := range vars {
		v, _ := vv.(map[string]any)
		if v["type"] == "query" && dsType(v["datasource"]) == "prometheus" {
			out = append(out, Expr{fmt.Sprintf("%s: variable %s", d.File, v["name"]), labelValuesSelector(str(v["query"])), "promql"})
		}
	}
	ann, _ := d.Raw["annotations"].(map[string]any)
	list, _ := ann["list"].([]any)
	for _, av := range list {
		a, _ := av.(map[string]any)
		if dsType(a["datasource"]) == "prometheus" {
			out = append(out, Expr{fmt.Sprintf("%s: annotation %q", d.File, a["name"]), str(a["expr"]), "promql"})
		}
	}
	return out
}

// labelValuesSelector returns the series selector of Grafana's
// label_values(selector, label) variable query (Grafana asks Prometheus
// for the series it selects), or the query itself.
func labelValuesSelector(q string) string {
	inner, ok := strings.CutPrefix(strings.TrimSpace(q), "label_values(")
	if !ok {
		return q
	}
	inner = strings.TrimSuffix(inner, ")")
	if i := strings.LastIndexByte(inner, ','); i >= 0 {
		return strings.TrimSpace(inner[:i])
	}
	return inner
}

func dataLinks(p map[string]any) []map[string]any {
	fc, _ := p["fieldConfig"].(map[string]any)
	def, _ := fc["defaults"].(map[string]any)
	ls, _ := def["links"].([]any)
	var out []map[string]any
	for _, l := range ls {
		if m, ok := l.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// linkQueries extracts the queries of an Explore link's panes.
func linkQueries(where, u string) []Expr {
	_, panes, ok := strings.Cut(u, "panes=")
	if !ok {
		return nil
	}
	dec, err := unescapeKeepVars(panes)
	if err != nil {
		return []Expr{{where, "<undecodable link: " + err.Error() + ">", "invalid"}}
	}
	var m map[string]struct {
		Queries []map[string]any `json:"queries"`
	}
	if err := json.Unmarshal([]byte(dec), &m); err != nil {
		return []Expr{{where, "<link panes are not JSON: " + err.Error() + ">", "invalid"}}
	}
	var out []Expr
	for _, pane := range m {
		for _, q := range pane.Queries {
			switch dsType(q["datasource"]) {
			case "tempo":
				out = append(out, Expr{where, str(q["query"]), "traceql"})
			case "loki":
				out = append(out, Expr{where, str(q["expr"]), "logql"})
			case "prometheus":
				out = append(out, Expr{where, str(q["expr"]), "promql"})
			}
		}
	}
	return out
}

func dsType(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["type"].(string)
	return s
}

func str(v any) string { s, _ := v.(string); return s }

var varRe = regexp.MustCompile(`\$\{([A-Za-z0-9_.]+)(?::[a-z]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// Substitute replaces Grafana's variables in a PromQL expression with
// values of the right kind: durations for the interval variables, a
// regular expression for the template variables (they are used in =~
// matchers), a number for ${__value.raw}.
func Substitute(expr string) string {
	return varRe.ReplaceAllStringFunc(expr, func(v string) string {
		name := strings.TrimPrefix(strings.TrimSuffix(strings.TrimPrefix(v, "${"), "}"), "$")
		name, _, _ = strings.Cut(name, ":")
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__range_s", "__interval_ms", "__value.raw":
			return "300"
		}
		return "x.*"
	})
}

// unescapeKeepVars percent-decodes a link's query value; ${...} parts are
// already raw.
func unescapeKeepVars(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		i := strings.Index(s, "${")
		if i < 0 {
			d, err := url.QueryUnescape(s)
			b.WriteString(d)
			return b.String(), err
		}
		d, err := url.QueryUnescape(s[:i])
		if err != nil {
			return "", err
		}
		b.WriteString(d)
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated variable in %q", s)
		}
		b.WriteString(s[i : i+j+1])
		s = s[i+j+1:]
	}
	return b.String(), nil
}

// Parse parses a PromQL expression after Substitute.
func Parse(expr string) (parser.Expr, error) {
	return parser.NewParser(parser.Options{}).ParseExpr(Substitute(expr))
}

// Selector is a metric selected by an expression, with the label names
// its matchers use (other than __name__).
type Selector struct {
	Name   string
	Labels []string
}

// Selectors returns the metric selectors of a parsed expression.
func Selectors(e parser.Expr) []Selector {
	var out []Selector
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		s := Selector{Name: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel {
				if s.Name == "" {
					s.Name = m.Value
				}
				continue
			}
			s.Labels = append(s.Labels, m.Name)
		}
		out = append(out, s)
		return nil
	})
	return out
}

// Grouping returns the label names an expression aggregates by (sum by
// (...)), matches on (on (...)) or ignores, for the label check.
func Grouping(e parser.Expr) []string {
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch x := n.(type) {
		case *parser.AggregateExpr:
			if !x.Without {
				out = append(out, x.Grouping...)
			}
		case *parser.BinaryExpr:
			if x.VectorMatching != nil && x.VectorMatching.On {
				out = append(out, x.VectorMatching.MatchingLabels...)
			}
		}
		return nil
	})
	return out
}

// RuleFile is a parsed rule file.
type RuleFile struct {
	Path   string
	Groups *rulefmt.RuleGroups
}

// LoadRules parses rule files with Prometheus's own parser (unknown
// fields rejected, expressions and templates checked).
func LoadRules(paths ...string) ([]RuleFile, error) {
	var out []RuleFile
	var errs []error
	for _, p := range paths {
		g, es := rulefmt.ParseFile(p, false, model.UTF8Validation, parser.NewParser(parser.Options{}), nil)
		if len(es) > 0 {
			errs = append(errs, fmt.Errorf("%s: %w", p, errors.Join(es...)))
			continue
		}
		out = append(out, RuleFile{Path: p, Groups: g})
	}
	return out, errors.Join(errs...)
}

// Records returns the recorded series names of the rule files.
func Records(files []RuleFile) map[string]bool {
	out := map[string]bool{}
	for _, f := range files {
		for _, g := range f.Groups.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					out[r.Record] = true
				}
			}
		}
	}
	return out
}

// Alerts returns the alert names of the rule files, sorted.
func Alerts(files []RuleFile) []string {
	var out []string
	for _, f := range files {
		for _, g := range f.Groups.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					out = append(out, r.Alert)
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// RuleExprs returns every rule expression.
func RuleExprs(files []RuleFile) []Expr {
	var out []Expr
	for _, f := range files {
		for _, g := range f.Groups.Groups {
			for _, r := range g.Rules {
				name := r.Record + r.Alert
				out = append(out, Expr{fmt.Sprintf("%s: group %s rule %s", filepath.Base(f.Path), g.Name, name), r.Expr, "promql"})
			}
		}
	}
	return out
}
