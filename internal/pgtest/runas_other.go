//go:build !unix

package pgtest

import (
	"errors"
	"os/exec"
)

// runAs is not supported here: PostgreSQL tests need a Unix machine.
func runAs(*exec.Cmd, int, int) error {
	return errors.New("pgtest: running as another user needs Unix")
}
