package tracer

import (
	"strings"

	"github.com/verdict-obs/verdict/probes"
)

// Component kinds in [Status].
const (
	KindPipeline    = "pipeline"    // traces, metrics, logs
	KindPropagation = "propagation" // context propagation
	KindProbe       = "probe"       // a probe of WithProbes
	KindJudge       = "judge"       // the judge: rules, verdicts, tail-keep
)

// Status says what runs, what is off, and why. It is a snapshot: take a new
// one to see changes (an exporter failing, a probe degrading).
type Status struct {
	Service    string      // service.name of the resource
	Disabled   bool        // the SDK is off (OTEL_SDK_DISABLED=true)
	ShutDown   bool        // Shutdown was called
	Components []Component // pipelines first, then propagation, the judge, then probes in order
}

// Component is one part of the tracer in a [Status].
type Component struct {
	Name    string       // "traces", "metrics", "logs", "propagation", "judge", or the probe's name
	Kind    string       // KindPipeline, KindPropagation, KindJudge or KindProbe
	State   probes.State // on, off or degraded
	Detail  string       // what runs, e.g. "otlp/grpc http://localhost:4317"; may be empty
	Reason  string       // why off or degraded; empty when on
	Dropped uint64       // items dropped so far (pipelines only)
}

// Component returns the component with the given name.
func (s Status) Component(name string) (Component, bool) {
	for _, c := range s.Components {
		if c.Name == name {
			return c, true
		}
	}
	return Component{}, false
}

// String renders the status for a person, one component per line:
//
//	verdict: service "checkout"
//	traces: on: otlp/grpc http://localhost:4317, sampler parentbased_always_on
//	logs: off: OTEL_LOGS_EXPORTER=none
//	ebpf: off: missing CAP_BPF
func (s Status) String() string {
	var b strings.Builder
	b.WriteString("verdict: service ")
	b.WriteString(quote(s.Service))
	if s.Disabled {
		b.WriteString(" (SDK disabled by OTEL_SDK_DISABLED)")
	}
	if s.ShutDown {
		b.WriteString(" (shut down)")
	}
	for _, c := range s.Components {
		b.WriteByte('\n')
		b.WriteString(c.String())
	}
	return b.String()
}

// String renders one component as "name: state[: detail][: reason]".
func (c Component) String() string {
	parts := []string{c.Name, c.State.String()}
	if c.Detail != "" {
		parts = append(parts, c.Detail)
	}
	if c.Reason != "" {
		parts = append(parts, c.Reason)
	}
	return strings.Join(parts, ": ")
}

func quote(s string) string { return "\"" + s + "\"" }
