// Package sqlbench compares sqlxprobe with its peers in the same run:
// Fingerprint against go-sqllexer (throughput, allocations and agreement
// on where literals are replaced over the shared query corpus), and the
// per-query cost of the sqlxprobe wrapper against XSAM/otelsql, both
// measured against bare sqlx on SQLite in memory.
//
// Run the measured comparison with
//
//	cd bench && SQLBENCH_REPORT=1 go test -run Report -v ./sqlbench/
//
// or the individual benchmarks with go test -bench . ./sqlbench/.
package sqlbench
