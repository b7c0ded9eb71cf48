package gen

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// SchemaVersion is the Grafana dashboard schema version the dashboards
// are written in (the current one of grafana-foundation-sdk, which the
// validators check).
const SchemaVersion = 42

// Datasource UIDs of the provisioning file (grafana/provisioning/
// datasources/verdict.yaml); the dashboards' datasource variables default
// to them.
const (
	PrometheusUID = "verdict-prometheus"
	LokiUID       = "verdict-loki"
	TempoUID      = "verdict-tempo"
)

// obj is a JSON object; keys are written sorted, so output is stable.
type obj = map[string]any

// Dashboard is one generated dashboard.
type Dashboard struct {
	UID, Title, Description string
	Panels                  []obj // rows and panels, laid out by layout()
	Annotations             []obj
	ExtraVars               []obj
}

// sel is the selector of a service's series.
const sel = `job=~"$job", instance=~"$instance"`

// ds references the dashboard's Prometheus datasource variable.
func ds() obj { return obj{"type": "prometheus", "uid": "${datasource}"} }

func lokiDS() obj  { return obj{"type": "loki", "uid": "${loki}"} }
func tempoDS() obj { return obj{"type": "tempo", "uid": "${tempo}"} }

// JSON renders the dashboard.
func (d Dashboard) JSON() []byte {
	vars := []obj{
		dsVar("datasource", "Prometheus", "prometheus", PrometheusUID),
		dsVar("loki", "Loki", "loki", LokiUID),
		dsVar("tempo", "Tempo", "tempo", TempoUID),
		queryVar("service", "Service", "label_values(target_info, service_name)", 0,
			"service.name of the services that export verdict's metrics (target_info)."),
		queryVar("job", "Job", `label_values(target_info{service_name=~"$service"}, job)`, 2,
			"The Prometheus jobs of the selected services (hidden; every query filters on it)."),
		queryVar("instance", "Instance", `label_values(target_info{service_name=~"$service"}, instance)`, 0,
			"Instances of the selected services; All is the list of them, not any instance."),
	}
	vars = append(vars, d.ExtraVars...)
	annotations := append([]obj{{
		"builtIn": 1, "datasource": obj{"type": "grafana", "uid": "-- Grafana --"}, "enable": true, "hide": true,
		"iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
	}}, d.Annotations...)
	out := obj{
		"uid":                  d.UID,
		"title":                d.Title,
		"description":          d.Description,
		"tags":                 []string{"verdict"},
		"timezone":             "browser",
		"editable":             true,
		"graphTooltip":         1,
		"fiscalYearStartMonth": 0,
		"refresh":              "30s",
		"schemaVersion":        SchemaVersion,
		"version":              1,
		"time":                 obj{"from": "now-1h", "to": "now"},
		"timepicker":           obj{},
		"templating":           obj{"list": vars},
		"annotations":          obj{"list": annotations},
		"links": []obj{{
			"title": "Verdict dashboards", "type": "dashboards", "tags": []string{"verdict"},
			"asDropdown": true, "includeVars": true, "keepTime": true, "icon": "external link",
			"targetBlank": false, "tooltip": "", "url": "",
		}},
		"panels": layout(d.Panels),
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err) // only maps, slices, strings and numbers: cannot fail
	}
	return b.Bytes()
}

func dsVar(name, label, typ, uid string) obj {
	return obj{
		"type": "datasource", "name": name, "label": label, "query": typ, "refresh": 1, "regex": "",
		"hide": 0, "includeAll": false, "multi": false,
		"current": obj{"text": uid, "value": uid},
	}
}

func queryVar(name, label, query string, hide int, description string) obj {
	return obj{
		"type": "query", "name": name, "label": label, "description": description,
		"datasource": ds(), "query": query, "definition": query,
		"refresh": 2, "sort": 1, "hide": hide, "regex": "",
		"includeAll": true, "multi": true,
		"current": obj{"text": []string{"All"}, "value": []string{"$__all"}},
	}
}

// layout assigns ids and grid positions: rows span the width, panels fill
// rows of 24 columns left to right.
func layout(panels []obj) []obj {
	x, y, rowH := 0, 0, 0
	for i, p := range panels {
		p["id"] = i + 1
		w, h := p["gridPos"].(obj)["w"].(int), p["gridPos"].(obj)["h"].(int)
		if p["type"] == "row" || x+w > 24 {
			x, y, rowH = 0, y+rowH, 0
		}
		p["gridPos"] = obj{"x": x, "y": y, "w": w, "h": h}
		if p["type"] == "row" {
			y++
			continue
		}
		x += w
		rowH = max(rowH, h)
	}
	return panels
}

func row(title string) obj {
	return obj{"type": "row", "title": title, "collapsed": false, "panels": []obj{}, "gridPos": obj{"w": 24, "h": 1}}
}

// target is one PromQL query of a panel.
type target struct {
	expr, legend string
	exemplar     bool
	instant      bool
}

func q(expr, legend string) target { return target{expr: expr, legend: legend} }

// qx is a query whose exemplars are shown (latency histograms): each
// exemplar links to its trace through the Prometheus datasource's
// exemplarTraceIdDestinations (trace_id → Tempo).
func qx(expr, legend string) target { return target{expr: expr, legend: legend, exemplar: true} }

func targets(ts []target) []obj {
	out := make([]obj, len(ts))
	for i, t := range ts {
		o := obj{
			"refId": string(rune('A' + i)), "datasource": ds(), "expr": strings.TrimSpace(t.expr),
			"legendFormat": t.legend, "editorMode": "code", "exemplar": t.exemplar,
		}
		if t.instant {
			o["instant"], o["range"], o["format"] = true, false, "table"
		} else {
			o["range"] = true
		}
		out[i] = o
	}
	return out
}

func legendOpts(table bool) obj {
	o := obj{"showLegend": true, "displayMode": "list", "placement": "bottom", "calcs": []string{}}
	if table {
		o["displayMode"], o["placement"], o["calcs"] = "table", "right", []string{"mean", "max", "lastNotNull"}
	}
	return o
}

type panelOpt func(obj)

func unit(u string) panelOpt {
	return func(p obj) { p["fieldConfig"].(obj)["defaults"].(obj)["unit"] = u }
}

func minMax(lo, hi float64) panelOpt {
	return func(p obj) {
		d := p["fieldConfig"].(obj)["defaults"].(obj)
		d["min"], d["max"] = lo, hi
	}
}

func stacked() panelOpt {
	return func(p obj) {
		c := p["fieldConfig"].(obj)["defaults"].(obj)["custom"].(obj)
		c["stacking"] = obj{"mode": "normal", "group": "A"}
		c["fillOpacity"] = 40
	}
}

func bars() panelOpt {
	return func(p obj) {
		c := p["fieldConfig"].(obj)["defaults"].(obj)["custom"].(obj)
		c["drawStyle"], c["fillOpacity"] = "bars", 80
	}
}

func size(w, h int) panelOpt { return func(p obj) { p["gridPos"] = obj{"w": w, "h": h} } }

func tableLegend() panelOpt {
	return func(p obj) { p["options"].(obj)["legend"] = legendOpts(true) }
}

// thresholds colours values: green below the first step, then each step's
// colour from its value on.
func thresholds(steps ...any) panelOpt {
	return func(p obj) {
		s := []obj{{"color": "green", "value": nil}}
		for i := 0; i+1 < len(steps); i += 2 {
			s = append(s, obj{"value": steps[i], "color": steps[i+1]})
		}
		p["fieldConfig"].(obj)["defaults"].(obj)["thresholds"] = obj{"mode": "absolute", "steps": s}
	}
}

// thresholdLines draws the thresholds as dashed lines on a time series.
func thresholdLines() panelOpt {
	return func(p obj) {
		p["fieldConfig"].(obj)["defaults"].(obj)["custom"].(obj)["thresholdsStyle"] = obj{"mode": "dashed"}
	}
}

// links adds data links to every field.
func links(ls ...obj) panelOpt {
	return func(p obj) { p["fieldConfig"].(obj)["defaults"].(obj)["links"] = ls }
}

func link(title, u string) obj { return obj{"title": title, "url": u, "targetBlank": true} }

func panel(typ, title, desc string, ts []target, opts []panelOpt) obj {
	p := obj{
		"type": typ, "title": title, "description": desc,
		"datasource": ds(), "targets": targets(ts),
		"gridPos":     obj{"w": 12, "h": 8},
		"fieldConfig": obj{"defaults": obj{"unit": "short"}, "overrides": []obj{}},
	}
	switch typ {
	case "timeseries":
		p["fieldConfig"].(obj)["defaults"].(obj)["custom"] = obj{
			"drawStyle": "line", "lineInterpolation": "linear", "lineWidth": 1, "fillOpacity": 10,
			"showPoints": "never", "spanNulls": false, "axisPlacement": "auto", "gradientMode": "none",
		}
		p["options"] = obj{"legend": legendOpts(false), "tooltip": obj{"mode": "multi", "sort": "desc"}}
	case "stat":
		p["gridPos"] = obj{"w": 4, "h": 4}
		p["options"] = obj{
			"graphMode": "area", "colorMode": "value", "justifyMode": "auto", "textMode": "auto",
			"wideLayout": true, "showPercentChange": false, "percentChangeColorMode": "standard",
			"orientation":   "auto",
			"reduceOptions": obj{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
		}
	case "state-timeline":
		p["fieldConfig"].(obj)["defaults"].(obj)["custom"] = obj{"lineWidth": 0, "fillOpacity": 80}
		p["options"] = obj{
			"showValue": "never", "rowHeight": 0.9, "mergeValues": true, "alignValue": "left",
			"legend": legendOpts(false), "tooltip": obj{"mode": "single", "sort": "none"},
		}
	case "table":
		p["options"] = obj{"showHeader": true, "frameIndex": 0, "cellHeight": "sm"}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func timeseries(title, desc string, ts []target, opts ...panelOpt) obj {
	return panel("timeseries", title, desc, ts, opts)
}

func stat(title, desc string, ts []target, opts ...panelOpt) obj {
	return panel("stat", title, desc, ts, opts)
}

func text(title, markdown string, w, h int) obj {
	return obj{"type": "text", "title": title, "gridPos": obj{"w": w, "h": h},
		"options": obj{"mode": "markdown", "content": strings.TrimSpace(markdown),
			"code": obj{"language": "plaintext", "showLineNumbers": false, "showMiniMap": false}}}
}

// explore returns a Grafana Explore URL with one query pane. Grafana
// replaces ${...} variables in data links before following them, so they
// are left as they are; the rest of the pane's JSON is percent-encoded.
func explore(query obj, datasourceUID string) string {
	pane := obj{"a": obj{"datasource": datasourceUID, "queries": []obj{query},
		"range": obj{"from": "${__from}", "to": "${__to}"}}}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(pane)
	raw := strings.TrimSpace(b.String())
	var out strings.Builder
	for len(raw) > 0 {
		i := strings.Index(raw, "${")
		if i < 0 {
			out.WriteString(url.QueryEscape(raw))
			break
		}
		out.WriteString(url.QueryEscape(raw[:i]))
		j := strings.IndexByte(raw[i:], '}')
		out.WriteString(raw[i : i+j+1])
		raw = raw[i+j+1:]
	}
	return "/explore?schemaVersion=1&orgId=1&panes=" + out.String()
}

// lokiLink is an Explore link running a LogQL query on the Loki variable.
func lokiLink(title, logql string) obj {
	return link(title, explore(obj{"refId": "A", "datasource": lokiDS(), "expr": logql, "queryType": "range"}, "${loki}"))
}

// tempoLink is an Explore link running a TraceQL search on the Tempo
// variable.
func tempoLink(title, traceql string) obj {
	return link(title, explore(obj{"refId": "A", "datasource": tempoDS(), "queryType": "traceql", "query": traceql, "limit": 20}, "${tempo}"))
}
