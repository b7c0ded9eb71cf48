package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"
	"time"
)

// The example makes its calls, each answered SERVING in a trace of its own.
func TestExample(t *testing.T) {
	quietEnv(t)
	var out bytes.Buffer
	if err := run(context.Background(), &out, 3, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`(?m)^health SERVING, trace [0-9a-f]{32}$`).FindAllString(out.String(), -1)); n != 3 {
		t.Errorf("%d calls answered, want 3:\n%s", n, out.String())
	}
}

// quietEnv sends the telemetry nowhere and leaves eBPF off: the test is
// about the example's wiring.
func quietEnv(t *testing.T) {
	for k, v := range map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none",
		"OTEL_LOGS_EXPORTER": "none", "VERDICT_EBPF": "off"} {
		t.Setenv(k, v)
	}
}
