package w3c

// MaxTraceStateMembers is the largest number of list members a tracestate
// may have; a longer list is invalid and is ignored as a whole.
const MaxTraceStateMembers = 32

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isKeyChar(c byte) bool {
	return isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '*' || c == '/' || c == '@'
}

// validTraceStateKey checks the key grammar of the current W3C Trace
// Context recommendation (https://www.w3.org/TR/trace-context-2/#key):
//
//	key     = ( lcalpha / DIGIT ) 0*255( keychar )
//	keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"
//
// so "@" may appear anywhere but first, any number of times.
func validTraceStateKey(k string) bool {
	if len(k) == 0 || len(k) > 256 || !(isLCAlpha(k[0]) || isDigit(k[0])) {
		return false
	}
	for i := 1; i < len(k); i++ {
		if !isKeyChar(k[i]) {
			return false
		}
	}
	return true
}

// LegacyTraceStateKey reports whether k also satisfies the Level 1 key
// grammar (simple-key / tenant-id "@" system-id, with tenant-id at most 241
// and system-id at most 14 characters, one "@"), which OpenTelemetry's
// trace.ParseTraceState still enforces. A key that is valid but not legacy
// must be carried next to the OTel TraceState to reach the next hop.
func LegacyTraceStateKey(k string) bool {
	if !validTraceStateKey(k) {
		return false
	}
	at := -1
	for i := 0; i < len(k); i++ {
		if k[i] == '@' {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at < 0 {
		return isLCAlpha(k[0])
	}
	tenant, system := k[:at], k[at+1:]
	return len(tenant) <= 241 && len(system) > 0 && len(system) <= 14 && isLCAlpha(system[0])
}

// validTraceStateValue checks value = 0*255(chr) nblk-chr, where
// nblk-chr = %x21-2B / %x2D-3C / %x3E-7E and chr = %x20 / nblk-chr.
func validTraceStateValue(v string) bool {
	if len(v) == 0 || len(v) > 256 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' && i < len(v)-1 {
			continue
		}
		if c < 0x21 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}

// TraceStateInfo describes a valid tracestate.
type TraceStateInfo struct {
	Members    int // distinct list members (by key)
	Duplicates int // members dropped because their key came earlier
	Legacy     int // members whose key satisfies LegacyTraceStateKey
}

// ScanTraceState validates the tracestate header values of one request
// (several headers are one list joined by commas). It reports false,
// meaning the whole tracestate must be ignored, for a malformed member or
// more than 32 distinct members. A member whose key came earlier is
// dropped, as the specification lets a vendor do, and the rest kept; empty
// and white-space-only members are allowed and not counted. It does not
// allocate.
func ScanTraceState(values []string) (TraceStateInfo, bool) {
	var keys [MaxTraceStateMembers]string
	var info TraceStateInfo
	ok := eachTraceStateMember(values, func(k, v string) bool {
		if !validTraceStateKey(k) || !validTraceStateValue(v) {
			return false
		}
		for _, prev := range keys[:info.Members] {
			if prev == k {
				info.Duplicates++
				return true
			}
		}
		if info.Members == MaxTraceStateMembers {
			return false
		}
		keys[info.Members] = k
		info.Members++
		if LegacyTraceStateKey(k) {
			info.Legacy++
		}
		return true
	})
	if !ok {
		return TraceStateInfo{}, false
	}
	return info, true
}

// AppendTraceState appends the tracestate of values, which ScanTraceState
// accepted, as one list: members in order, white space around them
// removed, duplicates dropped (the first one stays). With legacyOnly it
// keeps only the members with a legacy key (what trace.ParseTraceState
// accepts).
func AppendTraceState(dst []byte, values []string, legacyOnly bool) []byte {
	start := len(dst)
	eachTraceStateMember(values, func(k, v string) bool {
		if legacyOnly && !LegacyTraceStateKey(k) {
			return true
		}
		if hasTraceStateKey(string(dst[start:]), k) {
			return true
		}
		if len(dst) > start {
			dst = append(dst, ',')
		}
		dst = append(dst, k...)
		dst = append(dst, '=')
		dst = append(dst, v...)
		return true
	})
	return dst
}

// MergeTraceState returns the tracestate to send on when a service changed
// the part of a received tracestate that OpenTelemetry could hold
// (current, e.g. with its own member inserted first) and the received list
// (full, from AppendTraceState) has members OpenTelemetry could not hold:
// current, then those members in their order, at most 32 in all.
func MergeTraceState(current, full string) string {
	out := []byte(current)
	n := 0
	eachTraceStateMember([]string{current}, func(string, string) bool { n++; return true })
	eachTraceStateMember([]string{full}, func(k, v string) bool {
		if n == MaxTraceStateMembers {
			return false
		}
		if LegacyTraceStateKey(k) || hasTraceStateKey(current, k) {
			return true // OTel held it: current says what became of it
		}
		if len(out) > 0 {
			out = append(out, ',')
		}
		out = append(out, k...)
		out = append(out, '=')
		out = append(out, v...)
		n++
		return true
	})
	return string(out)
}

// hasTraceStateKey reports whether the normalized list l has key k.
func hasTraceStateKey(l, k string) bool {
	found := false
	eachTraceStateMember([]string{l}, func(key, _ string) bool {
		found = key == k
		return !found
	})
	return found
}

// eachTraceStateMember calls f with the key and value of each non-empty
// member; a member without '=' or f returning false stops it (false).
func eachTraceStateMember(values []string, f func(k, v string) bool) bool {
	for _, v := range values {
		for {
			var m string
			i := indexByte(v, ',')
			if i < 0 {
				m, v = v, ""
			} else {
				m, v = v[:i], v[i+1:]
			}
			if m = TrimOWS(m); m != "" {
				eq := indexByte(m, '=')
				if eq < 0 || !f(m[:eq], m[eq+1:]) {
					return false
				}
			}
			if i < 0 {
				break
			}
		}
	}
	return true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
