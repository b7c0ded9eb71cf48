// Package dashboards embeds verdict's Grafana dashboards and Prometheus rules.
package dashboards
