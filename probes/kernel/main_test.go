package kernel_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv selects a helper mode when the test binary re-executes itself.
const childEnv = "VERDICT_KERNEL_TEST_CHILD"

var childModes = map[string]func(){}

func TestMain(m *testing.M) {
	if f := childModes[os.Getenv(childEnv)]; f != nil {
		f()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
