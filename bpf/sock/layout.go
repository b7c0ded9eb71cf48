//go:build linux && (386 || amd64 || arm64)

package sock

// The kernel's structs (sock.c) as bpf2go generates them: user space reads
// and writes the memory the kernel programs use through these very types.
type (
	conn  = sockConn
	gslot = sockGslot
	peer  = sockPeer
	stats = sockStats
)
