package pgtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests (run waits for the
// binaries it starts).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
