// Package testproc runs the external servers that tests start for real
// (Prometheus, Jaeger): distinct free ports on 127.0.0.1, a child process
// whose output is kept for failure messages, readiness polling that gives up
// as soon as the child exits, a bounded stop, and the listening sockets of a
// process (to prove that a server listens on loopback only).
//
// [Require] is the one skip policy of these helpers: a server that is not
// installed skips the test with the reason, except under CI=true, where it
// fails it.
package testproc
