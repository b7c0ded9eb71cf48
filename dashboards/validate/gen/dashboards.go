package gen

import (
	"fmt"
	"strings"
)

// Dashboards returns every dashboard.
func Dashboards() []Dashboard {
	return []Dashboard{overview(), httpGRPC(), sqlDashboard(), goRuntime(), kernel()}
}

// r is a rate over Grafana's rate interval.
func r(series string) string { return "rate(" + series + "[$__rate_interval])" }

// s adds the service selector (and extra matchers) to a metric name.
func s(metric string, matchers ...string) string {
	return metric + "{" + strings.Join(append([]string{sel}, matchers...), ", ") + "}"
}

// hq is histogram_quantile of a bucket series over the rate interval,
// aggregated by the given labels.
func hq(q float64, bucket, by string, matchers ...string) string {
	b := "le"
	if by != "" {
		b = by + ", le"
	}
	return fmt.Sprintf("histogram_quantile(%v, sum by (%s) (%s))", q, b, r(s(bucket, matchers...)))
}

// mean is sum/count of a histogram over the rate interval.
func mean(hist, by string, matchers ...string) string {
	return fmt.Sprintf("sum by (%s) (%s)\n/\nsum by (%s) (%s)", by, r(s(hist+"_sum", matchers...)), by, r(s(hist+"_count", matchers...)))
}

// Verdict timeline links: the verdict's log records in Loki, and the
// traces the verdict was added to as a span event, in Tempo.
var verdictLinks = links(
	lokiLink("Verdict log records (Loki)", `{service_name=~"${service:pipe}"} | verdict_rule="${__field.labels.verdict_rule}"`),
	tempoLink("Traces with this verdict (Tempo)", `{ event:name = "verdict" && event.verdict.rule = "${__field.labels.verdict_rule}" }`),
)

func overview() Dashboard {
	httpReq, rpcReq := "http_server_request_duration_seconds", "rpc_server_call_duration_seconds"
	return Dashboard{
		UID: "verdict-overview", Title: "Verdict / Service overview",
		Description: "RED of a verdict-instrumented service, its SLO series (recording rules) and the judge's verdicts.",
		Annotations: []obj{{
			"name": "Verdicts", "datasource": ds(), "enable": true, "hide": false, "iconColor": "red",
			"expr":        `sum by (verdict_rule) (increase(verdict_verdicts_total{job=~"$job", instance=~"$instance", verdict_state="firing"}[1m])) > 0`,
			"titleFormat": "verdict {{verdict_rule}}", "tagKeys": "verdict_rule", "step": "1m", "useValueForTime": false,
		}},
		Panels: []obj{
			row("Service level"),
			stat("Requests", "HTTP and gRPC server requests per second.", []target{
				q("sum("+r(s(httpReq+"_count"))+")", "HTTP"), q("sum("+r(s(rpcReq+"_count"))+")", "gRPC")}, unit("reqps")),
			stat("Availability (5m)", "Share of requests without a server error over 5 minutes (recording rule job:slo_availability:ratio_rate5m).",
				[]target{q(`min(job:slo_availability:ratio_rate5m{job=~"$job"})`, "")},
				unit("percentunit"), thresholds(0.0, "red", 0.99, "orange", 0.999, "green")),
			stat("Availability (1d)", "Share of requests without a server error over a day (job:slo_availability:ratio_rate1d).",
				[]target{q(`min(job:slo_availability:ratio_rate1d{job=~"$job"})`, "")},
				unit("percentunit"), thresholds(0.0, "red", 0.99, "orange", 0.999, "green")),
			stat("Burn rate (1h)", "How fast the error budget burns over an hour: 1 spends it exactly over 30 days; the fast-burn alert fires above 14.4.",
				[]target{q(`max(job:slo_burn_rate:rate1h{job=~"$job"})`, "")}, unit("none"), thresholds(1, "orange", 14.4, "red")),
			stat("Active verdicts", "Verdicts the judge holds now.", []target{q("sum("+s("verdict_verdicts_active")+")", "")},
				unit("none"), thresholds(1, "red")),
			stat("Goroutines", "", []target{q("sum("+s("go_goroutine_count")+")", "")}, unit("none")),

			row("Rate, errors, duration"),
			timeseries("Requests by route", "HTTP server requests per second by route and method; gRPC calls by method.", []target{
				q("sum by (http_request_method, http_route) ("+r(s(httpReq+"_count"))+")", "{{http_request_method}} {{http_route}}"),
				q("sum by (rpc_method) ("+r(s(rpcReq+"_count"))+")", "gRPC {{rpc_method}}")}, unit("reqps")),
			timeseries("Error ratio by route", "Share of 5xx responses (HTTP) and server-fault codes (gRPC).", []target{
				q("sum by (http_request_method, http_route) ("+r(s(httpReq+"_count", httpErr))+")\n/\nsum by (http_request_method, http_route) ("+r(s(httpReq+"_count"))+")",
					"{{http_request_method}} {{http_route}}"),
				q("sum by (rpc_method) ("+r(s(rpcReq+"_count", rpcErr))+")\n/\nsum by (rpc_method) ("+r(s(rpcReq+"_count"))+")", "gRPC {{rpc_method}}")},
				unit("percentunit")),
			timeseries("Latency", "P50, P95 and P99 of every HTTP request of the service. Exemplars (dots) link to their traces.", []target{
				qx(hq(0.5, httpReq+"_bucket", ""), "P50"), qx(hq(0.95, httpReq+"_bucket", ""), "P95"), qx(hq(0.99, httpReq+"_bucket", ""), "P99")},
				unit("s")),
			timeseries("P99 by route", "Each route's P99; a data link opens the traces of that route slower than the value clicked.", []target{
				qx(hq(0.99, httpReq+"_bucket", "http_request_method, http_route"), "{{http_request_method}} {{http_route}}")}, unit("s"),
				links(tempoLink("Traces of this route slower than this (Tempo)",
					`{ resource.service.name =~ "${service:pipe}" && span.http.route = "${__field.labels.http_route}" && kind = server && duration > ${__value.raw}s }`))),

			row("SLO (recording rules)"),
			timeseries("Availability by route (5m)", "job_route_method:http_server_availability:ratio_rate5m and job_method:rpc_server_availability:ratio_rate5m.", []target{
				q(`job_route_method:http_server_availability:ratio_rate5m{job=~"$job"}`, "{{http_request_method}} {{http_route}}"),
				q(`job_method:rpc_server_availability:ratio_rate5m{job=~"$job"}`, "gRPC {{rpc_method}}")},
				unit("percentunit"), minMax(0, 1)),
			timeseries("Error-budget burn rate", "Burn rates over the windows of the multi-window alerts: fast burn pages above 14.4 (1h with 5m) or 6 (6h with 30m); slow burn tickets above 3 (1d with 2h) or 1 (3d with 6h).", []target{
				q(`job:slo_burn_rate:rate5m{job=~"$job"}`, "5m"), q(`job:slo_burn_rate:rate30m{job=~"$job"}`, "30m"),
				q(`job:slo_burn_rate:rate1h{job=~"$job"}`, "1h"), q(`job:slo_burn_rate:rate2h{job=~"$job"}`, "2h"),
				q(`job:slo_burn_rate:rate6h{job=~"$job"}`, "6h"), q(`job:slo_burn_rate:rate1d{job=~"$job"}`, "1d"),
				q(`job:slo_burn_rate:rate3d{job=~"$job"}`, "3d")},
				unit("none"), thresholds(1, "orange", 14.4, "red"), thresholdLines()),
			timeseries("P99 and P95 by route (5m)", "job_route_method:http_server_request_duration_seconds:p99_rate5m and p95_rate5m; the dashed series is the P99 over the day before, the latency-spike alerts' baseline.", []target{
				q(`job_route_method:http_server_request_duration_seconds:p99_rate5m{job=~"$job"}`, "P99 {{http_request_method}} {{http_route}}"),
				q(`job_route_method:http_server_request_duration_seconds:p95_rate5m{job=~"$job"}`, "P95 {{http_request_method}} {{http_route}}"),
				q(`job_route_method:http_server_request_duration_seconds:p99_rate1d{job=~"$job"}`, "P99 1d {{http_request_method}} {{http_route}}")},
				unit("s")),
			timeseries("gRPC P99 and P95 by method (5m)", "job_method:rpc_server_call_duration_seconds:p99_rate5m and p95_rate5m.", []target{
				q(`job_method:rpc_server_call_duration_seconds:p99_rate5m{job=~"$job"}`, "P99 {{rpc_method}}"),
				q(`job_method:rpc_server_call_duration_seconds:p95_rate5m{job=~"$job"}`, "P95 {{rpc_method}}"),
				q(`job_method:rpc_server_call_duration_seconds:p99_rate1d{job=~"$job"}`, "P99 1d {{rpc_method}}")},
				unit("s")),

			row("Verdicts"),
			panel("state-timeline", "Verdict timeline", "Which of the judge's rules hold an active verdict, over time. Click a bar for the verdict's log records (Loki) and the traces it was added to (Tempo).",
				[]target{q("max by (verdict_rule) ("+s("verdict_verdicts_active")+")", "{{verdict_rule}}")},
				[]panelOpt{size(24, 8), unit("none"), verdictLinks, func(p obj) {
					p["fieldConfig"].(obj)["defaults"].(obj)["mappings"] = []obj{
						{"type": "value", "options": obj{"0": obj{"text": "clear", "color": "green", "index": 0}}},
						{"type": "range", "options": obj{"from": 1, "to": nil, "result": obj{"text": "active", "color": "red", "index": 1}}},
					}
					p["fieldConfig"].(obj)["defaults"].(obj)["color"] = obj{"mode": "thresholds"}
				}}),
			timeseries("Verdicts fired", "Verdicts that fired, by rule (verdict.verdicts, state firing).", []target{
				q("sum by (verdict_rule) (increase("+s("verdict_verdicts_total", `verdict_state="firing"`)+"[$__rate_interval]))", "{{verdict_rule}}")},
				unit("none"), bars(), verdictLinks),
			timeseries("Anomalous spans by cause", "Spans the judge found slower than their operation's baseline allows, by the component that dominated them.", []target{
				q("sum by (verdict_cause) ("+r(s("verdict_anomalies_total"))+")", "{{verdict_cause}}")}, unit("ops"), stacked()),
			{"type": "logs", "title": "Verdict log records", "description": "The judge's log records (Loki): summary, evidence and an exemplar trace_id, which the Loki datasource's derived field links to its trace.",
				"datasource": lokiDS(), "gridPos": obj{"w": 24, "h": 10},
				"targets": []obj{{"refId": "A", "datasource": lokiDS(), "expr": `{service_name=~"${service:pipe}"} | verdict_rule != ""`, "queryType": "range"}},
				"options": obj{"showLabels": false, "showCommonLabels": false, "showTime": true, "showLogContextToggle": true,
					"wrapLogMessage": true, "prettifyLogMessage": false, "enableLogDetails": true, "sortOrder": "Descending", "dedupStrategy": "none"},
			},
		},
	}
}

func httpGRPC() Dashboard {
	const srv, cli = "http_server_request_duration_seconds", "http_client_request_duration_seconds"
	const rsrv, rcli = "rpc_server_call_duration_seconds", "rpc_client_call_duration_seconds"
	const phase = "verdict_http_client_phase_duration_seconds"
	return Dashboard{
		UID: "verdict-http-grpc", Title: "Verdict / HTTP & gRPC",
		Description: "HTTP and gRPC servers and clients: routes, status codes, error types, latency with exemplars, and the client phase breakdown.",
		Panels: []obj{
			row("HTTP server"),
			timeseries("Requests by route", "", []target{q("sum by (http_request_method, http_route) ("+r(s(srv+"_count"))+")", "{{http_request_method}} {{http_route}}")}, unit("reqps"), tableLegend()),
			timeseries("Responses by status code", "", []target{q("sum by (http_response_status_code) ("+r(s(srv+"_count"))+")", "{{http_response_status_code}}")}, unit("reqps"), stacked()),
			timeseries("P99 by route", "Exemplars link to traces.", []target{qx(hq(0.99, srv+"_bucket", "http_request_method, http_route"), "{{http_request_method}} {{http_route}}")}, unit("s"), tableLegend()),
			timeseries("Server error types", "error.type of failed requests (the status code for 5xx).", []target{
				q("sum by (http_route, error_type) ("+r(s(srv+"_count", `error_type!=""`))+")", "{{http_route}} {{error_type}}")}, unit("reqps")),
			timeseries("Requests in flight", "http.server.active_requests.", []target{q("sum by (http_request_method) ("+s("http_server_active_requests")+")", "{{http_request_method}}")}, unit("none")),
			timeseries("Body sizes (P95)", "Request and response body sizes by route.", []target{
				q(hq(0.95, "http_server_request_body_size_bytes_bucket", "http_route"), "request {{http_route}}"),
				q(hq(0.95, "http_server_response_body_size_bytes_bucket", "http_route"), "response {{http_route}}")}, unit("bytes")),

			row("HTTP client"),
			timeseries("Client requests by server and status", "", []target{
				q("sum by (server_address, server_port, http_response_status_code) ("+r(s(cli+"_count"))+")", "{{server_address}}:{{server_port}} {{http_response_status_code}}")}, unit("reqps")),
			timeseries("Client P99 by server", "Exemplars link to traces.", []target{
				qx(hq(0.99, cli+"_bucket", "server_address, server_port"), "{{server_address}}:{{server_port}}")}, unit("s")),
			timeseries("Client phase breakdown (mean)", "Mean time per request in each phase: dns, connect, tls, request_write, server_wait (time to first byte), response_read. server_wait dominating means the peer is slow; connect or dns, the network or the resolver.", []target{
				q(mean(phase, "phase"), "{{phase}}")}, unit("s"), stacked()),
			timeseries("Client phase P99", "", []target{q(hq(0.99, phase+"_bucket", "phase, server_address"), "{{phase}} {{server_address}}")}, unit("s")),
			timeseries("Client error types", "error.type of failed client requests: a status code, or the transport's failure (timeout, connection_refused, dns, tls, ...).", []target{
				q("sum by (server_address, error_type) ("+r(s(cli+"_count", `error_type!=""`))+")", "{{server_address}} {{error_type}}")}, unit("reqps")),
			timeseries("Client body sizes (P95)", "", []target{
				q(hq(0.95, "http_client_request_body_size_bytes_bucket", "server_address"), "request {{server_address}}"),
				q(hq(0.95, "http_client_response_body_size_bytes_bucket", "server_address"), "response {{server_address}}")}, unit("bytes")),

			row("gRPC"),
			timeseries("Server calls by method and code", "", []target{
				q("sum by (rpc_method, rpc_response_status_code) ("+r(s(rsrv+"_count"))+")", "{{rpc_method}} {{rpc_response_status_code}}")}, unit("reqps")),
			timeseries("Server P99 by method", "Exemplars link to traces.", []target{qx(hq(0.99, rsrv+"_bucket", "rpc_method"), "{{rpc_method}}")}, unit("s")),
			timeseries("Client calls by server, method and code", "", []target{
				q("sum by (server_address, server_port, rpc_method, rpc_response_status_code) ("+r(s(rcli+"_count"))+")", "{{server_address}}:{{server_port}} {{rpc_method}} {{rpc_response_status_code}}")}, unit("reqps")),
			timeseries("Client P99 by server and method", "The server a call reached is the connection's address. Exemplars link to traces.", []target{
				qx(hq(0.99, rcli+"_bucket", "server_address, server_port, rpc_method"), "{{server_address}}:{{server_port}} {{rpc_method}}")}, unit("s")),
			timeseries("gRPC error types", "error.type (the status code name) of failed calls, server and client side.", []target{
				q("sum by (rpc_method, error_type) ("+r(s(rsrv+"_count", `error_type!=""`))+")", "server {{rpc_method}} {{error_type}}"),
				q("sum by (rpc_method, error_type) ("+r(s(rcli+"_count", `error_type!=""`))+")", "client {{rpc_method}} {{error_type}}")}, unit("reqps")),
			timeseries("Message sizes (P95)", "Uncompressed request and response message sizes.", []target{
				q(hq(0.95, "rpc_server_request_size_bytes_bucket", "rpc_method"), "server request {{rpc_method}}"),
				q(hq(0.95, "rpc_server_response_size_bytes_bucket", "rpc_method"), "server response {{rpc_method}}"),
				q(hq(0.95, "rpc_client_request_size_bytes_bucket", "rpc_method"), "client request {{rpc_method}}"),
				q(hq(0.95, "rpc_client_response_size_bytes_bucket", "rpc_method"), "client response {{rpc_method}}")}, unit("bytes")),
			timeseries("Messages per call (mean)", "Streaming calls send and receive more than one message.", []target{
				q(mean("rpc_server_requests_per_rpc", "rpc_method"), "server requests {{rpc_method}}"),
				q(mean("rpc_server_responses_per_rpc", "rpc_method"), "server responses {{rpc_method}}"),
				q(mean("rpc_client_requests_per_rpc", "rpc_method"), "client requests {{rpc_method}}"),
				q(mean("rpc_client_responses_per_rpc", "rpc_method"), "client responses {{rpc_method}}")}, unit("none")),
		},
	}
}

func sqlDashboard() Dashboard {
	const op, wait = "db_client_operation_duration_seconds", "db_client_connection_wait_time_seconds"
	pool := `db_client_connection_pool_name=~"$pool"`
	return Dashboard{
		UID: "verdict-sql", Title: "Verdict / SQL",
		Description: "Database operations by query summary (never the query text), slow queries, and the connection pools: use against the limit, waits, closes.",
		ExtraVars: []obj{queryVar("pool", "Pool", `label_values(db_client_connection_count{job=~"$job", instance=~"$instance"}, db_client_connection_pool_name)`, 0,
			"db.client.connection.pool.name of sqlxprobe pools (WithPoolName).")},
		Panels: []obj{
			row("Queries"),
			timeseries("Operations by query summary", "db.query.summary is the operation and its tables (\"SELECT orders\"): the top 100 per process, the rest under _OTHER.", []target{
				q("sum by (db_system_name, db_query_summary) ("+r(s(op+"_count"))+")", "{{db_query_summary}}")}, unit("ops"), tableLegend()),
			timeseries("P99 by query summary", "Exemplars link to the traces of slow queries, where the span has the full fingerprint.", []target{
				qx(hq(0.99, op+"_bucket", "db_query_summary"), "{{db_query_summary}}")}, unit("s"), tableLegend()),
			panel("table", "Slowest query summaries", "The 10 summaries with the highest P99 over the dashboard's time range, with their rate.", []target{
				{expr: "topk(10, histogram_quantile(0.99, sum by (db_system_name, db_query_summary, le) (rate(" + s(op+"_bucket") + "[$__range]))))", legend: "P99", instant: true},
				{expr: "sum by (db_system_name, db_query_summary) (rate(" + s(op+"_count") + "[$__range]))", legend: "rate", instant: true}},
				[]panelOpt{size(24, 8), unit("s"), func(p obj) {
					p["transformations"] = []obj{
						{"id": "merge", "options": obj{}},
						{"id": "organize", "options": obj{"excludeByName": obj{"Time": true},
							"renameByName": obj{"Value #A": "P99", "Value #B": "operations/s"}}},
						{"id": "sortBy", "options": obj{"sort": []obj{{"field": "P99", "desc": true}}}},
					}
					p["fieldConfig"].(obj)["overrides"] = []obj{{
						"matcher":    obj{"id": "byName", "options": "operations/s"},
						"properties": []obj{{"id": "unit", "value": "ops"}},
					}}
				}}),
			timeseries("Failed operations", "Database operations that returned an error, by summary and error.type.", []target{
				q("sum by (db_query_summary, error_type) ("+r(s(op+"_count", `error_type!=""`))+")", "{{db_query_summary}} {{error_type}}")}, unit("ops")),
			timeseries("Nested connections", "A transaction's context used to take a second pooled connection (deadlocks once the pool is exhausted); verdict.db.client.nested_connection, by database system (the span event names the pool).", []target{
				q("sum by (db_system_name) ("+r(s("verdict_db_client_nested_connection_total"))+")", "{{db_system_name}}")}, unit("ops")),

			row("Connection pools"),
			timeseries("Connections by state", "Used and idle connections; the dashed line is the pool's limit (absent for a pool without one).", []target{
				q("sum by (db_client_connection_pool_name, db_client_connection_state) ("+s("db_client_connection_count", pool)+")", "{{db_client_connection_pool_name}} {{db_client_connection_state}}"),
				q("sum by (db_client_connection_pool_name) ("+s("db_client_connection_max", pool)+")", "{{db_client_connection_pool_name}} max")},
				unit("none")),
			timeseries("Pool utilization", "Used over max (recording rule job_instance_pool:db_client_connection_utilization:ratio); the saturation alert fires at 90 % with waits.", []target{
				q(`job_instance_pool:db_client_connection_utilization:ratio{job=~"$job", instance=~"$instance", `+pool+`}`, "{{instance}} {{db_client_connection_pool_name}}")},
				unit("percentunit"), minMax(0, 1), thresholds(0.9, "red"), thresholdLines()),
			timeseries("Time waiting for a connection", "Seconds callers spent blocked waiting for a connection, per second (sql.DBStats.WaitDuration), and waits per second.", []target{
				q("sum by (db_client_connection_pool_name) ("+r(s("db_client_connection_wait_duration_seconds_total", pool))+")", "{{db_client_connection_pool_name}} s/s"),
				q("sum by (db_client_connection_pool_name) ("+r(s("db_client_connection_wait_count_total", pool))+")", "{{db_client_connection_pool_name}} waits/s")},
				unit("none")),
			timeseries("Connection wait per operation (P99)", "db.client.connection.wait_time: how long each operation waited for its connection. Exemplars link to traces.", []target{
				qx(hq(0.99, wait+"_bucket", "db_system_name"), "P99 {{db_system_name}}"),
				qx(hq(0.5, wait+"_bucket", "db_system_name"), "P50 {{db_system_name}}")}, unit("s")),
			timeseries("Connections closed", "Closed by the pool, by reason (max_idle, max_idle_time, max_lifetime): a high rate means churn.", []target{
				q("sum by (db_client_connection_pool_name, verdict_db_close_reason) ("+r(s("db_client_connection_closed_total", pool))+")", "{{db_client_connection_pool_name}} {{verdict_db_close_reason}}")},
				unit("ops")),
		},
	}
}

func goRuntime() Dashboard {
	return Dashboard{
		UID: "verdict-go-runtime", Title: "Verdict / Go runtime",
		Description: "GC pauses (exact stop-the-world windows from eBPF, or the runtime's figures), GC assists, heap against its goal and GOMEMLIMIT, allocation, scheduler latency, goroutines and what they block on.",
		Panels: []obj{
			row("GC"),
			timeseries("GC pauses", "P99 and P50 of stop-the-world pauses (verdict.gc.pause.duration): exact windows from eBPF uprobes on the runtime when the gc probe runs with eBPF (every stop, GC's and others'), else the runtime's own GC pause figures.", []target{
				q(hq(0.99, "verdict_gc_pause_duration_seconds_bucket", ""), "P99"),
				q(hq(0.5, "verdict_gc_pause_duration_seconds_bucket", ""), "P50")}, unit("s")),
			timeseries("Stop-the-world time by reason", "Seconds stopped per second, by the runtime's reason (verdict.gc.pause.reason: \"GC mark termination\", \"read mem stats\", ...; \"GC\" without eBPF).", []target{
				q("sum by (verdict_gc_pause_reason) ("+r(s("verdict_gc_pause_duration_seconds_sum"))+")", "{{verdict_gc_pause_reason}}")}, unit("percentunit"), stacked()),
			timeseries("Longest pause by reason (P99)", "", []target{
				q(hq(0.99, "verdict_gc_pause_duration_seconds_bucket", "verdict_gc_pause_reason"), "{{verdict_gc_pause_reason}}")}, unit("s")),
			timeseries("GC assist time", "CPU seconds per second that goroutines spent assisting the GC instead of running their own code (verdict.gc.assist.time).", []target{
				q("sum by (instance) ("+r(s("verdict_gc_assist_time_seconds_total"))+")", "{{instance}}")}, unit("percentunit")),
			timeseries("GC cycles and GC CPU", "GC cycles per second, and the share of CPU the GC takes.", []target{
				q("sum("+r(s("verdict_go_gc_cycles_total"))+")", "cycles/s"),
				q("max("+s("verdict_go_gc_cpu_fraction_ratio")+")", "GC CPU fraction")}, unit("none")),

			row("Memory"),
			timeseries("Heap against goal and GOMEMLIMIT", "Live heap after the last GC, the heap goal the next GC aims for, Go runtime memory (what GOMEMLIMIT bounds) and the limit (absent while unset).", []target{
				q("sum by (instance) ("+s("verdict_go_memory_heap_live_bytes")+")", "live heap {{instance}}"),
				q("sum by (instance) ("+s("go_memory_gc_goal_bytes")+")", "heap goal {{instance}}"),
				q("sum by (instance) ("+s("go_memory_used_bytes")+")", "runtime memory {{instance}}"),
				q("sum by (instance) ("+s("go_memory_limit_bytes")+")", "GOMEMLIMIT {{instance}}")}, unit("bytes")),
			timeseries("Memory against GOMEMLIMIT", "Recording rule job_instance:go_memory_limit_utilization:ratio; the alert fires above 90 %.", []target{
				q(`job_instance:go_memory_limit_utilization:ratio{job=~"$job", instance=~"$instance"}`, "{{instance}}")},
				unit("percentunit"), thresholds(0.9, "red"), thresholdLines()),
			timeseries("Allocation rate", "Bytes and objects allocated per second on the heap.", []target{
				q("sum by (instance) ("+r(s("go_memory_allocated_bytes_total"))+")", "bytes/s {{instance}}"),
				q("sum by (instance) ("+s("verdict_go_memory_allocation_rate_bytes_per_second")+")", "bytes/s (probe window) {{instance}}"),
				q("sum by (instance) ("+s("verdict_go_memory_heap_growth_rate_bytes_per_second")+")", "heap growth bytes/s {{instance}}")}, unit("Bps")),
			timeseries("Allocations", "Heap objects allocated per second.", []target{
				q("sum by (instance) ("+r(s("go_memory_allocations_total"))+")", "{{instance}}")}, unit("ops")),
			timeseries("Memory by class", "go.memory.used by type (stack, other), and the process's resident memory.", []target{
				q("sum by (go_memory_type) ("+s("go_memory_used_bytes")+")", "{{go_memory_type}}"),
				q("sum by (instance) ("+s("process_resident_memory_bytes")+")", "resident {{instance}}")}, unit("bytes")),

			row("Scheduler and goroutines"),
			timeseries("Scheduler latency", "Time runnable goroutines waited for a thread (go.schedule.duration).", []target{
				q(hq(0.99, "go_schedule_duration_seconds_bucket", ""), "P99"), q(hq(0.5, "go_schedule_duration_seconds_bucket", ""), "P50")}, unit("s")),
			timeseries("CPU against GOMAXPROCS", "CPU seconds per second of the process, and GOMAXPROCS (go.processor.limit).", []target{
				q("sum by (instance) ("+r(s("process_cpu_seconds_total"))+")", "CPU {{instance}}"),
				q("sum by (instance) ("+s("go_processor_limit")+")", "GOMAXPROCS {{instance}}")}, unit("none")),
			timeseries("Goroutines", "", []target{
				q("sum by (instance) ("+s("go_goroutine_count")+")", "{{instance}}"),
				q("sum by (instance) ("+s("verdict_go_goroutine_leak_suspects")+")", "leak suspect stacks {{instance}}")}, unit("none")),
			timeseries("Blocked goroutines by class", "What parked goroutines wait on: channel, select, sync (mutexes), network, syscall, sleep, gc_assist, other.", []target{
				q("sum by (verdict_go_block_class) ("+s("verdict_go_goroutine_blocked")+")", "{{verdict_go_block_class}}")}, unit("none"), stacked()),
			timeseries("Mutex wait", "Seconds goroutines spent blocked on sync.Mutex and RWMutex, per second.", []target{
				q("sum by (instance) ("+r(s("verdict_go_sync_mutex_wait_duration_seconds_total"))+")", "{{instance}}")}, unit("percentunit")),
			timeseries("Runtime settings", "GOGC and GOMAXPROCS as the runtime reports them.", []target{
				q("max by (instance) ("+s("go_config_gogc_percent")+")", "GOGC {{instance}}"),
				q("max by (instance) ("+s("go_processor_limit")+")", "GOMAXPROCS {{instance}}")}, unit("none")),
			timeseries("File descriptors", "", []target{
				q("sum by (instance) ("+s("process_open_fds")+")", "open {{instance}}"),
				q("sum by (instance) ("+s("process_max_fds")+")", "limit {{instance}}")}, unit("none")),
		},
	}
}

func kernel() Dashboard {
	const sys, off, runq = "verdict_kernel_syscall_duration_seconds", "verdict_kernel_offcpu_duration_seconds", "verdict_kernel_runqueue_duration_seconds"
	return Dashboard{
		UID: "verdict-kernel", Title: "Verdict / Kernel (eBPF)",
		Description: "What the kernel saw of each span (eBPF): time in system calls, off-CPU time inside them, run-queue wait; the probes' losses; the process's network traffic, TCP health per peer and socket waits; CPU scheduling and cgroup throttling.",
		Panels: []obj{
			row("Kernel time per span"),
			timeseries("Kernel time per second of spans", "Seconds per second, summed over spans: in system calls, blocked off-CPU inside them, and runnable but waiting for a CPU.", []target{
				q("sum("+r(s(sys+"_sum"))+")", "system calls"), q("sum("+r(s(off+"_sum"))+")", "off-CPU"), q("sum("+r(s(runq+"_sum"))+")", "run queue")},
				unit("percentunit")),
			timeseries("System-call time per span", "P99 and P50 of the time a request spent in system calls: its entry span (server, consumer or local root) with the spans it enclosed on its goroutine, as for the other kernel histograms.", []target{
				q(hq(0.99, sys+"_bucket", ""), "P99"), q(hq(0.5, sys+"_bucket", ""), "P50")}, unit("s")),
			timeseries("Off-CPU time per span", "Time blocked off-CPU inside system calls (file I/O, fsync, blocking calls).", []target{
				q(hq(0.99, off+"_bucket", ""), "P99"), q(hq(0.5, off+"_bucket", ""), "P50")}, unit("s")),
			timeseries("Run-queue time per span", "Time the span's goroutine was runnable but its thread waited for a CPU: CPU starvation or cgroup throttling.", []target{
				q(hq(0.99, runq+"_bucket", ""), "P99"), q(hq(0.5, runq+"_bucket", ""), "P50")}, unit("s")),
			timeseries("Kernel time per span (mean)", "", []target{
				q("sum("+r(s(sys+"_sum"))+") / sum("+r(s(sys+"_count"))+")", "system calls"),
				q("sum("+r(s(off+"_sum"))+") / sum("+r(s(off+"_count"))+")", "off-CPU"),
				q("sum("+r(s(runq+"_sum"))+") / sum("+r(s(runq+"_count"))+")", "run queue")}, unit("s")),
			timeseries("Probe losses", "Kernel events and stop-the-world windows the probes lost (ring buffer full, or seen without a beginning).", []target{
				q("sum("+r(s("verdict_kernel_events_lost_total"))+")", "kernel events"),
				q("sum("+r(s("verdict_gc_pause_lost_total"))+")", "stop-the-world windows")}, unit("ops")),

			row("Network"),
			timeseries("Network traffic", "Bytes the process received and sent (/proc/self/net/dev of its network namespace).", []target{
				q("sum by (instance) ("+r(s("process_network_receive_bytes_total"))+")", "received {{instance}}"),
				q("sum by (instance) ("+r(s("process_network_transmit_bytes_total"))+")", "sent {{instance}}")}, unit("Bps")),

			row("TCP health (eBPF)"),
			timeseries("TCP connects by outcome", "Connection attempts of the process per second by outcome (verdict.tcp.connect.outcome: established, refused, failed) and peer: refused is downstream.refused, failed a peer that does not answer.", []target{
				q("sum by (verdict_tcp_connect_outcome, network_peer_address, network_peer_port) ("+r(s("verdict_tcp_connects_total", `verdict_tcp_connect_outcome!="established"`))+")",
					"{{verdict_tcp_connect_outcome}} {{network_peer_address}}:{{network_peer_port}}"),
				q("sum("+r(s("verdict_tcp_connects_total", `verdict_tcp_connect_outcome="established"`))+")", "established (all peers)")}, unit("ops")),
			timeseries("TCP resets and retransmits", "Resets received and sent, and segments retransmitted, per second and peer (at most the probe's top peers, the others as _OTHER).", []target{
				q("sum by (network_io_direction, network_peer_address) ("+r(s("verdict_tcp_resets_total"))+")", "reset {{network_io_direction}} {{network_peer_address}}"),
				q("sum by (network_peer_address) ("+r(s("verdict_tcp_retransmits_total"))+")", "retransmit {{network_peer_address}}")}, unit("ops")),
			timeseries("Socket wait per span (P99)", "Time a span waited on its connection's socket (reads that would block until the next successful one, and writes), by kind of span.", []target{
				q(hq(0.99, "verdict_http_server_socket_wait_duration_seconds_bucket", ""), "HTTP server"),
				q(hq(0.99, "verdict_http_client_socket_wait_duration_seconds_bucket", ""), "HTTP client"),
				q(hq(0.99, "verdict_rpc_server_socket_wait_duration_seconds_bucket", ""), "gRPC server"),
				q(hq(0.99, "verdict_rpc_client_socket_wait_duration_seconds_bucket", ""), "gRPC client")}, unit("s")),
			timeseries("Spans without a socket measurement", "Spans whose socket side could not be measured, per second, by reason (verdict.unmeasured.reason).", []target{
				q("sum by (verdict_unmeasured_reason) ("+r(s("verdict_socket_unmeasured_total"))+")", "{{verdict_unmeasured_reason}}")}, unit("ops")),

			row("CPU scheduling"),
			timeseries("Threads waiting for a CPU", "Run-queue time of the process's threads per second (verdict.sched.runqueue.time, from /proc): the average number of threads runnable but not running. cpu.starvation reads it.", []target{
				q("sum by (instance) ("+r(s("verdict_sched_runqueue_time_seconds_total"))+")", "{{instance}}")}, unit("none")),
			timeseries("cgroup CPU throttling", "Share of the cgroup's CPU-quota periods in which it was throttled, and throttled seconds per second (cpu.stat); nothing without a CPU quota.", []target{
				q("sum by (instance) ("+r(s("verdict_sched_cpu_throttled_periods_total"))+")\n/\nsum by (instance) ("+r(s("verdict_sched_cpu_periods_total"))+")", "throttled periods {{instance}}"),
				q("sum by (instance) ("+r(s("verdict_sched_cpu_throttled_time_seconds_total"))+")", "throttled s/s {{instance}}")}, unit("percentunit")),
		},
	}
}
