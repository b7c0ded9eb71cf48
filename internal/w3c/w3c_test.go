package w3c

import (
	"encoding/hex"
	"strings"
	"testing"
)

const (
	validTID = "12345678901234567890123456789012"
	validSID = "1234567890123456"
)

// Cases ported from the W3C trace-context test suite (test/test.py:
// test_traceparent_* and test_tracestate_*), one row per request the suite
// sends, with the outcome the suite asserts.
func TestTraceParentSuite(t *testing.T) {
	tests := []struct {
		name  string
		in    []string
		valid bool
	}{
		{"version_0x00", []string{"00-" + validTID + "-" + validSID + "-01"}, true},
		{"version_0xcc_future", []string{"cc-" + validTID + "-" + validSID + "-01"}, true},
		{"version_0xcc_future_longer", []string{"cc-" + validTID + "-" + validSID + "-01-what-the-future-will-be-like"}, true},
		{"version_0xcc_future_longer_no_dash", []string{"cc-" + validTID + "-" + validSID + "-01.what-the-future-will-be-like"}, false},
		{"version_0xff", []string{"ff-" + validTID + "-" + validSID + "-01"}, false},
		{"version_illegal_characters_dot", []string{".0-" + validTID + "-" + validSID + "-01"}, false},
		{"version_illegal_characters_0.", []string{"0.-" + validTID + "-" + validSID + "-01"}, false},
		{"version_too_long", []string{"000-" + validTID + "-" + validSID + "-01"}, false},
		{"version_too_long_0000", []string{"0000-" + validTID + "-" + validSID + "-01"}, false},
		{"version_too_short", []string{"0-" + validTID + "-" + validSID + "-01"}, false},
		{"version_uppercase", []string{"0A-" + validTID + "-" + validSID + "-01"}, false},
		{"version_00_trailing", []string{"00-" + validTID + "-" + validSID + "-01-"}, false},
		{"version_00_trailing_data", []string{"00-" + validTID + "-" + validSID + "-01-extra"}, false},
		{"trace_id_all_zero", []string{"00-00000000000000000000000000000000-" + validSID + "-01"}, false},
		{"trace_id_illegal_characters_dot", []string{"00-.2345678901234567890123456789012-" + validSID + "-01"}, false},
		{"trace_id_illegal_characters_tail", []string{"00-1234567890123456789012345678901.-" + validSID + "-01"}, false},
		{"trace_id_uppercase", []string{"00-1234567890123456789012345678901A-" + validSID + "-01"}, false},
		{"trace_id_too_long", []string{"00-123456789012345678901234567890123-" + validSID + "-01"}, false},
		{"trace_id_too_short", []string{"00-1234567890123456789012345678901-" + validSID + "-01"}, false},
		{"parent_id_all_zero", []string{"00-" + validTID + "-0000000000000000-01"}, false},
		{"parent_id_illegal_characters_dot", []string{"00-" + validTID + "-.234567890123456-01"}, false},
		{"parent_id_illegal_characters_tail", []string{"00-" + validTID + "-123456789012345.-01"}, false},
		{"parent_id_too_long", []string{"00-" + validTID + "-12345678901234567-01"}, false},
		{"parent_id_too_short", []string{"00-" + validTID + "-123456789012345-01"}, false},
		{"trace_flags_illegal_characters_dot", []string{"00-" + validTID + "-" + validSID + "-.0"}, false},
		{"trace_flags_illegal_characters_tail", []string{"00-" + validTID + "-" + validSID + "-0."}, false},
		{"trace_flags_too_long", []string{"00-" + validTID + "-" + validSID + "-001"}, false},
		{"trace_flags_too_short", []string{"00-" + validTID + "-" + validSID + "-1"}, false},
		{"ows_handling_space", []string{" 00-" + validTID + "-" + validSID + "-01"}, true},
		{"ows_handling_tabs", []string{"\t\t00-" + validTID + "-" + validSID + "-01\t "}, true},
		{"ows_handling_trailing", []string{"00-" + validTID + "-" + validSID + "-01 \t"}, true},
		{"duplicated", []string{"00-" + validTID + "-" + validSID + "-01", "00-" + validTID + "-" + validSID + "-01"}, false},
		{"missing", nil, false},
		{"empty", []string{""}, false},
		{"bad_separators", []string{"00_" + validTID + "_" + validSID + "_01"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp, ok := ParseTraceParentValues(tt.in)
			if ok != tt.valid {
				t.Fatalf("ParseTraceParentValues(%q) ok=%v, want %v", tt.in, ok, tt.valid)
			}
			if !ok {
				return
			}
			if got := hex.EncodeToString(tp.TraceID[:]); got != validTID {
				t.Errorf("trace id %s", got)
			}
			if got := hex.EncodeToString(tp.SpanID[:]); got != validSID {
				t.Errorf("span id %s", got)
			}
			if tp.Flags != FlagSampled {
				t.Errorf("flags %x", tp.Flags)
			}
		})
	}
}

func TestTraceParentFlags(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want byte
	}{{"00", 0}, {"01", 1}, {"02", 2}, {"03", 3}, {"ff", 3}, {"fe", 2}, {"09", 1}} {
		tp, ok := ParseTraceParent("00-" + validTID + "-" + validSID + "-" + tt.in)
		if !ok || tp.Flags != tt.want {
			t.Errorf("flags %s: ok=%v got %x want %x", tt.in, ok, tp.Flags, tt.want)
		}
	}
}

func TestAppendTraceParentRoundTrip(t *testing.T) {
	tp, ok := ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if !ok {
		t.Fatal("parse")
	}
	got := string(AppendTraceParent(nil, tp.TraceID, tp.SpanID, tp.Flags))
	if got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("got %s", got)
	}
	// A future version is re-emitted as version 00, without the extra fields.
	tp, _ = ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz")
	if got := string(AppendTraceParent(nil, tp.TraceID, tp.SpanID, tp.Flags)); got != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" {
		t.Fatalf("future version: got %s", got)
	}
}

func members(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, ",")
}

func TestTraceStateSuite(t *testing.T) {
	allowedKey := "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
	allowedValue := ""
	for c := byte(0x20); c <= 0x7e; c++ {
		if c != ',' && c != '=' {
			allowedValue += string(c)
		}
	}
	tests := []struct {
		name    string
		in      []string
		valid   bool
		members int
	}{
		{"empty_header", []string{""}, true, 0},
		{"missing", nil, true, 0},
		{"single", []string{"foo=1"}, true, 1},
		{"multiple_headers_different_keys", []string{"foo=1,bar=2", "rojo=1,congo=2", "baz=3"}, true, 5},
		{"duplicated_keys", []string{"foo=1,foo=1"}, false, 0},
		{"duplicated_keys_other_value", []string{"foo=1,foo=2"}, false, 0},
		{"duplicated_keys_across_headers", []string{"foo=1", "foo=1"}, false, 0},
		{"duplicated_keys_across_headers_other_value", []string{"foo=1", "foo=2"}, false, 0},
		{"all_allowed_characters", []string{allowedKey + "=" + allowedValue[1:]}, true, 1},
		{"all_allowed_characters_tenant", []string{"0123456789" + "@" + "abcdefghijklm" + "=1"}, true, 1},
		{"ows_handling", []string{"foo=1 \t , \t bar=2, \t baz=3"}, true, 3},
		{"ows_handling_leading", []string{" \t foo=1"}, true, 1},
		{"empty_members", []string{"foo=1,,,bar=2, ,"}, true, 2},
		{"key_illegal_characters_space", []string{"foo =1"}, false, 0},
		{"key_illegal_characters_upper", []string{"FOO=1"}, false, 0},
		{"key_illegal_characters_dollar", []string{"foo$=1"}, false, 0},
		{"key_illegal_characters_tilde", []string{"foo~=1"}, false, 0},
		{"key_illegal_vendor_format_two_at", []string{"foo@@bar=1"}, false, 0},
		{"key_illegal_vendor_format_empty_tenant", []string{"@bar=1"}, false, 0},
		{"key_illegal_vendor_format_empty_vendor", []string{"foo@=1"}, false, 0},
		{"key_illegal_vendor_format_multiple_at", []string{"foo@bar@baz=1"}, false, 0},
		{"key_illegal_vendor_digit_start", []string{"foo@1bar=1"}, false, 0},
		{"key_digit_start_simple", []string{"1foo=1"}, false, 0},
		{"member_count_limit_32", []string{members(32, func(i int) string { return "k" + itoa(i) + "=" + itoa(i) })}, true, 32},
		{"member_count_limit_32_split", []string{
			members(16, func(i int) string { return "a" + itoa(i) + "=1" }),
			members(16, func(i int) string { return "b" + itoa(i) + "=1" }),
		}, true, 32},
		{"member_count_limit_33", []string{members(33, func(i int) string { return "k" + itoa(i) + "=" + itoa(i) })}, false, 0},
		{"member_count_limit_33_split", []string{
			members(17, func(i int) string { return "a" + itoa(i) + "=1" }),
			members(16, func(i int) string { return "b" + itoa(i) + "=1" }),
		}, false, 0},
		{"key_length_limit_256", []string{"foo=1,z" + strings.Repeat("a", 255) + "=1"}, true, 2},
		{"key_length_limit_257", []string{"z" + strings.Repeat("a", 256) + "=1"}, false, 0},
		{"key_length_limit_tenant_241_vendor_14", []string{strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1"}, true, 1},
		{"key_length_limit_tenant_242", []string{strings.Repeat("t", 242) + "@v=1"}, false, 0},
		{"key_length_limit_vendor_15", []string{"t@" + strings.Repeat("v", 15) + "=1"}, false, 0},
		{"value_illegal_characters_comma_eq", []string{"foo=bar=baz"}, false, 0},
		{"value_illegal_trailing_space_ok", []string{"foo=bar "}, true, 1},
		{"value_inner_space", []string{"foo=b ar"}, true, 1},
		{"value_empty", []string{"foo="}, false, 0},
		{"value_only_space", []string{"foo= "}, false, 0}, // OWS is trimmed: an empty value
		{"value_non_ascii", []string{"foo=\x80"}, false, 0},
		{"value_control", []string{"foo=a\x01"}, false, 0},
		{"value_length_256", []string{"foo=" + strings.Repeat("x", 256)}, true, 1},
		{"value_length_257", []string{"foo=" + strings.Repeat("x", 257)}, false, 0},
		{"no_equals", []string{"foo"}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := TraceStateScan(tt.in)
			if ok != tt.valid || (ok && n != tt.members) {
				t.Fatalf("TraceStateScan(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.members, tt.valid)
			}
		})
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// Cases from the W3C baggage specification and its test suite
// (w3c/baggage test/test.py): valid members, properties, OWS, percent
// encoding and the limits.
func TestBaggageSuite(t *testing.T) {
	var dst [MaxBaggageMembers]BaggageMember
	tests := []struct {
		name string
		in   []string
		err  bool
		want []BaggageMember
	}{
		{"single", []string{"key1=value1"}, false, []BaggageMember{{"key1", "value1", ""}}},
		{"multiple", []string{"key1=value1,key2=value2"}, false, []BaggageMember{{"key1", "value1", ""}, {"key2", "value2", ""}}},
		{"multiple_headers", []string{"key1=value1", "key2=value2"}, false, []BaggageMember{{"key1", "value1", ""}, {"key2", "value2", ""}}},
		{"ows", []string{" key1 = value1 , \tkey2=value2\t"}, false, []BaggageMember{{"key1", "value1", ""}, {"key2", "value2", ""}}},
		{"properties", []string{"key1=value1;property1;property2=v, key2 = value2 ; p3"}, false, []BaggageMember{{"key1", "value1", "property1;property2=v"}, {"key2", "value2", "p3"}}},
		{"percent_encoded", []string{"key1=value%201%2C2"}, false, []BaggageMember{{"key1", "value%201%2C2", ""}}},
		{"empty_value", []string{"key1="}, false, []BaggageMember{{"key1", "", ""}}},
		{"token_key_chars", []string{"k!#$%&'*+-.^_`|~1=v"}, false, []BaggageMember{{"k!#$%&'*+-.^_`|~1", "v", ""}}},
		{"invalid_no_equals", []string{"key1"}, true, nil},
		{"invalid_empty_key", []string{"=value"}, true, nil},
		{"invalid_key_space_inside", []string{"ke y=v"}, true, nil},
		{"invalid_key_separator", []string{"ke(y=v"}, true, nil},
		{"invalid_value_space_inside", []string{"key=va lue"}, true, nil},
		{"invalid_value_dquote", []string{"key=\"v\""}, true, nil},
		{"invalid_value_backslash", []string{"key=v\\"}, true, nil},
		{"invalid_bad_percent", []string{"key=v%2"}, true, nil},
		{"invalid_bad_percent_hex", []string{"key=v%zz"}, true, nil},
		{"invalid_empty_member", []string{"key1=v,,key2=v"}, true, nil},
		{"invalid_trailing_comma", []string{"key1=v,"}, true, nil},
		{"invalid_property", []string{"key1=v;pro perty"}, true, nil},
		{"invalid_property_empty", []string{"key1=v;"}, true, nil},
		{"invalid_one_of_many", []string{"key1=v", "key2"}, true, nil},
		{"invalid_non_ascii", []string{"key1=v\xc3\xa9"}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, trunc, err := ParseBaggage(tt.in, &dst)
			if trunc {
				t.Errorf("truncated")
			}
			if (err != nil) != tt.err {
				t.Fatalf("err = %v, want error %v", err, tt.err)
			}
			if err != nil {
				if n != 0 {
					t.Fatalf("n = %d on error", n)
				}
				return
			}
			if n != len(tt.want) {
				t.Fatalf("n = %d, want %d (%v)", n, len(tt.want), dst[:n])
			}
			for i, w := range tt.want {
				if dst[i] != w {
					t.Errorf("member %d = %+v, want %+v", i, dst[i], w)
				}
			}
		})
	}
}

func TestBaggageLimits(t *testing.T) {
	var dst [MaxBaggageMembers]BaggageMember
	// 64 members fit; the 65th is dropped whole.
	in := members(65, func(i int) string { return "k" + itoa(i) + "=v" })
	n, trunc, err := ParseBaggage([]string{in}, &dst)
	if err != nil || n != 64 || dst[63].Key != "k63" || !trunc {
		t.Fatalf("65 members: n=%d err=%v", n, err)
	}
	// 8192 bytes: two members of 4000 bytes fit (8001 with the comma); a
	// third that would pass the limit is dropped whole, a small fourth that
	// fits is also dropped (no reordering, no gaps).
	big := func(k string) string { return k + "=" + strings.Repeat("x", 4000-len(k)-1) }
	n, trunc, err = ParseBaggage([]string{big("a") + "," + big("b") + "," + big("c") + ",d=1"}, &dst)
	if err != nil || n != 2 || dst[0].Key != "a" || dst[1].Key != "b" || !trunc {
		t.Fatalf("bytes limit: n=%d err=%v", n, err)
	}
	// Exactly 8192 bytes is allowed.
	exact := "a=" + strings.Repeat("x", 8190)
	if n, trunc, err = ParseBaggage([]string{exact}, &dst); err != nil || n != 1 || trunc {
		t.Fatalf("exact 8192: n=%d err=%v", n, err)
	}
	if n, trunc, err = ParseBaggage([]string{exact + "x"}, &dst); err != nil || n != 0 || !trunc {
		t.Fatalf("8193: n=%d err=%v", n, err)
	}
}

func TestPercentDecode(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "a%20b": "a b", "%2C%2c": ",,", "%E2%82%AC": "€"} {
		if got := PercentDecode(in); got != want {
			t.Errorf("PercentDecode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParsersDoNotAllocate(t *testing.T) {
	tp := []string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	ts := []string{"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "a@b=c"}
	bg := []string{"userId=alice,serverNode=DF%2028,isProduction=false;p=1"}
	var dst [MaxBaggageMembers]BaggageMember
	buf := make([]byte, 0, 64)
	if a := testing.AllocsPerRun(100, func() {
		p, _ := ParseTraceParentValues(tp)
		_, _ = TraceStateScan(ts)
		_, _, _ = ParseBaggage(bg, &dst)
		buf = AppendTraceParent(buf[:0], p.TraceID, p.SpanID, p.Flags)
	}); a != 0 {
		t.Fatalf("parsers allocate %.0f times", a)
	}
}

func FuzzTraceParent(f *testing.F) {
	f.Add("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future")
	f.Add("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	f.Add(" 00-00000000000000000000000000000000-00f067aa0ba902b7-01\t")
	f.Fuzz(func(t *testing.T, s string) {
		tp, ok := ParseTraceParent(s)
		if !ok {
			return
		}
		out := string(AppendTraceParent(nil, tp.TraceID, tp.SpanID, tp.Flags))
		tp2, ok2 := ParseTraceParent(out)
		if !ok2 || tp2 != tp {
			t.Fatalf("round trip of %q via %q failed", s, out)
		}
		if len(out) != TraceParentLen {
			t.Fatalf("formatted length %d", len(out))
		}
	})
}

func FuzzTraceState(f *testing.F) {
	f.Add("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "")
	f.Add("foo=1,foo=2", "a@b=c")
	f.Add(" , ,a=b ", "x= y")
	f.Fuzz(func(t *testing.T, a, b string) {
		n, ok := TraceStateScan([]string{a, b})
		if ok && (n < 0 || n > MaxTraceStateMembers) {
			t.Fatalf("members %d", n)
		}
		if !ok && n != 0 {
			t.Fatalf("invalid with %d members", n)
		}
		// The same list joined into one header must give the same answer.
		n2, ok2 := TraceStateScan([]string{a + "," + b})
		if ok != ok2 || n != n2 {
			t.Fatalf("split %d,%v vs joined %d,%v", n, ok, n2, ok2)
		}
	})
}

func FuzzBaggage(f *testing.F) {
	f.Add("userId=alice,serverNode=DF%2028;p=1")
	f.Add("k=v;prop")
	f.Add("a=%zz")
	f.Add(strings.Repeat("k=v,", 70) + "k=v")
	f.Fuzz(func(t *testing.T, s string) {
		var dst [MaxBaggageMembers]BaggageMember
		n, _, err := ParseBaggage([]string{s}, &dst)
		if err != nil {
			if n != 0 {
				t.Fatalf("n=%d with error", n)
			}
			return
		}
		size := 0
		for i, m := range dst[:n] {
			if !validToken(m.Key) || !validBaggageValue(m.Value) {
				t.Fatalf("member %d invalid: %+v", i, m)
			}
			_ = PercentDecode(m.Value)
			size += len(m.Key) + 1 + len(m.Value)
		}
		if n > MaxBaggageMembers || size > MaxBaggageBytes {
			t.Fatalf("limits exceeded: %d members, %d bytes", n, size)
		}
	})
}
