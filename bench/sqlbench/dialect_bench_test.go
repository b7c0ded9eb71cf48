package sqlbench

import (
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	sqllexer "github.com/DataDog/go-sqllexer"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
	"github.com/verdict-obs/verdict/sqlxprobe"
)

// Per-dialect comparison on the real-world corpora of sqlxprobe
// (sqlxprobe/testdata/corpus): FingerprintDialect against go-sqllexer's
// ObfuscateAndNormalize with the matching DBMS, on the same statements.

const corpusDir = "../../sqlxprobe/testdata/corpus/"

type dialectSet struct {
	name  string
	d     sqlxprobe.Dialect
	dbms  sqllexer.DBMSType // "" lets go-sqllexer guess
	files []string
}

var dialectSets = []dialectSet{
	{"postgresql", sqlxprobe.DialectPostgres, sqllexer.DBMSPostgres, []string{"postgres.jsonl"}},
	{"mysql", sqlxprobe.DialectMySQL, sqllexer.DBMSMySQL, []string{"mysql.jsonl"}},
	{"sqlite", sqlxprobe.DialectSQLite, sqllexer.DBMSType("sqlite"), []string{"sqlite.jsonl"}},
	{"generic", sqlxprobe.DialectGeneric, "", []string{"postgres.jsonl", "mysql.jsonl", "sqlite.jsonl"}},
}

var (
	corpusOnce sync.Once
	corpusErr  error
	corpora    = map[string][]string{}
)

func corpus(tb testing.TB, set dialectSet) []string {
	corpusOnce.Do(func() {
		for _, s := range dialectSets {
			for _, f := range s.files {
				stmts, err := sqlcorpus.ReadStatements(corpusDir + f)
				if err != nil {
					corpusErr = err
					return
				}
				for _, st := range stmts {
					corpora[s.name] = append(corpora[s.name], st.Query)
				}
			}
		}
	})
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return corpora[set.name]
}

func benchDialect(b *testing.B, d sqlxprobe.Dialect, qs []string) {
	b.SetBytes(totalLen(qs))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, q := range qs {
			_ = sqlxprobe.FingerprintDialect(d, q)
		}
	}
}

func benchLexer(b *testing.B, dbms sqllexer.DBMSType, qs []string) {
	o, n := newObfuscator(), newNormalizer()
	b.SetBytes(totalLen(qs))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, q := range qs {
			if dbms == "" {
				_, _, _ = sqllexer.ObfuscateAndNormalize(q, o, n)
			} else {
				_, _, _ = sqllexer.ObfuscateAndNormalize(q, o, n, sqllexer.WithDBMS(dbms))
			}
		}
	}
}

func BenchmarkFingerprintDialect(b *testing.B) {
	for _, set := range dialectSets {
		qs := corpus(b, set)
		b.Run(set.name+"/corpus/sqlxprobe", func(b *testing.B) { benchDialect(b, set.d, qs) })
		b.Run(set.name+"/corpus/sqllexer-obfuscate+normalize", func(b *testing.B) { benchLexer(b, set.dbms, qs) })
	}
}

// TestDialectAllocs: at most one allocation per FingerprintDialect call,
// in every dialect, over its whole corpus (allocation counts are exact,
// so this runs in every pass).
func TestDialectAllocs(t *testing.T) {
	for _, set := range dialectSets {
		qs := corpus(t, set)
		if len(qs) < 500 {
			t.Fatalf("%s corpus: %d statements", set.name, len(qs))
		}
		for _, q := range qs {
			if n := testing.AllocsPerRun(5, func() { _ = sqlxprobe.FingerprintDialect(set.d, q) }); n > 1 {
				t.Errorf("%s: %.0f allocs for %q", set.name, n, q)
				break
			}
		}
	}
}

// cpuNow returns the CPU time this process has used (user + system). On
// a loaded machine it is steadier than wall time: it leaves out the time
// spent waiting for a CPU, and it includes the garbage collector's work on
// other threads.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPerByte runs f over qs until it has used at least min of CPU and
// returns the CPU time per byte.
// The clock is read between batches of passes that take a few
// milliseconds, so that the getrusage call does not weigh on short sets.
func cpuPerByte(qs []string, min time.Duration, f func(string)) float64 {
	size := totalLen(qs)
	var bytes int64
	batch := 1
	start := cpuNow()
	for {
		t0 := cpuNow()
		for k := 0; k < batch; k++ {
			for _, q := range qs {
				f(q)
			}
		}
		bytes += size * int64(batch)
		now := cpuNow()
		if now-start >= min {
			return float64(now-start) / float64(bytes)
		}
		if now-t0 < 5*time.Millisecond {
			batch *= 2
		}
	}
}

func allocsPerCall(qs []string, f func(string)) float64 {
	var total float64
	for _, q := range qs {
		total += testing.AllocsPerRun(3, func() { f(q) })
	}
	return total / float64(len(qs))
}

// dialectReport compares each dialect with go-sqllexer on the same
// statements, for TestReport: rounds alternate between the two, and the
// median of the per-round ratios of CPU time per byte is reported.
func dialectReport(t *testing.T) {
	type set struct {
		name string
		qs   []string
	}
	for _, ds := range dialectSets {
		ours := func(q string) { _ = sqlxprobe.FingerprintDialect(ds.d, q) }
		o, n := newObfuscator(), newNormalizer()
		theirs := func(q string) { _, _, _ = sqllexer.ObfuscateAndNormalize(q, o, n) }
		if ds.dbms != "" {
			theirs = func(q string) { _, _, _ = sqllexer.ObfuscateAndNormalize(q, o, n, sqllexer.WithDBMS(ds.dbms)) }
		}
		for _, s := range []set{{"corpus", corpus(t, ds)}, {"short OLTP", shortQueries}, {"long 3.7 KB", []string{longQuery}}} {
			var ratios []float64
			var oursNs, theirsNs float64
			for round := 0; round < 5; round++ {
				a := cpuPerByte(s.qs, 150*time.Millisecond, ours)
				b := cpuPerByte(s.qs, 150*time.Millisecond, theirs)
				ratios = append(ratios, b/a)
				oursNs, theirsNs = oursNs+a, theirsNs+b
			}
			sort.Float64s(ratios)
			t.Logf("%-10s %-11s (%4d statements, %6d B): sqlxprobe %6.1f MB/s %.2f allocs/call | go-sqllexer ObfuscateAndNormalize %5.1f MB/s %.2f allocs/call | ratio %.1fx (rounds %.1f-%.1f)",
				ds.name, s.name, len(s.qs), totalLen(s.qs), 5e3/oursNs, allocsPerCall(s.qs, ours), 5e3/theirsNs, allocsPerCall(s.qs, theirs),
				ratios[2], ratios[0], ratios[4])
		}
	}
}
