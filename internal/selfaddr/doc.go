// Package selfaddr tells whether a network address is this process's own:
// one of the TCP addresses it listens on. A client call to such an address
// is served by this process (a gateway calling its own gRPC server over
// loopback, a demo with its back end in the same binary), so the judge
// reads a slow call there as this process's own handlers being slow, not
// a slow downstream.
//
// The listening sockets come from /proc (Linux): the sockets in state
// LISTEN of the process's network namespace whose inodes are among its
// file descriptors — no privileges needed. Elsewhere nothing matches.
package selfaddr
