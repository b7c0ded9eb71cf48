//go:build !linux

package selfaddr

import (
	"errors"
	"net/netip"
)

// Listening is implemented on Linux only.
func Listening(pid int) ([]netip.AddrPort, error) {
	return nil, errors.ErrUnsupported
}
