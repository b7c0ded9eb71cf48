package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the tests (the service under
// test starts servers and load goroutines).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
