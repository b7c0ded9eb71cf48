// Package runtimebench compares the cost of one collection of verdict's Go
// runtime probe with its peer, the Prometheus client_golang Go collector,
// in the same run. It holds benchmarks only.
package runtimebench
