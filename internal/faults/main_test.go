package faults

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv selects a child mode when the test binary is re-executed (as
// another user, see TestUnprivileged).
const childEnv = "VERDICT_FAULTS_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	goleak.VerifyTestMain(m)
}
