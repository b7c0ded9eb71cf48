package w3c

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// traceParentRef is the traceparent grammar of W3C Trace Context written as
// a regular expression, independently of ParseTraceParent: version 00 is
// exactly 55 characters; a future version (not ff) may have more after a
// '-' (anything, a newline too: (?s)); lower-case hex only; optional
// white space around the value.
var traceParentRef = regexp.MustCompile(`(?s)^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?[ \t]*$`)

func refTraceParentOK(s string) bool {
	m := traceParentRef.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	trimmed := strings.Trim(s, " \t")
	switch {
	case m[1] == "ff":
		return false
	case m[1] == "00" && len(trimmed) != TraceParentLen:
		return false
	case m[2] == strings.Repeat("0", 32) || m[3] == strings.Repeat("0", 16):
		return false
	}
	return true
}

// FuzzTraceParentReference: ParseTraceParent accepts exactly what the
// grammar (as a regular expression) accepts.
func FuzzTraceParentReference(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01extra")
	f.Add("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")
	f.Add("\t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ")
	f.Fuzz(func(t *testing.T, s string) {
		_, got := ParseTraceParent(s)
		if want := refTraceParentOK(s); got != want {
			t.Fatalf("ParseTraceParent(%q) ok=%v, the grammar says %v", s, got, want)
		}
	})
}

// FuzzBaggageLists: several baggage headers are one list: parsing them
// apart or joined by a comma gives the same members; what is kept is whole
// members of the input, in order, within the limits; and the kept members,
// written back, parse to themselves.
func FuzzBaggageLists(f *testing.F) {
	f.Add("userId=alice", "serverNode=DF%2028;p=1")
	f.Add("k=v;prop", "k2 = v2 ; a = b")
	f.Add(strings.Repeat("k=v,", 40)+"k=v", strings.Repeat("x=y,", 40)+"x=y")
	f.Add("a="+strings.Repeat("x", 8000), "b=1")
	f.Fuzz(func(t *testing.T, a, b string) {
		var d1, d2 [MaxBaggageMembers]BaggageMember
		n1, tr1, err1 := ParseBaggage([]string{a, b}, &d1)
		n2, tr2, err2 := ParseBaggage([]string{a + "," + b}, &d2)
		if (err1 == nil) != (err2 == nil) || n1 != n2 || tr1 != tr2 || d1 != d2 {
			t.Fatalf("apart: %d %v %v; joined: %d %v %v", n1, tr1, err1, n2, tr2, err2)
		}
		if err1 != nil {
			return
		}
		var parts []string
		size := 0
		for _, m := range d1[:n1] {
			p := m.Key + "=" + m.Value
			if m.Properties != "" {
				p += ";" + m.Properties
			}
			if !strings.Contains(a+","+b, m.Key) || !strings.Contains(a+","+b, m.Value) {
				t.Fatalf("member %+v is not from the input", m)
			}
			parts = append(parts, p)
			size += len(p)
		}
		if size+max(len(parts)-1, 0) > MaxBaggageBytes {
			t.Fatalf("kept %d bytes", size)
		}
		var d3 [MaxBaggageMembers]BaggageMember
		n3, tr3, err3 := ParseBaggage([]string{strings.Join(parts, ",")}, &d3)
		if n1 > 0 && (err3 != nil || n3 != n1 || tr3 || d3 != d1) {
			t.Fatalf("re-parse of %q: %d %v %v, want the same %d members", strings.Join(parts, ","), n3, tr3, err3, n1)
		}
	})
}

// bounded runs f and fails if it takes longer than limit: a liveness bound
// far above the expected time (linear parsers take microseconds per
// kilobyte; a quadratic one takes seconds on these inputs).
func bounded(t *testing.T, what string, limit time.Duration, f func()) {
	t.Helper()
	start := time.Now()
	f()
	if d := time.Since(start); d > limit {
		t.Errorf("%s took %v (bound %v)", what, d, limit)
	}
}

// Oversized headers (tracestate: middleware's TestOversizedRequests): a clear outcome (ignored or cut to the limits), in
// time linear in the input, without allocating.
func TestOversizedHeaders(t *testing.T) {
	const mb = 1 << 20
	validTP := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	t.Run("traceparent 1 MB", func(t *testing.T) {
		for _, s := range []string{
			validTP + strings.Repeat("x", mb),                  // version 00 longer than 55: invalid
			"01" + validTP[2:] + "-" + strings.Repeat("x", mb), // future version: the tail is ignored
			strings.Repeat(" ", mb) + validTP,                  // white space around is allowed
			strings.Repeat("0", mb),
		} {
			var ok bool
			bounded(t, "ParseTraceParent", time.Second, func() { _, ok = ParseTraceParent(s) })
			want := refTraceParentOK(s)
			if ok != want {
				t.Errorf("ParseTraceParent(%.20q… %d bytes) = %v, want %v", s, len(s), ok, want)
			}
		}
		long := validTP + strings.Repeat("x", 1024)
		if a := testing.AllocsPerRun(10, func() { ParseTraceParent(long) }); a != 0 {
			t.Errorf("%v allocs", a)
		}
	})
	t.Run("baggage 1 MB", func(t *testing.T) {
		var dst [MaxBaggageMembers]BaggageMember
		// Many small members: the first 64 are kept, the rest dropped and
		// said so.
		many := strings.Repeat("k=v,", mb/4) + "k=v"
		var n int
		var truncated bool
		var err error
		bounded(t, "ParseBaggage of 262,145 members", 2*time.Second, func() { n, truncated, err = ParseBaggage([]string{many}, &dst) })
		if err != nil || n != MaxBaggageMembers || !truncated {
			t.Errorf("262,145 members: n=%d truncated=%v err=%v", n, truncated, err)
		}
		// One 1 MB member: too big to keep, the header is valid.
		n, truncated, err = ParseBaggage([]string{"k=" + strings.Repeat("v", mb)}, &dst)
		if err != nil || n != 0 || !truncated {
			t.Errorf("one 1 MB member: n=%d truncated=%v err=%v", n, truncated, err)
		}
		// Members fill 8192 bytes exactly; the next one is dropped whole.
		member := "k=" + strings.Repeat("v", 8190) // 8192 bytes
		n, truncated, err = ParseBaggage([]string{member + ",a=b"}, &dst)
		if err != nil || n != 1 || !truncated || dst[0].Value != strings.Repeat("v", 8190) {
			t.Errorf("exact fit: n=%d truncated=%v err=%v", n, truncated, err)
		}
		// A syntax error 1 MB in: the whole header is ignored.
		n, _, err = ParseBaggage([]string{strings.Repeat("k=v,", mb/4) + "bad member"}, &dst)
		if err == nil || n != 0 {
			t.Errorf("late syntax error: n=%d err=%v", n, err)
		}
		if a := testing.AllocsPerRun(5, func() { ParseBaggage([]string{many}, &dst) }); a != 0 {
			t.Errorf("ParseBaggage of 1 MB: %v allocs, want 0", a)
		}
	})
}
