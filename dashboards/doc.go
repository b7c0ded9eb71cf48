// Package dashboards embeds what an SRE provisions on day one for a service
// instrumented with verdict: Grafana dashboards, Grafana datasource and
// dashboard provisioning, Prometheus recording and alerting rules, and the
// runbook the alerts link to. It uses the standard library only.
//
// # Files
//
// [FS] holds, and [WriteTo] writes:
//
//	grafana/dashboards/verdict-overview.json     service overview: RED, SLO series, verdict timeline
//	grafana/dashboards/verdict-http-grpc.json    HTTP and gRPC: routes, status, error types, client phases
//	grafana/dashboards/verdict-sql.json          SQL: query summaries, slow queries, pool use and waits
//	grafana/dashboards/verdict-go-runtime.json   Go runtime: GC pauses, heap vs goal and GOMEMLIMIT, scheduler, goroutines
//	grafana/dashboards/verdict-kernel.json       kernel (eBPF): system-call, off-CPU and run-queue time per span
//	grafana/provisioning/datasources/verdict.yaml  Prometheus, Loki and Tempo with their links
//	grafana/provisioning/dashboards/verdict.yaml   a file provider for the dashboards
//	prometheus/verdict-recording.rules.yml       SLO and saturation series
//	prometheus/verdict-alerts.rules.yml          the alert pack
//	RUNBOOK.md                                   one section per alert class and per rule of the judge
//
// # Provisioning
//
// Write the files out with [WriteTo], or from the command line:
//
//	go run github.com/verdict-obs/verdict/dashboards/cmd/verdict-dashboards -o ./observability
//
// Then point the servers at them:
//
//   - Prometheus: add both rule files to rule_files (the alerts need the
//     recorded series), and start it with --enable-feature=exemplar-storage
//     so that latency panels show exemplars.
//   - Grafana: mount grafana/provisioning at /etc/grafana/provisioning and
//     grafana/dashboards at /var/lib/grafana/dashboards/verdict (the path in
//     the dashboard provider). Edit the datasource URLs (prometheus:9090,
//     loki:3100, tempo:3200) to your servers; keep the UIDs, which the
//     dashboards' datasource variables default to.
//   - Alertmanager: route on the severity label (critical pages, warning
//     tickets); the sli label names the class (latency, errors, saturation,
//     availability, staleness, verdict) and verdict_rule the judge's rule an
//     alert relates to.
//
// Every dashboard has the template variables service (service.name, from
// target_info), job and instance, and datasource variables for Prometheus,
// Loki and Tempo. Latency panels show exemplars, which link to their trace
// through the Prometheus datasource's exemplarTraceIdDestinations; the
// verdict timeline links each verdict to its log records in Loki and to the
// traces it was added to in Tempo; Loki's derived field turns a record's
// trace_id into a link to the trace, and Tempo links traces to their logs
// and to the service's metrics.
//
// # Rules
//
// Recorded series follow Prometheus's level:metric:operations convention:
// job_route_method:http_server_availability:ratio_rate5m,
// job_route_method:http_server_request_duration_seconds:p99_rate5m (and
// p95), job_method:rpc_server_* for gRPC, job:slo_burn_rate:rate5m ... rate3d
// for the multi-window burn-rate alerts (objective 99.9 %), and
// job_instance:* saturation ratios. The alert pack covers five SLI classes —
// latency spike, error-rate surge, saturation (CPU against GOMAXPROCS,
// memory against GOMEMLIMIT, connection pools, goroutines), availability
// burn (multi-window, multi-burn-rate, as in the SRE workbook), stale data
// (target down, metrics frozen) — plus an alert on the judge's active
// verdicts and one on verdict's own dropped telemetry. Each alert has a
// summary, a description and a runbook_url to its section of RUNBOOK.md.
//
// The files are generated and checked by the nested module
// dashboards/validate: every dashboard parses strictly with Grafana's schema
// (grafana-foundation-sdk), every PromQL expression parses with Prometheus's
// parser, promtool checks the rules and runs a unit test of every alert, and
// a test scrapes a live service with a real Prometheus with the rules
// loaded: every metric name and label the files use must be in the scrape,
// the recorded series must agree with the load generator's own counts, and
// injected faults must make their alerts go pending.
//
// # Names and lint
//
// Metric names follow the OpenTelemetry semantic conventions as the
// OpenTelemetry Prometheus exporter translates them (dots become
// underscores, the unit becomes a suffix: http.server.request.duration is
// http_server_request_duration_seconds). `promtool check metrics` on a live
// scrape flags exactly two of them, on purpose: db_client_connection_count
// and go_goroutine_count are gauges (up-down counters) whose names end in
// _count, which Prometheus reserves for histograms and summaries. They are
// the conventions' names (db.client.connection.count, go.goroutine.count)
// and stay; query them as gauges. internal/e2e and dashboards/validate fail
// if promtool flags anything else, or stops flagging these.
//
// Two more facts the dashboards rely on: db_client_connection_max is absent
// while a pool has no limit, so a used/max saturation panel shows no value
// for such a pool instead of dividing by zero; go_memory_limit_bytes is
// absent while GOMEMLIMIT is unset, likewise; and duration histograms have
// boundaries from 100 µs (a superset of the conventions' advice, see
// tracer.WithHistograms), so every `le` value of the advice exists.
package dashboards
