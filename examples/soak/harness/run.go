package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config says what a run does. Zero fields take the defaults noted.
type Config struct {
	// Variants are the variants the children can run; Order names the
	// ones driven, in phase order (default: all of Variants).
	Variants []Variant
	Order    []string
	// Rate is the request rate in requests per second; 0 measures the
	// capacity of the first variant in Order with wrk for CapacityTime
	// (default 5 s) and uses half of it.
	Rate         int
	CapacityTime time.Duration
	// Duration is the whole run (default 1 min), Phase the length of one
	// variant's turn (default 10 s), Warmup the start excluded from the
	// latency figures and the flatness check (default Duration/10, and
	// at least one turn of each variant).
	Duration, Phase, Warmup time.Duration
	// Workers is the number of concurrent requests the generator may have
	// in flight (default 64).
	Workers int
	// Progress gets a line a second (nil: none).
	Progress io.Writer
	// SVG is the plot's path (empty: no plot).
	SVG string
	// Executable runs the children (default os.Executable()); Env is
	// added to their environment.
	Executable string
	Env        []string
}

// Report is what a run measured.
type Report struct {
	Rate     int
	Capacity float64 // requests/s wrk measured, 0 when Rate was given
	Duration time.Duration
	Warmup   time.Duration
	Variants []VariantReport
	Samples  []Sample
	// Panics counts lines mentioning a panic on the children's standard
	// error; PanicLines holds the first of them.
	Panics     int
	PanicLines []string
}

// VariantReport is one variant's figures. Latencies and CPU count the
// phases that started after the warm-up; growth compares the largest
// value in the last quarter of the samples after the warm-up with the
// largest in the first quarter.
type VariantReport struct {
	Name                       string
	Requests, Errors           uint64 // after warm-up
	Total                      uint64 // requests answered 200 over the whole run
	Missed                     uint64 // requests the generator could not send in time (whole run)
	P50, P90, P99, P999, Max   time.Duration
	CPUPerRequest              time.Duration
	RSSGrowth, GoroutineGrowth float64
	FDGrowth                   float64
	RSS                        int64 // last sample
	Final                      Counters
	ExitErr                    string // the child's exit error, if any
}

// Sample is one child's figures at one second.
type Sample struct {
	T        time.Duration
	Variant  string
	Active   bool  // the generator was driving this child
	RSS      int64 // bytes
	FDs      int
	CPU      time.Duration
	P50, P99 time.Duration // of requests completed in that second (active child only)
	Counters Counters
}

func (c *Config) defaults() error {
	if len(c.Variants) == 0 {
		return errors.New("no variants")
	}
	if len(c.Order) == 0 {
		for _, v := range c.Variants {
			c.Order = append(c.Order, v.Name)
		}
	}
	for _, name := range c.Order {
		if _, ok := c.variant(name); !ok {
			return fmt.Errorf("unknown variant %q", name)
		}
	}
	if c.Duration <= 0 {
		c.Duration = time.Minute
	}
	if c.Phase <= 0 {
		c.Phase = 10 * time.Second
	}
	if c.Warmup <= 0 {
		// At least one turn of every variant: a child's first turn opens
		// its connections and pool.
		c.Warmup = max(c.Duration/10, time.Duration(len(c.Order))*c.Phase)
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.CapacityTime <= 0 {
		c.CapacityTime = 5 * time.Second
	}
	if c.Rate < 0 {
		return fmt.Errorf("rate %d", c.Rate)
	}
	if c.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		c.Executable = exe
	}
	return nil
}

func (c *Config) variant(name string) (Variant, bool) {
	for _, v := range c.Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// child is a running child process.
type child struct {
	name          string
	cmd           *exec.Cmd
	stdin         io.Closer
	app, stats    string // host:port
	dir           string
	stderr        *panicWriter
	done          chan struct{}
	waitErr       error
	cpuAtPhase    time.Duration
	cpu           time.Duration // CPU of phases after warm-up
	reqs          uint64        // requests of those phases
	total, missed uint64
	lat           hist
}

func startChild(ctx context.Context, cfg *Config, name string) (*child, error) {
	dir, err := os.MkdirTemp("", "verdict-soak-"+name+"-")
	if err != nil {
		return nil, err
	}
	if err := Seed(dir); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cmd := exec.Command(cfg.Executable)
	cmd.Env = append(append(os.Environ(), cfg.Env...), EnvChild+"="+name, envDSN+"="+DSN(dir))
	c := &child{name: name, cmd: cmd, dir: dir, stderr: &panicWriter{}, done: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.stdin = stdin
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { c.waitErr = cmd.Wait(); close(c.done) }()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
	}()
	select {
	case line := <-ready:
		f := strings.Fields(line)
		c.app, c.stats = f[1], f[2]
		return c, nil
	case <-c.done:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("child %s exited: %v: %s", name, c.waitErr, c.stderr.tail())
	case <-time.After(60 * time.Second):
		c.stop()
		return nil, fmt.Errorf("child %s not ready after 60 s: %s", name, c.stderr.tail())
	case <-ctx.Done():
		c.stop()
		return nil, ctx.Err()
	}
}

// stop closes the child's stdin (it shuts down) and waits, killing it
// after 20 s.
func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		if c.waitErr == nil {
			c.waitErr = errors.New("killed: no exit 20 s after stdin closed")
		}
	}
	os.RemoveAll(c.dir)
}

func (c *child) counters(client *http.Client) (Counters, error) {
	var ct Counters
	resp, err := client.Get("http://" + c.stats + "/")
	if err != nil {
		return ct, err
	}
	defer resp.Body.Close()
	return ct, json.NewDecoder(resp.Body).Decode(&ct)
}

// panicWriter keeps a child's standard error: the lines that mention a
// panic, and the last 8 KiB.
type panicWriter struct {
	mu     sync.Mutex
	line   []byte
	last   []byte
	panics int
	lines  []string
}

func (w *panicWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = append(w.last, p...)
	if len(w.last) > 8<<10 {
		w.last = append(w.last[:0:0], w.last[len(w.last)-8<<10:]...)
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			break
		}
		if l := w.line[:i]; bytes.Contains(bytes.ToLower(l), []byte("panic")) {
			w.panics++
			if len(w.lines) < 20 {
				w.lines = append(w.lines, string(l))
			}
		}
		w.line = w.line[i+1:]
	}
	if len(w.line) > 64<<10 {
		w.line = w.line[:0]
	}
	return len(p), nil
}

func (w *panicWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.last)
}

var wrkRate = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)

// Capacity measures what url serves closed-loop with wrk (2 threads, 64
// connections) for d: requests per second.
func Capacity(ctx context.Context, url string, d time.Duration) (float64, error) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return 0, fmt.Errorf("capacity: %w (apt-get install wrk, or give a rate)", err)
	}
	secs := max(int(d/time.Second), 1)
	out, err := exec.CommandContext(ctx, wrk, "-t2", "-c64", "-d"+strconv.Itoa(secs)+"s", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("wrk: %w: %s", err, out)
	}
	m := wrkRate.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("wrk: no rate in %q", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// Run starts one child per variant in cfg.Order, drives them in turn and
// returns the report. It writes the plot when cfg.SVG is set. A child
// that fails to start is an error; one that dies during the run is in its
// VariantReport.ExitErr.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var children []*child
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	seen := map[string]bool{}
	for _, name := range cfg.Order {
		if seen[name] {
			continue
		}
		seen[name] = true
		c, err := startChild(ctx, &cfg, name)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
	}
	byName := func(name string) *child {
		for _, c := range children {
			if c.name == name {
				return c
			}
		}
		return nil
	}
	rep := &Report{Rate: cfg.Rate, Duration: cfg.Duration, Warmup: cfg.Warmup}
	if rep.Rate == 0 {
		capacity, err := Capacity(ctx, "http://"+byName(cfg.Order[0]).app+"/orders/1", cfg.CapacityTime)
		if err != nil {
			return nil, err
		}
		rep.Capacity = capacity
		rep.Rate = max(int(capacity/2), 1)
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "capacity of %s (wrk, closed loop, %s): %.0f req/s; rate: %d req/s\n", cfg.Order[0], cfg.CapacityTime, capacity, rep.Rate)
		}
	}
	hosts := make([]string, len(children))
	for i, c := range children {
		hosts[i] = c.app
	}
	gen := newGenerator(rep.Rate, cfg.Workers, hosts)
	statsClient := &http.Client{Timeout: 5 * time.Second}
	defer statsClient.CloseIdleConnections()

	start := time.Now()
	var (
		mu     sync.Mutex
		active string
	)
	// The sampler: once a second, every child's /proc figures and counters.
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-tick.C:
			}
			sec := gen.swapSecond()
			mu.Lock()
			act := active
			mu.Unlock()
			t := time.Since(start)
			line := fmt.Sprintf("%4.0fs %-8s", t.Seconds(), act)
			for _, c := range children {
				s := Sample{T: t, Variant: c.name, Active: c.name == act}
				if ps, err := readProc(c.cmd.Process.Pid); err == nil {
					s.RSS, s.FDs, s.CPU = ps.RSS, ps.FDs, ps.CPU
				}
				if ct, err := c.counters(statsClient); err == nil {
					s.Counters = ct
				}
				if s.Active {
					s.P50, s.P99 = sec.quantile(0.50), sec.quantile(0.99)
					line += fmt.Sprintf(" | %d req/s p50 %s p99 %s", sec.count.Load(), round(s.P50), round(s.P99))
				}
				line += fmt.Sprintf(" | %s rss %.0fM g %d fd %d", c.name, float64(s.RSS)/(1<<20), s.Counters.Goroutines, s.FDs)
				if s.Counters.EBPF != nil && s.Counters.EBPF.On {
					line += fmt.Sprintf(" bpf lost %d spans %d/%d", s.Counters.EBPF.Lost+s.Counters.EBPF.STWLost, s.Counters.SpansExported, s.Counters.SpansDropped)
				}
				rep.Samples = append(rep.Samples, s)
			}
			if cfg.Progress != nil {
				fmt.Fprintln(cfg.Progress, line)
			}
		}
	}()

	// The phases: each variant in turn at the same rate.
	for i := 0; ctx.Err() == nil; i++ {
		elapsed := time.Since(start)
		if elapsed >= cfg.Duration {
			break
		}
		c := byName(cfg.Order[i%len(cfg.Order)])
		d := min(cfg.Phase, cfg.Duration-elapsed)
		counted := elapsed >= cfg.Warmup
		ph := &hist{}
		before, _ := readProc(c.cmd.Process.Pid)
		missedBefore := gen.missed.Load()
		mu.Lock()
		active = c.name
		mu.Unlock()
		pctx, cancel := context.WithTimeout(ctx, d)
		gen.run(pctx, "http://"+c.app, rep.Rate, ph)
		cancel()
		// Let the phase's requests finish before the next one starts.
		for gen.pending.Load() > 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		after, _ := readProc(c.cmd.Process.Pid)
		c.total += ph.count.Load()
		c.missed += gen.missed.Load() - missedBefore
		if counted {
			c.lat.merge(ph)
			c.cpu += after.CPU - before.CPU
			c.reqs += ph.count.Load()
		}
	}
	mu.Lock()
	active = ""
	mu.Unlock()
	stopSampling()
	<-sampled
	gen.close()

	for _, c := range children {
		vr := VariantReport{
			Name: c.name, Requests: c.lat.count.Load(), Errors: c.lat.errors.Load(), Total: c.total, Missed: c.missed,
			P50: c.lat.quantile(0.50), P90: c.lat.quantile(0.90), P99: c.lat.quantile(0.99), P999: c.lat.quantile(0.999),
			Max: time.Duration(c.lat.max.Load()),
		}
		if c.reqs > 0 {
			vr.CPUPerRequest = c.cpu / time.Duration(c.reqs)
		}
		if ct, err := c.counters(statsClient); err == nil {
			vr.Final = ct
		}
		vr.RSSGrowth, vr.GoroutineGrowth, vr.FDGrowth, vr.RSS = growth(rep.Samples, c.name, cfg.Warmup)
		rep.Variants = append(rep.Variants, vr)
	}
	for i, c := range children {
		c.stop()
		if c.waitErr != nil {
			rep.Variants[i].ExitErr = fmt.Sprintf("%v: %s", c.waitErr, c.stderr.tail())
		}
		c.stderr.mu.Lock()
		rep.Panics += c.stderr.panics
		rep.PanicLines = append(rep.PanicLines, c.stderr.lines...)
		c.stderr.mu.Unlock()
	}
	children = nil
	if cfg.SVG != "" {
		if err := os.WriteFile(cfg.SVG, Plot(rep), 0o644); err != nil {
			return rep, err
		}
	}
	return rep, ctx.Err()
}

// growth compares the largest RSS, goroutines and descriptors of the last
// quarter of name's samples after warmup with the first quarter's.
func growth(samples []Sample, name string, warmup time.Duration) (rss, gor, fds float64, last int64) {
	var s []Sample
	for _, x := range samples {
		if x.Variant == name && x.T >= warmup {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return 0, 0, 0, 0
	}
	last = s[len(s)-1].RSS
	q := max(len(s)/4, 1)
	peak := func(xs []Sample, f func(Sample) float64) float64 {
		m := 0.0
		for _, x := range xs {
			m = max(m, f(x))
		}
		return m
	}
	ratio := func(f func(Sample) float64) float64 {
		a, b := peak(s[:q], f), peak(s[len(s)-q:], f)
		if a == 0 {
			return 0
		}
		return b/a - 1
	}
	return ratio(func(x Sample) float64 { return float64(x.RSS) }),
		ratio(func(x Sample) float64 { return float64(x.Counters.Goroutines) }),
		ratio(func(x Sample) float64 { return float64(x.FDs) }), last
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond)
	case d >= 10*time.Microsecond:
		return d.Round(time.Microsecond)
	}
	return d
}
