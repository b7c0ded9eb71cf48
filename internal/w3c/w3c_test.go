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

// Level 1 and Level 2 tracestate cases of the W3C trace-context test suite
// (w3c/trace-context test/test.py, commit acab820: test_tracestate_*), one
// row per request the suite sends, with the outcome it asserts: "keep" is
// the list a vendor forwards (duplicates dropped, the first one stays),
// "" when the whole tracestate is discarded.
func TestTraceStateSuite(t *testing.T) {
	allowedKey := "abcdefghijklmnopqrstuvwxyz0123456789_-*/"
	allowedValue := ""
	for c := byte(0x20); c <= 0x7e; c++ {
		if c != ',' && c != '=' {
			allowedValue += string(c)
		}
	}
	bars := func(from, to int) string {
		return members(to-from+1, func(i int) string {
			n := itoa(from + i)
			n = strings.Repeat("0", 2-len(n)) + n
			return "bar" + n + "=" + n
		})
	}
	tests := []struct {
		name  string
		in    []string
		valid bool
		keep  string // the list forwarded, when valid
		dups  int
	}{
		// Level 1
		{"empty_header", []string{""}, true, "", 0},
		{"empty_header_then_value", []string{"foo=1", ""}, true, "foo=1", 0},
		{"empty_header_first", []string{"", "foo=1"}, true, "foo=1", 0},
		{"missing", nil, true, "", 0},
		{"included_traceparent_included", []string{"foo=1,bar=2"}, true, "foo=1,bar=2", 0},
		{"multiple_headers_different_keys", []string{"foo=1,bar=2", "rojo=1,congo=2", "baz=3"}, true, "foo=1,bar=2,rojo=1,congo=2,baz=3", 0},
		{"all_allowed_characters", []string{allowedKey + "=" + allowedValue}, true, allowedKey + "=" + allowedValue, 0}, // the leading space is part of the value
		{"all_allowed_characters_with_vendor", []string{allowedKey + "@a-z0-9_-*/=" + allowedValue}, true, allowedKey + "@a-z0-9_-*/=" + allowedValue, 0},
		{"ows_handling", []string{"foo=1 \t , \t bar=2, \t baz=3"}, true, "foo=1,bar=2,baz=3", 0},
		{"ows_handling_tabs", []string{"foo=1\t \t,\t \tbar=2,\t \tbaz=3"}, true, "foo=1,bar=2,baz=3", 0},
		{"ows_handling_leading_space", []string{" foo=1"}, true, "foo=1", 0},
		{"ows_handling_leading_tab", []string{"\tfoo=1"}, true, "foo=1", 0},
		{"ows_handling_trailing_space", []string{"foo=1 "}, true, "foo=1", 0},
		{"ows_handling_trailing_tab", []string{"foo=1\t"}, true, "foo=1", 0},
		{"ows_handling_both", []string{"\t foo=1 \t"}, true, "foo=1", 0},
		{"empty_members", []string{"foo=1,,,bar=2, ,"}, true, "foo=1,bar=2", 0},
		// Level 2: test_tracestate_duplicated_keys
		{"duplicated_keys", []string{"foo=1,foo=1"}, true, "foo=1", 1},
		{"duplicated_keys_other_value", []string{"foo=1,foo=2"}, true, "foo=1", 1},
		{"duplicated_keys_across_headers", []string{"foo=1", "foo=1"}, true, "foo=1", 1},
		{"duplicated_keys_across_headers_other_value", []string{"foo=1", "foo=2"}, true, "foo=1", 1},
		// Level 2: test_tracestate_key_illegal_characters
		{"key_illegal_characters_space", []string{"foo =1"}, false, "", 0},
		{"key_illegal_characters_upper", []string{"FOO=1"}, false, "", 0},
		{"key_illegal_characters_dot", []string{"foo.bar=1"}, false, "", 0},
		{"key_illegal_characters_dollar", []string{"foo$=1"}, false, "", 0},
		{"key_illegal_characters_tilde", []string{"foo~=1"}, false, "", 0},
		// Level 2: test_tracestate_key_illegal_vendor_format (current key
		// grammar: "@" is a key character, not the first one)
		{"key_vendor_format_trailing_at", []string{"foo@=1,bar=2"}, true, "foo@=1,bar=2", 0},
		{"key_vendor_format_leading_at", []string{"@foo=1,bar=2"}, false, "", 0},
		{"key_vendor_format_two_at", []string{"foo@@bar=1,bar=2"}, true, "foo@@bar=1,bar=2", 0},
		{"key_vendor_format_at_twice", []string{"foo@bar@baz=1,bar=2"}, true, "foo@bar@baz=1,bar=2", 0},
		{"key_vendor_digit_after_at", []string{"foo@1bar=1"}, true, "foo@1bar=1", 0},
		{"key_digit_start", []string{"1foo=1"}, true, "1foo=1", 0},
		// Level 2: test_tracestate_member_count_limit
		{"member_count_limit_32", []string{bars(1, 10), bars(11, 20), bars(21, 30), bars(31, 32)}, true, bars(1, 32), 0},
		{"member_count_limit_33", []string{bars(1, 10), bars(11, 20), bars(21, 30), bars(31, 33)}, false, "", 0},
		{"member_count_limit_32_and_a_duplicate", []string{bars(1, 32), "bar01=x"}, true, bars(1, 32), 1},
		// Level 2: test_tracestate_key_length_limit
		{"key_length_limit_256", []string{"foo=1", strings.Repeat("z", 256) + "=1"}, true, "foo=1," + strings.Repeat("z", 256) + "=1", 0},
		{"key_length_limit_257", []string{"foo=1", strings.Repeat("z", 257) + "=1"}, false, "", 0},
		{"key_length_limit_tenant_241_vendor_14", []string{"foo=1", strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1"}, true, "foo=1," + strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14) + "=1", 0},
		{"key_length_limit_tenant_242", []string{"foo=1", strings.Repeat("t", 242) + "@v=1"}, true, "foo=1," + strings.Repeat("t", 242) + "@v=1", 0},
		{"key_length_limit_vendor_15", []string{"foo=1", "t@" + strings.Repeat("v", 15) + "=1"}, true, "foo=1,t@" + strings.Repeat("v", 15) + "=1", 0},
		// Level 2: test_tracestate_value_illegal_characters
		{"value_illegal_characters_eq", []string{"foo=bar=baz"}, false, "", 0},
		{"value_empty_then_member", []string{"foo=,bar=3"}, false, "", 0},
		// Value grammar beyond the suite.
		{"value_trailing_space", []string{"foo=bar "}, true, "foo=bar", 0},
		{"value_inner_space", []string{"foo=b ar"}, true, "foo=b ar", 0},
		{"value_leading_space_kept", []string{"foo= bar"}, true, "foo= bar", 0},
		{"value_empty", []string{"foo="}, false, "", 0},
		{"value_only_space", []string{"foo= "}, false, "", 0}, // OWS is trimmed: an empty value
		{"value_non_ascii", []string{"foo=\x80"}, false, "", 0},
		{"value_control", []string{"foo=a\x01"}, false, "", 0},
		{"value_length_256", []string{"foo=" + strings.Repeat("x", 256)}, true, "foo=" + strings.Repeat("x", 256), 0},
		{"value_length_257", []string{"foo=" + strings.Repeat("x", 257)}, false, "", 0},
		{"no_equals", []string{"foo"}, false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, ok := ScanTraceState(tt.in)
			if ok != tt.valid {
				t.Fatalf("ScanTraceState(%q) ok=%v, want %v", tt.in, ok, tt.valid)
			}
			if !ok {
				return
			}
			got := string(AppendTraceState(nil, tt.in, false))
			if got != tt.keep {
				t.Errorf("forwarded %q, want %q", got, tt.keep)
			}
			again, _ := ScanTraceState([]string{tt.keep})
			if info.Duplicates != tt.dups || info.Members != again.Members {
				t.Errorf("info %+v, want %d members and %d duplicates", info, again.Members, tt.dups)
			}
		})
	}
}

// TestTraceStateLegacy: the members OpenTelemetry's trace.ParseTraceState
// accepts (the Level 1 key grammar) and the merge with what it could not
// hold.
func TestTraceStateLegacy(t *testing.T) {
	for k, want := range map[string]bool{
		"foo": true, "foo@bar": true, "0t@v": true, strings.Repeat("t", 241) + "@" + strings.Repeat("v", 14): true,
		"foo@": false, "foo@@bar": false, "foo@bar@baz": false, "1foo": false, "foo@1bar": false,
		strings.Repeat("t", 242) + "@v": false, "t@" + strings.Repeat("v", 15): false, "@foo": false, "": false,
	} {
		if got := LegacyTraceStateKey(k); got != want {
			t.Errorf("LegacyTraceStateKey(%q) = %v", k, got)
		}
	}
	in := []string{"foo@=1,bar=2,bar=3", "1x=4,rojo=5"}
	info, ok := ScanTraceState(in)
	if !ok || info != (TraceStateInfo{Members: 4, Duplicates: 1, Legacy: 2}) {
		t.Fatalf("ScanTraceState = %+v %v", info, ok)
	}
	if got := string(AppendTraceState(nil, in, true)); got != "bar=2,rojo=5" {
		t.Errorf("legacy list %q", got)
	}
	full := string(AppendTraceState(nil, in, false))
	if full != "foo@=1,bar=2,1x=4,rojo=5" {
		t.Errorf("full list %q", full)
	}
	// A vendor inserted its member and dropped bar: the members OTel
	// could not hold follow in their order.
	if got := MergeTraceState("congo=9,rojo=5", full); got != "congo=9,rojo=5,foo@=1,1x=4" {
		t.Errorf("merge %q", got)
	}
	if got := MergeTraceState("", full); got != "foo@=1,1x=4" {
		t.Errorf("merge into empty %q", got)
	}
	// Never more than 32 members.
	many := members(32, func(i int) string { return "k" + itoa(i) + "=1" })
	if got := MergeTraceState(many, full); got != many {
		t.Errorf("merge over 32: %q", got)
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
		_, _ = ScanTraceState(ts)
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
		info, ok := ScanTraceState([]string{a, b})
		if ok && (info.Members < 0 || info.Members > MaxTraceStateMembers || info.Legacy > info.Members) {
			t.Fatalf("info %+v", info)
		}
		if !ok && info != (TraceStateInfo{}) {
			t.Fatalf("invalid with %+v", info)
		}
		// The same list joined into one header must give the same answer.
		info2, ok2 := ScanTraceState([]string{a + "," + b})
		if ok != ok2 || info != info2 {
			t.Fatalf("split %+v,%v vs joined %+v,%v", info, ok, info2, ok2)
		}
		if !ok {
			return
		}
		// The forwarded list is valid, has no duplicates and reads the same.
		full := string(AppendTraceState(nil, []string{a, b}, false))
		again, ok3 := ScanTraceState([]string{full})
		if !ok3 || again.Members != info.Members || again.Duplicates != 0 || again.Legacy != info.Legacy {
			t.Fatalf("forwarded %q reads %+v %v, want %+v", full, again, ok3, info)
		}
		if got := string(AppendTraceState(nil, []string{full}, false)); got != full {
			t.Fatalf("not idempotent: %q -> %q", full, got)
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
