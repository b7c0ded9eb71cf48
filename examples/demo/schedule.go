package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/verdict-obs/verdict/tracer"
)

// schedule drives the load, injects the faults one after another and
// reports the verdicts.
type schedule struct {
	out   io.Writer
	short bool
	tr    *tracer.Tracer

	// Timing. The judge compares a 5 s window with a baseline: the
	// warm-up gives it a healthy history; a fault waits at most
	// verdictWait for its verdict, and then at most clearWait for the
	// verdict to clear before the next fault.
	warmup, verdictWait, clearWait, settle time.Duration
	// preClearWait bounds the wait for a verdict of the next fault's rule
	// that is active before the fault is injected.
	preClearWait time.Duration
	// hold, when set, runs after a fault's verdict fired, before the
	// fault is removed (tests look at the status page then).
	hold func(ctx context.Context, rule string)

	mu       sync.Mutex
	events   chan tracer.Verdict
	start    time.Time
	firstEvt bool
}

func newSchedule(out io.Writer, short bool) *schedule {
	s := &schedule{out: out, short: short, events: make(chan tracer.Verdict, 256),
		warmup: 10 * time.Second, verdictWait: 25 * time.Second, clearWait: 12 * time.Second, settle: 3 * time.Second,
		preClearWait: 20 * time.Second}
	if short {
		s.warmup, s.clearWait = 8*time.Second, 0
	}
	return s
}

// onVerdict is the tracer's verdict handler: it must not block, so it
// hands the verdict to the schedule's goroutine.
func (s *schedule) onVerdict(_ context.Context, v tracer.Verdict) {
	select {
	case s.events <- v:
	default:
	}
}

// result is one row of the summary table.
type result struct {
	f       fault
	fired   bool
	before  bool // active before the fault and never cleared: no time to verdict
	ttv     time.Duration
	verdict tracer.Verdict
	also    []string
}

func (s *schedule) run(ctx context.Context, sys *system, fs []fault) error {
	s.start = time.Now()
	fmt.Fprintf(s.out, "\n== load and faults: about %d requests/s from outside; %d fault(s), one after another\n", totalRate(), len(fs))
	l, err := startLoad(sys.FrontURL)
	if err != nil {
		return err
	}
	defer l.stop()

	fmt.Fprintf(s.out, "%s warm-up: %s of healthy traffic, so that the judge learns what normal looks like\n", s.stamp(), s.warmup)
	if err := s.watch(ctx, l, s.warmup, nil); err != nil {
		return err
	}
	if p := s.tr.Runtime(); p != nil {
		printRuntime(s.out, p.Snapshot())
	}

	var results []result
	for i, f := range fs {
		fmt.Fprintf(s.out, "\n%s fault %d/%d: %s — %s\n", s.stamp(), i+1, len(fs), f.title, f.what)
		r := result{f: f}
		// A verdict of this fault's rule that is still active (an earlier
		// fault's, or the host's: other processes can starve this one of
		// CPU) would hide this fault's: wait for it to clear first.
		if _, ok := s.active(f.rule); ok {
			fmt.Fprintf(s.out, "%s   %s is active before the fault: waiting up to %s for it to clear\n", s.stamp(), f.rule, s.preClearWait)
			if err := s.watch(ctx, l, s.preClearWait, func(tracer.Verdict) bool {
				_, still := s.active(f.rule)
				return !still
			}); err != nil {
				s.table(results)
				return err
			}
		}
		_, activeBefore := s.active(f.rule)
		// Time to verdict counts from the start of the injection (starting
		// the CPU hogs takes a while on a busy machine).
		at := time.Now()
		remove, err := f.inject(ctx, sys)
		if err != nil {
			return fmt.Errorf("inject %s: %w", f.name, err)
		}
		err = s.watch(ctx, l, s.verdictWait, func(v tracer.Verdict) bool {
			if !v.Active() {
				return false
			}
			if v.Rule == f.rule && !r.fired {
				r.fired, r.ttv, r.verdict = true, time.Since(at), v
				return true
			}
			if v.Rule != f.rule {
				r.also = append(r.also, v.Rule)
			}
			return false
		})
		if !r.fired && err == nil && activeBefore {
			// It never cleared: the fault ran under it. Say so rather
			// than claim a time to verdict.
			if v, ok := s.active(f.rule); ok {
				r.fired, r.before, r.verdict = true, true, v
				fmt.Fprintf(s.out, "%s   %s stayed active through the fault (it was active before it)\n", s.stamp(), f.rule)
			}
		}
		if !r.fired && err == nil {
			fmt.Fprintf(s.out, "%s   no %s verdict within %s\n", s.stamp(), f.rule, s.verdictWait)
		}
		if r.fired && err == nil && s.hold != nil {
			s.hold(ctx, f.rule)
		}
		// Remove the fault even when interrupted.
		if rerr := remove(); rerr != nil && err == nil {
			err = fmt.Errorf("remove %s: %w", f.name, rerr)
		}
		results = append(results, r)
		if err != nil {
			s.table(results)
			return err
		}
		fmt.Fprintf(s.out, "%s   fault removed\n", s.stamp())
		// Wait for the verdict to clear (the full schedule), then let the
		// service settle before the next fault.
		settle := s.settle
		if r.fired && s.clearWait > 0 {
			err = s.watch(ctx, l, s.clearWait, func(v tracer.Verdict) bool {
				if !v.Active() && v.Rule == f.rule && v.Subject == r.verdict.Subject {
					settle = time.Second
					return true
				}
				return false
			})
		}
		if err == nil && i < len(fs)-1 {
			err = s.watch(ctx, l, settle, nil)
		}
		if err != nil {
			s.table(results)
			return err
		}
	}
	s.table(results)
	return nil
}

// watch prints verdicts as they fire and clear, and progress every few
// seconds, for at most d; done (if not nil) ends it early when it returns
// true for a verdict.
func (s *schedule) watch(ctx context.Context, l *loader, d time.Duration, done func(tracer.Verdict) bool) error {
	limit := time.NewTimer(d)
	defer limit.Stop()
	tick := time.NewTicker(3 * time.Second)
	defer tick.Stop()
	prevOK, prevFailed, prevAt := l.ok.Load(), l.failed.Load(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-limit.C:
			return nil
		case v := <-s.events:
			s.printVerdict(v)
			if done != nil && done(v) {
				return nil
			}
		case now := <-tick.C:
			ok, failed := l.ok.Load(), l.failed.Load()
			n := (ok - prevOK) + (failed - prevFailed)
			sec := now.Sub(prevAt).Seconds()
			fail := 0.0
			if n > 0 {
				fail = 100 * float64(failed-prevFailed) / float64(n)
			}
			fmt.Fprintf(s.out, "%s   %3.0f requests/s, %4.1f %% failed, %d goroutines\n", s.stamp(), float64(n)/sec, fail, runtime.NumGoroutine())
			prevOK, prevFailed, prevAt = ok, failed, now
		}
	}
}

func (s *schedule) printVerdict(v tracer.Verdict) {
	subject := ""
	if v.Subject != "" {
		subject = " (" + short(v.Subject, 60) + ")"
	}
	if !v.Active() {
		fmt.Fprintf(s.out, "%s   ✓ cleared: %s%s, after %s\n", s.stamp(), v.Rule, subject, v.End.Sub(v.Start).Round(time.Second))
		return
	}
	fmt.Fprintf(s.out, "%s   ▶ verdict: %s %s%s\n", s.stamp(), v.Severity, v.Rule, subject)
	fmt.Fprintf(s.out, "             %s\n", v.Summary)
	if v.Action != "" {
		fmt.Fprintf(s.out, "             → %s\n", v.Action)
	}
	if len(v.Exemplars) > 0 {
		fmt.Fprintf(s.out, "             example trace %s\n", v.Exemplars[0].TraceID)
	}
}

// table prints the summary: fault → verdict → time to verdict → trace.
func (s *schedule) table(results []result) {
	fmt.Fprintf(s.out, "\n== summary (%s)\n", time.Since(s.start).Round(time.Second))
	w := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "fault\tverdict\ttime to verdict\texample trace\talso fired")
	for _, r := range results {
		verdict, ttv, trace := "NONE (expected "+r.f.rule+")", "-", "-"
		if r.fired {
			verdict, ttv = r.f.rule, fmt.Sprintf("%.1fs", r.ttv.Seconds())
			if r.before {
				ttv = "before" // active before the fault; see the log above
			}
			if len(r.verdict.Exemplars) > 0 {
				trace = r.verdict.Exemplars[0].TraceID.String()
			} else {
				trace = "(none: not one request's fault)"
			}
		}
		also := "-"
		if len(r.also) > 0 {
			also = strings.Join(dedup(r.also), ", ")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.f.title, verdict, ttv, trace, also)
	}
	w.Flush()
}

// active returns the active verdict of rule, if any.
func (s *schedule) active(rule string) (tracer.Verdict, bool) {
	for _, v := range s.tr.Verdicts() {
		if v.Rule == rule && v.Active() {
			return v, true
		}
	}
	return tracer.Verdict{}, false
}

func (s *schedule) stamp() string {
	return fmt.Sprintf("[%5.1fs]", time.Since(s.start).Seconds())
}

func totalRate() int {
	r := 0.0
	for _, l := range shopLoad {
		r += l.rate
	}
	return int(r)
}

func dedup(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func short(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
