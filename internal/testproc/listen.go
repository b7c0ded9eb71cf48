package testproc

import (
	"net/netip"

	"github.com/verdict-obs/verdict/internal/selfaddr"
)

// Listening returns the TCP addresses the process pid listens on (IPv4 and
// IPv6), read from /proc (see [selfaddr.Listening]): what `ss -ltnp` shows
// for the process, without needing ss.
func Listening(pid int) ([]netip.AddrPort, error) { return selfaddr.Listening(pid) }
