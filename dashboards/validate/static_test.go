package validate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/verdict-obs/verdict/dashboards/validate/gen"
	"github.com/verdict-obs/verdict/internal/testproc"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

var (
	dashboardDir = filepath.Join(Root, "grafana", "dashboards")
	ruleFiles    = []string{
		filepath.Join(Root, "prometheus", "verdict-recording.rules.yml"),
		filepath.Join(Root, "prometheus", "verdict-alerts.rules.yml"),
	}
	ruleTests      = filepath.Join(Root, "prometheus", "tests")
	runbook        = filepath.Join(Root, "RUNBOOK.md")
	datasourceFile = filepath.Join(Root, "grafana", "provisioning", "datasources", "verdict.yaml")
)

func loadDashboards(t *testing.T) []Dashboard {
	t.Helper()
	ds, err := LoadDashboards(dashboardDir)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func loadRules(t *testing.T) []RuleFile {
	t.Helper()
	rs, err := LoadRules(ruleFiles...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// TestDashboardsStrict: every dashboard parses strictly with the Grafana
// schema of grafana-foundation-sdk, validates, is written in the SDK's
// current schema version, and has the template variables, exemplar
// queries and data links the dashboards promise.
func TestDashboardsStrict(t *testing.T) {
	ds := loadDashboards(t)
	current := dashboard.NewDashboard().SchemaVersion
	uids := map[string]bool{}
	for _, d := range ds {
		if d.Model.SchemaVersion != current {
			t.Errorf("%s: schemaVersion %d, the SDK's current is %d", d.File, d.Model.SchemaVersion, current)
		}
		if gen.SchemaVersion != int(current) {
			t.Errorf("gen.SchemaVersion %d, the SDK's current is %d", gen.SchemaVersion, current)
		}
		uid := *d.Model.Uid
		if uids[uid] || len(uid) > 40 {
			t.Errorf("%s: uid %q duplicated or longer than 40", d.File, uid)
		}
		uids[uid] = true
		vars := map[string]dashboard.VariableModel{}
		for _, v := range d.Model.Templating.List {
			vars[v.Name] = v
		}
		for _, name := range []string{"datasource", "loki", "tempo", "service", "job", "instance"} {
			if _, ok := vars[name]; !ok {
				t.Errorf("%s: no template variable %s", d.File, name)
			}
		}
		if v := vars["tempo"]; v.Query == nil || v.Query.String == nil || *v.Query.String != "tempo" {
			t.Errorf("%s: the tempo variable is not a Tempo datasource variable", d.File)
		}
		// Every Prometheus query filters on the service's job and instance
		// (or on job, for recorded series aggregated by job).
		for _, e := range d.Exprs() {
			if e.Kind == "invalid" {
				t.Errorf("%s: %s", e.Where, e.Query)
			}
			if e.Kind != "promql" || strings.Contains(e.Where, "variable") {
				continue
			}
			if !strings.Contains(e.Query, `job=~"$job"`) {
				t.Errorf("%s: %s does not filter on $job", e.Where, e.Query)
			}
		}
		t.Logf("%s: %d panels, %d queries", d.File, countPanels(d.Model), len(d.Exprs()))
	}
	if len(ds) != len(gen.Dashboards()) {
		t.Errorf("%d dashboards on disk, %d generated", len(ds), len(gen.Dashboards()))
	}
}

func countPanels(d *dashboard.Dashboard) int {
	n := 0
	for _, p := range d.Panels {
		if p.Panel != nil {
			n++
		}
	}
	return n
}

// TestDashboardFeatures: latency panels show exemplars, the verdict
// timeline links to logs and traces, each dashboard covers its subject.
func TestDashboardFeatures(t *testing.T) {
	ds := loadDashboards(t)
	byUID := map[string]Dashboard{}
	for _, d := range ds {
		byUID[*d.Model.Uid] = d
	}
	exemplars := 0
	for _, d := range ds {
		for _, p := range d.Model.Panels {
			if p.Panel == nil {
				continue
			}
			for _, tg := range p.Panel.Targets {
				if promExemplar(tg) && p.Panel.FieldConfig != nil && p.Panel.FieldConfig.Defaults.Unit != nil && *p.Panel.FieldConfig.Defaults.Unit == "s" {
					exemplars++
				}
			}
		}
	}
	if exemplars < 8 {
		t.Errorf("%d latency queries with exemplars, want at least 8", exemplars)
	}
	ov := byUID["verdict-overview"]
	var kinds []string
	for _, e := range ov.Exprs() {
		if strings.Contains(e.Where, "Verdict timeline") && strings.Contains(e.Where, "link") {
			kinds = append(kinds, e.Kind)
		}
	}
	if strings.Join(kinds, ",") != "logql,traceql" {
		t.Errorf("verdict timeline links: %v, want a LogQL and a TraceQL query", kinds)
	}
	want := map[string][]string{
		"verdict-overview":   {"verdict_verdicts_active", "job:slo_burn_rate:rate1h", "job_route_method:http_server_availability:ratio_rate5m"},
		"verdict-http-grpc":  {"verdict_http_client_phase_duration_seconds", "error_type", "rpc_server_call_duration_seconds"},
		"verdict-sql":        {"db_query_summary", "db_client_connection_wait_time_seconds", "db_client_connection_max"},
		"verdict-go-runtime": {"verdict_gc_pause_duration_seconds", "verdict_gc_pause_reason", "verdict_gc_assist_time_seconds_total", "go_memory_gc_goal_bytes", "go_memory_limit_bytes", "go_memory_allocated_bytes_total", "go_schedule_duration_seconds", "go_goroutine_count", "verdict_go_goroutine_blocked"},
		"verdict-kernel":     {"verdict_kernel_syscall_duration_seconds", "verdict_kernel_offcpu_duration_seconds", "verdict_kernel_runqueue_duration_seconds", "verdict_tcp_connects_total", "verdict_tcp_resets_total", "verdict_sched_runqueue_time_seconds_total", "verdict_sched_cpu_throttled_periods_total"},
	}
	for uid, subs := range want {
		d, ok := byUID[uid]
		if !ok {
			t.Errorf("no dashboard %s", uid)
			continue
		}
		var all strings.Builder
		for _, e := range d.Exprs() {
			all.WriteString(e.Query + "\n")
		}
		for _, s := range subs {
			if !strings.Contains(all.String(), s) {
				t.Errorf("%s: no query uses %s", uid, s)
			}
		}
	}
}

func promExemplar(q any) bool {
	pq, ok := q.(*prometheus.Dataquery)
	return ok && pq.Exemplar != nil && *pq.Exemplar
}

// TestPromQLParses: every PromQL expression of the dashboards (after
// template variables are substituted), the rules and the provisioning
// files parses with the Prometheus parser.
func TestPromQLParses(t *testing.T) {
	n := 0
	for _, e := range allExprs(t) {
		if e.Kind != "promql" {
			continue
		}
		n++
		if _, err := Parse(e.Query); err != nil {
			t.Errorf("%s: %v\n%s", e.Where, err, Substitute(e.Query))
		}
	}
	t.Logf("%d PromQL expressions parsed", n)
	if n < 100 {
		t.Errorf("only %d PromQL expressions found", n)
	}
}

// allExprs returns the queries of the dashboards, rules and datasource
// provisioning.
func allExprs(t *testing.T) []Expr {
	var out []Expr
	for _, d := range loadDashboards(t) {
		out = append(out, d.Exprs()...)
	}
	out = append(out, RuleExprs(loadRules(t))...)
	out = append(out, provisioningExprs(t)...)
	return out
}

// TestRulesPromtool: promtool check rules accepts the rule files, and
// promtool test rules passes the unit tests, which have a firing and a
// not-firing case for every alert.
func TestRulesPromtool(t *testing.T) {
	t.Parallel() // beside TestLive
	promtool := promtoolBin(t)
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, ruleFiles...)...).CombinedOutput()
	t.Logf("promtool check rules:\n%s", out)
	if err != nil {
		t.Fatalf("promtool check rules: %v", err)
	}
	tests, _ := filepath.Glob(filepath.Join(ruleTests, "*.yml"))
	if len(tests) == 0 {
		t.Fatal("no rule unit tests")
	}
	out, err = exec.Command(promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	t.Logf("promtool test rules:\n%s", out)
	if err != nil {
		t.Fatalf("promtool test rules: %v", err)
	}
}

func promtoolBin(t *testing.T) string {
	t.Helper()
	p := os.Getenv("PROMTOOL_BIN")
	if p == "" {
		var err error
		if p, err = exec.LookPath("promtool"); err != nil {
			testproc.Require(t, fmt.Errorf("promtool %w (apt-get install -y prometheus)", testproc.ErrNotInstalled))
		}
	}
	return p
}

// ruleTestFile is the part of a promtool test file this test reads.
type ruleTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		AlertRuleTests []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestEveryAlertUnitTested: each alert of the pack has a promtool case
// where it fires and one where it does not, and the tests load the
// shipped rule files.
func TestEveryAlertUnitTested(t *testing.T) {
	fires, quiet := map[string]int{}, map[string]int{}
	tests, _ := filepath.Glob(filepath.Join(ruleTests, "*.yml"))
	for _, f := range tests {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var tf ruleTestFile
		if err := yaml.Unmarshal(raw, &tf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, rf := range tf.RuleFiles {
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), rf)); err != nil {
				t.Errorf("%s: rule file %s: %v", f, rf, err)
			}
		}
		for _, tc := range tf.Tests {
			for _, a := range tc.AlertRuleTests {
				if len(a.ExpAlerts) > 0 {
					fires[a.Alertname]++
				} else {
					quiet[a.Alertname]++
				}
			}
		}
	}
	for _, a := range Alerts(loadRules(t)) {
		if fires[a] == 0 || quiet[a] == 0 {
			t.Errorf("alert %s: %d firing cases, %d not-firing cases; want at least one of each", a, fires[a], quiet[a])
		}
	}
}

// judgeRuleIDs are the IDs of the judge's built-in rules.
var judgeRuleIDs = rules.IDs()

var anchorRe = regexp.MustCompile(`<a id="([^"]+)"></a>`)

// TestRunbook: every alert has a summary, a description and a
// runbook_url to a section of RUNBOOK.md that exists; an alert labelled
// with a verdict rule points to that rule's section; every rule of the
// judge has a section.
func TestRunbook(t *testing.T) {
	raw, err := os.ReadFile(runbook)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range anchorRe.FindAllStringSubmatch(string(raw), -1) {
		anchors[m[1]] = true
	}
	for _, id := range judgeRuleIDs {
		if !anchors[id] {
			t.Errorf("RUNBOOK.md has no section for the judge rule %s", id)
		}
	}
	for _, f := range loadRules(t) {
		for _, g := range f.Groups.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				for _, k := range []string{"summary", "description", "runbook_url"} {
					if r.Annotations[k] == "" {
						t.Errorf("alert %s: no %s", r.Alert, k)
					}
				}
				base, anchor, _ := strings.Cut(r.Annotations["runbook_url"], "#")
				if base != gen.RunbookBase {
					t.Errorf("alert %s: runbook_url %s, want %s#...", r.Alert, r.Annotations["runbook_url"], gen.RunbookBase)
				}
				if anchor == "{{ $labels.verdict_rule }}" {
					continue // VerdictActive: the rule's own section, checked above
				}
				if !anchors[anchor] {
					t.Errorf("alert %s: runbook anchor #%s not in RUNBOOK.md", r.Alert, anchor)
				}
				if vr := r.Labels["verdict_rule"]; vr != "" && anchor != vr {
					t.Errorf("alert %s: verdict_rule %s but runbook anchor #%s", r.Alert, vr, anchor)
				}
				if r.Labels["severity"] == "" || r.Labels["sli"] == "" {
					t.Errorf("alert %s: no severity or sli label", r.Alert)
				}
				if !strings.Contains(string(raw), "`"+r.Alert+"`") {
					t.Errorf("RUNBOOK.md does not name the alert %s", r.Alert)
				}
			}
		}
	}
	checkRunbookRules(t, string(raw))
	checkRunbookPanels(t, string(raw))
}

// ruleDocRe is a line of the rule list in the doc of package
// tracer/judge/rules: "//	gc.stw_delay          GC pressure (...)".
var ruleDocRe = regexp.MustCompile(`(?m)^//\t([a-z_]+\.[a-z_]+) +(.+)$`)

// checkRunbookRules: the section of each judge rule says what the rule
// says it detects: the rule's one-line description in the package doc of
// tracer/judge/rules (the judge's own words) is in the section's first
// paragraph, so a rule whose meaning changes makes its section stale
// here.
func checkRunbookRules(t *testing.T, runbook string) {
	doc, err := os.ReadFile(filepath.Join(Root, "..", "tracer", "judge", "rules", "doc.go"))
	if err != nil {
		t.Fatal(err)
	}
	descs := map[string]string{}
	for _, m := range ruleDocRe.FindAllStringSubmatch(string(doc), -1) {
		descs[m[1]] = m[2]
	}
	norm := func(s string) string {
		s = strings.ToLower(strings.ReplaceAll(s, "`", ""))
		return strings.Join(strings.Fields(s), " ")
	}
	for _, id := range judgeRuleIDs {
		desc, ok := descs[id]
		if !ok {
			t.Errorf("the doc of tracer/judge/rules does not describe %s", id)
			continue
		}
		_, sec, ok := strings.Cut(runbook, `<a id="`+id+`"></a>`)
		if !ok {
			continue // reported above
		}
		_, sec, _ = strings.Cut(sec, "\n\n") // after the heading
		para, _, _ := strings.Cut(sec, "\n\n")
		if !strings.Contains(norm(para), norm(desc)) {
			t.Errorf("RUNBOOK.md section %s does not say what the rule detects (%q); its first paragraph: %q", id, desc, para)
		}
	}
}

var italicRe = regexp.MustCompile(`\*([A-Z][^*\n]*)\*`)

// checkRunbookPanels: every dashboard and panel the runbook names in
// italics exists, so that renaming a panel cannot leave the runbook
// pointing at nothing.
func checkRunbookPanels(t *testing.T, runbook string) {
	ds, err := LoadDashboards(dashboardDir)
	if err != nil {
		t.Fatal(err)
	}
	titles := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["title"].(string); ok {
				titles[s] = true
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, d := range ds {
		walk(d.Raw)
	}
	n := 0
	for _, m := range italicRe.FindAllStringSubmatch(runbook, -1) {
		n++
		if !titles[m[1]] {
			t.Errorf("RUNBOOK.md names *%s*: no dashboard or panel has that title", m[1])
		}
	}
	t.Logf("the runbook names %d dashboards and panels, all present", n)
}

// datasources is Grafana's datasource provisioning format, as much of it
// as verdict's file uses; decoding is strict (KnownFields).
type datasources struct {
	APIVersion  int `yaml:"apiVersion"`
	Datasources []struct {
		Name      string         `yaml:"name"`
		Type      string         `yaml:"type"`
		UID       string         `yaml:"uid"`
		Access    string         `yaml:"access"`
		URL       string         `yaml:"url"`
		IsDefault bool           `yaml:"isDefault"`
		Editable  bool           `yaml:"editable"`
		JSONData  map[string]any `yaml:"jsonData"`
	} `yaml:"datasources"`
	DeleteDatasources []struct {
		Name  string `yaml:"name"`
		OrgID int    `yaml:"orgId"`
	} `yaml:"deleteDatasources"`
}

func loadDatasources(t *testing.T) datasources {
	t.Helper()
	f, err := os.Open(datasourceFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var d datasources
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", datasourceFile, err)
	}
	return d
}

func provisioningExprs(t *testing.T) []Expr {
	var out []Expr
	for _, d := range loadDatasources(t).Datasources {
		if d.Type != "tempo" {
			continue
		}
		tm, _ := d.JSONData["tracesToMetrics"].(map[string]any)
		qs, _ := tm["queries"].([]any)
		for _, qv := range qs {
			q, _ := qv.(map[string]any)
			// Grafana's provisioning turns $$ into $; the tags variable
			// becomes the span's tags as matchers.
			expr := strings.ReplaceAll(str(q["query"]), "$$", "$")
			expr = strings.ReplaceAll(expr, "$__tags", `job=~"$job"`)
			out = append(out, Expr{fmt.Sprintf("%s: tracesToMetrics %q", filepath.Base(datasourceFile), q["name"]), expr, "promql"})
		}
	}
	return out
}

// TestDatasourceProvisioning: the datasource file decodes strictly; the
// UIDs are the dashboards' defaults; Prometheus exemplars link to Tempo by
// trace_id; Loki's derived field links trace_id to Tempo; Tempo links
// traces to logs and metrics.
func TestDatasourceProvisioning(t *testing.T) {
	d := loadDatasources(t)
	if d.APIVersion != 1 {
		t.Errorf("apiVersion %d", d.APIVersion)
	}
	byType := map[string]map[string]any{}
	uids := map[string]string{}
	for _, ds := range d.Datasources {
		byType[ds.Type] = ds.JSONData
		uids[ds.Type] = ds.UID
	}
	for typ, uid := range map[string]string{"prometheus": gen.PrometheusUID, "loki": gen.LokiUID, "tempo": gen.TempoUID} {
		if uids[typ] != uid {
			t.Errorf("%s datasource uid %q, want %q", typ, uids[typ], uid)
		}
	}
	ex, _ := byType["prometheus"]["exemplarTraceIdDestinations"].([]any)
	if len(ex) == 0 || ex[0].(map[string]any)["name"] != "trace_id" || ex[0].(map[string]any)["datasourceUid"] != gen.TempoUID {
		t.Errorf("prometheus exemplarTraceIdDestinations %v: want trace_id → %s", ex, gen.TempoUID)
	}
	fields, _ := byType["loki"]["derivedFields"].([]any)
	if len(fields) == 0 {
		t.Fatal("loki: no derivedFields")
	}
	for _, fv := range fields {
		f := fv.(map[string]any)
		if f["datasourceUid"] != gen.TempoUID || f["url"] != "$${__value.raw}" {
			t.Errorf("loki derived field %v: want a link to %s with $${__value.raw}", f, gen.TempoUID)
		}
	}
	for _, k := range []string{"tracesToLogsV2", "tracesToMetrics", "serviceMap"} {
		if byType["tempo"][k] == nil {
			t.Errorf("tempo: no %s", k)
		}
	}
	if tl, _ := byType["tempo"]["tracesToLogsV2"].(map[string]any); tl["datasourceUid"] != gen.LokiUID {
		t.Errorf("tempo tracesToLogsV2 → %v, want %s", tl["datasourceUid"], gen.LokiUID)
	}
	if tm, _ := byType["tempo"]["tracesToMetrics"].(map[string]any); tm["datasourceUid"] != gen.PrometheusUID {
		t.Errorf("tempo tracesToMetrics → %v, want %s", tm["datasourceUid"], gen.PrometheusUID)
	}
}

// TestStrictCatchesMistakes: the dashboard check is real: an unknown
// field anywhere (dashboard, panel options, field config, query), a wrong
// type or an unknown panel plugin fails it.
func TestStrictCatchesMistakes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(dashboardDir, "verdict-overview.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CheckDashboard("original", raw); err != nil {
		t.Fatalf("the original fails: %v", err)
	}
	for _, tc := range []struct{ old, new string }{
		{`"graphTooltip": 1`, `"graphTooltip": 1, "bogus": 1`},
		{`"showPoints": "never"`, `"showPoints": "never", "bogus": 1`},
		{`"displayMode": "list"`, `"displayMode": "list", "bogus": 1`},
		{`"legendFormat": "HTTP"`, `"legendFormat": "HTTP", "bogus": 1`},
		{`"wideLayout": true`, `"wideLayout": "yes"`},
		{`"type": "state-timeline"`, `"type": "state-timelines"`},
		{`"schemaVersion": 42`, `"schemaVersion": "42"`},
	} {
		if !strings.Contains(string(raw), tc.old) {
			t.Errorf("%q not in the dashboard", tc.old)
			continue
		}
		mod := strings.Replace(string(raw), tc.old, tc.new, 1)
		if _, err := CheckDashboard("mutated", []byte(mod)); err == nil {
			t.Errorf("%q → %q: accepted", tc.old, tc.new)
		} else {
			t.Logf("%q: %v", tc.new, firstLine(err.Error()))
		}
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
