package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	t.Setenv("OTEL_SDK_DISABLED", "")
	var out, errOut bytes.Buffer
	if err := run(&out, &errOut); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`msg="order loaded" order.id=42 trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16})`).FindStringSubmatch(errOut.String())
	if m == nil {
		t.Fatalf("console lacks the correlated record:\n%s", errOut.String())
	}
	for _, want := range []string{`"Name": "load order"`, `"Name": "GET /orders/{id}"`, `"TraceID": "` + m[1], `"SpanID": "` + m[2], `"demo.orders"`, `order loaded`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %s", want)
		}
	}
	if !strings.Contains(errOut.String(), "traces: on: ") || !strings.Contains(errOut.String(), `verdict: service "verdict-demo"`) {
		t.Errorf("Status missing:\n%s", errOut.String())
	}
}
