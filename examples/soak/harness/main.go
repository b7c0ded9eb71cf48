package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// Main is the harness's command line (examples/soak, bench/soakpeer): it
// runs a child when EnvChild says so, otherwise parses the flags, runs and
// prints the report. It returns the exit status: 0, 1 for an error, 3 when
// a child panicked or died.
func Main(variants ...Variant) int {
	if Child(variants...) {
		return 0
	}
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.Name
	}
	var cfg Config
	var order string
	flag.DurationVar(&cfg.Duration, "duration", time.Minute, "length of the whole run")
	flag.IntVar(&cfg.Rate, "rate", 0, "requests per second, all phases; 0: half the capacity wrk measures on the first variant")
	flag.DurationVar(&cfg.Phase, "phase", 10*time.Second, "length of one variant's turn")
	flag.DurationVar(&cfg.Warmup, "warmup", 0, "start of the run left out of the latency figures and the flatness check (default duration/10, at least one turn of each variant)")
	flag.DurationVar(&cfg.CapacityTime, "capacity-time", 5*time.Second, "how long wrk measures capacity when -rate is 0")
	flag.IntVar(&cfg.Workers, "workers", 64, "requests in flight at most")
	flag.StringVar(&order, "variants", strings.Join(names, ","), "variants driven in turn, comma-separated, from: "+strings.Join(names, ", "))
	flag.StringVar(&cfg.SVG, "svg", "soak.svg", "plot of RSS, goroutines, descriptors and latency over time (empty: none)")
	flag.Parse()
	cfg.Variants = variants
	cfg.Order = strings.Split(order, ",")
	cfg.Progress = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		rep.Write(os.Stdout)
		if cfg.SVG != "" {
			fmt.Printf("plot: %s\n", cfg.SVG)
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "soak:", err)
		return 1
	}
	if rep != nil && !rep.Healthy() {
		return 3
	}
	return 0
}

// Healthy reports whether no child panicked or died.
func (r *Report) Healthy() bool {
	if r.Panics > 0 {
		return false
	}
	for _, v := range r.Variants {
		if v.ExitErr != "" {
			return false
		}
	}
	return true
}

// Write prints the report as text.
func (r *Report) Write(w io.Writer) {
	if r.Capacity > 0 {
		fmt.Fprintf(w, "capacity (wrk, closed loop): %.0f req/s\n", r.Capacity)
	}
	fmt.Fprintf(w, "rate %d req/s for %s, phases in turn; figures after the %s warm-up\n\n", r.Rate, r.Duration.Round(time.Second), r.Warmup.Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\tserved\terrors\tmissed\tp50\tp90\tp99\tp99.9\tmax\tCPU/req\tRSS\tRSS growth\tgoroutines growth\tfds growth\t")
	for _, v := range r.Variants {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f MiB\t%+.1f%%\t%+.1f%%\t%+.1f%%\t\n",
			v.Name, v.Total, v.Errors, v.Missed, round(v.P50), round(v.P90), round(v.P99), round(v.P999), round(v.Max),
			round(v.CPUPerRequest), float64(v.RSS)/(1<<20), 100*v.RSSGrowth, 100*v.GoroutineGrowth, 100*v.FDGrowth)
	}
	tw.Flush()
	base := r.variant("off")
	if base != nil && base.P50 > 0 {
		fmt.Fprintln(w)
		for _, v := range r.Variants {
			if v.Name == "off" || v.P50 == 0 {
				continue
			}
			fmt.Fprintf(w, "%s / off: p50 %.2f×  p99 %.2f×  CPU/request %.2f×\n", v.Name,
				float64(v.P50)/float64(base.P50), float64(v.P99)/float64(base.P99), ratio(v.CPUPerRequest, base.CPUPerRequest))
		}
	}
	for _, v := range r.Variants {
		f := v.Final
		if f.EBPF == nil && f.SpansExported == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s: spans exported %d, dropped %d; verdicts fired %d, active %d\n", v.Name, f.SpansExported, f.SpansDropped, f.VerdictsFired, f.VerdictsActive)
		if b := f.EBPF; b != nil {
			if b.On {
				fmt.Fprintf(w, "  eBPF on: produced %d syscalls timed, %d socket spans, %d stop-the-world windows; consumed %d spans with kernel time, %d pauses; lost %d (timing) + %d (pauses)\n",
					b.Syscalls, b.Sockets, b.Pauses, b.Spans, b.Pauses, b.Lost, b.STWLost)
			} else {
				fmt.Fprintf(w, "  eBPF off: %s\n", b.Reason)
			}
		}
		if f.Status != "" {
			fmt.Fprintf(w, "  status: %s\n", f.Status)
		}
	}
	fmt.Fprintf(w, "\npanics: %d\n", r.Panics)
	for _, l := range r.PanicLines {
		fmt.Fprintf(w, "  %s\n", l)
	}
	for _, v := range r.Variants {
		if v.ExitErr != "" {
			fmt.Fprintf(w, "%s exited: %s\n", v.Name, v.ExitErr)
		}
	}
}

func (r *Report) variant(name string) *VariantReport {
	for i := range r.Variants {
		if r.Variants[i].Name == name {
			return &r.Variants[i]
		}
	}
	return nil
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
