//go:build unix

package pgtest

import (
	"os/exec"
	"syscall"
)

// runAs makes cmd run with the given user and group ids.
func runAs(cmd *exec.Cmd, uid, gid int) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	return nil
}
