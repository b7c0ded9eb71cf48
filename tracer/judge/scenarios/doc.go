// Package scenarios is the judge's scenario suite: real faults against a
// real service (HTTP and gRPC servers on 127.0.0.1, SQLite and PostgreSQL,
// a loopback DNS server, CPU hogs in other processes), each a test that
// expects one verdict within 10 s of the fault's onset, with the right
// evidence, and nothing else. A healthy run under load expects none. The
// suite runs as root with eBPF on and, re-executed as uid 65534, without
// privileges: both at once, in two processes, the faults that load the
// host's CPU (CPU hogs, a GC storm, PostgreSQL's work) holding a
// cross-process lock so that the other suite's scenarios never run beside
// them. It has no non-test code.
package scenarios
