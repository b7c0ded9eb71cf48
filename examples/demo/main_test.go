package main

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/verdict-obs/verdict/tracer"
)

// TestDemo runs the README's main command in-process and checks that the
// report shows what verdict promises: traces with server, client and query
// spans, fingerprinted queries, client phases, error types, the status and
// the runtime findings; as root (always under CI), the kernel time of the
// span that blocks in nanosleep.
func TestDemo(t *testing.T) {
	mode := tracer.EBPFAuto
	if os.Geteuid() == 0 || os.Getenv("CI") == "true" {
		mode = tracer.EBPFRequired
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), &out, &errOut, options{rounds: 1, ebpf: mode}); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, errOut.String())
	}
	report := out.String()
	t.Log("\n" + report)
	for _, want := range []string{
		"server  GET /orders/{id}",
		"server  POST /orders",
		"server  GET /inventory/{item}",
		`query="SELECT id, customer, item, qty FROM orders WHERE id = ?"`,
		"status=404",
		"status=502",
		"error=connection_refused",
		"server wait=",
		"== status",
		"runtime: on",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// The wasteful report renderer is among the top allocation sites (its
	// package path is "main" under go run and the import path under go
	// test; on a loaded machine fmt's buffers may come first).
	if !regexp.MustCompile(`allocation hotspot #[123]: \S*\.render \(`).MatchString(report) {
		t.Errorf("report does not name render among the top allocation sites")
	}
	if !regexp.MustCompile(`msg="order created" order.id=\d+ item=espresso trace_id=[0-9a-f]{32} span_id=[0-9a-f]{16}`).MatchString(errOut.String()) {
		t.Errorf("console lacks the trace-correlated record:\n%s", errOut.String())
	}
	if mode != tracer.EBPFRequired {
		return
	}
	if !strings.Contains(report, "ebpf: on") {
		t.Errorf("eBPF required but status says otherwise")
	}
	// The inventory handler blocks 25 ms in nanosleep: the kernel sees it.
	m := regexp.MustCompile(`server  GET /inventory/\{item\}.*off-CPU=([0-9.]+)ms`).FindStringSubmatch(report)
	if m == nil {
		t.Fatal("inventory span without off-CPU time")
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v < 20 || v > 1000 {
		t.Errorf("inventory span off-CPU = %sms, want about 25ms", m[1])
	}
}
