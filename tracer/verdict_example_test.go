package tracer_test

import (
	"context"
	"fmt"
	"log"

	"github.com/verdict-obs/verdict/tracer"
	"github.com/verdict-obs/verdict/tracer/judge"
	"github.com/verdict-obs/verdict/tracer/judge/rules"
)

// A verdict handler hears every verdict when it fires and when it clears;
// page someone, annotate a dashboard, open a ticket.
func ExampleWithVerdictHandler() {
	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("checkout"),
		tracer.WithVerdictHandler(func(ctx context.Context, v tracer.Verdict) {
			if !v.Active() {
				log.Printf("resolved after %s: %s", v.End.Sub(v.Start), v.Rule)
				return
			}
			// e.g. "gRPC Unavailable and 12 refused connects/s to 10.0.0.7:50051 ...
			// Check that 10.0.0.7:50051 is up and listening ..."
			log.Printf("%s: %s %s", v.Severity, v.Summary, v.Action)
			for _, e := range v.Evidence {
				log.Printf("  %s = %g (baseline %g, threshold %g) %s [%s]", e.Signal, e.Value, e.Baseline, e.Threshold, e.Unit, e.Source)
			}
			for _, x := range v.Exemplars {
				log.Printf("  see trace %s", x.TraceID) // kept whole by the tail sampler
			}
		}),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
}

// A user rule reads the same Snapshot as the built-in rules. This one
// fires when any route fails more than 20 % of its requests, holding at 10
// % once it fired (hysteresis), one verdict per route. A tuned copy of a
// built-in rule (same ID) replaces the default.
func ExampleWithRule() {
	routeErrors := judge.RuleFunc("acme.route_errors", func(s *judge.Snapshot, st judge.State) []judge.Finding {
		var out []judge.Finding
		for _, op := range s.Operations {
			limit := judge.Threshold(st.Active(op.Name), 0.2, 0.1)
			if op.Count < 20 || op.ErrorRatio.Value < limit {
				continue
			}
			out = append(out, judge.Finding{
				Subject:  op.Name,
				Severity: judge.SeverityWarning,
				Summary:  fmt.Sprintf("%s fails %.0f %% of its requests.", op.Name, 100*op.ErrorRatio.Value),
				Action:   "Open an exemplar trace.",
				Evidence: []judge.Evidence{{Signal: "route.error_ratio", Value: op.ErrorRatio.Value,
					Baseline: op.ErrorRatio.Baseline, Threshold: limit, Unit: "1", Source: judge.SourceSpans}},
				Exemplars: op.Exemplars,
			})
		}
		return out
	})
	slowQuery := rules.NewSlowQuery()
	slowQuery.Ratio = 5 // only regressions of 5× and more

	tr, err := tracer.Start(context.Background(),
		tracer.WithServiceName("checkout"),
		tracer.WithRule(routeErrors),
		tracer.WithRule(slowQuery),
		tracer.WithoutRules(rules.IDTelemetryDropping),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
}

// Verdicts lists what is wrong now (active verdicts first) and what was
// wrong recently, e.g. for a status page or a readiness endpoint.
func ExampleTracer_Verdicts() {
	tr, err := tracer.Start(context.Background(), tracer.WithServiceName("checkout"))
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Shutdown(context.Background())

	for _, v := range tr.Verdicts() {
		fmt.Println(v) // "critical downstream.refused (10.0.0.7:50051): 12 refused connects/s ..."
	}
}
