package scenarios_test

// childEnv selects a mode of the test binary run as a subprocess: "hog"
// spins a CPU (the CPU starvation scenario), "unprivileged" runs the
// scenarios as uid 65534.
const childEnv = "VERDICT_SCENARIO_CHILD"
