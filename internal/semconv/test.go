package semconv

// Names of the test helper (package tracer/tracertest).
const (
	// AttrTestCaseName is the resource attribute naming the test a
	// per-test tracer serves (OpenTelemetry semantic conventions, test
	// namespace).
	AttrTestCaseName = "test.case.name"
	// LabelTest is the pprof goroutine label tracertest.Start puts on a
	// test's goroutine (inherited by the goroutines it starts), whose
	// value identifies the test: the leak check counts those goroutines.
	LabelTest = "verdict.test"
	// LabelOwned is the pprof goroutine label of the goroutines verdict
	// starts for a test (its tracer, probes and judge): none may be left
	// once the test's tracer shut down.
	LabelOwned = "verdict.owned"
	// LabelShared marks goroutines tracertest shares between tests (the
	// process's flight recorder).
	LabelShared = "verdict.shared"
)
