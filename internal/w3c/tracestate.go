package w3c

// MaxTraceStateMembers is the largest number of list members a tracestate
// may have; a longer list is invalid and is ignored as a whole.
const MaxTraceStateMembers = 32

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isKeyChar(c byte) bool {
	return isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '*' || c == '/'
}

// validTraceStateKey checks simple-key / multi-tenant-key:
//
//	simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//	multi-tenant-key = tenant-id "@" system-id
//	tenant-id        = ( lcalpha / DIGIT ) 0*240( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
//	system-id        = lcalpha 0*13( lcalpha / DIGIT / "_" / "-"/ "*" / "/" )
func validTraceStateKey(k string) bool {
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
		if len(k) == 0 || len(k) > 256 || !isLCAlpha(k[0]) {
			return false
		}
		for i := 1; i < len(k); i++ {
			if !isKeyChar(k[i]) {
				return false
			}
		}
		return true
	}
	tenant, system := k[:at], k[at+1:]
	if len(tenant) == 0 || len(tenant) > 241 || !(isLCAlpha(tenant[0]) || isDigit(tenant[0])) {
		return false
	}
	for i := 1; i < len(tenant); i++ {
		if !isKeyChar(tenant[i]) {
			return false
		}
	}
	if len(system) == 0 || len(system) > 14 || !isLCAlpha(system[0]) {
		return false
	}
	for i := 1; i < len(system); i++ {
		if !isKeyChar(system[i]) {
			return false
		}
	}
	return true
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

// TraceStateScan validates the tracestate header values of one request
// (several headers are one list joined by commas) and returns the number of
// non-empty list members. It reports false, meaning the whole tracestate must
// be ignored, for a malformed member, a duplicated key, or more than 32
// members. Empty and white-space-only members are allowed and not counted.
// It does not allocate.
func TraceStateScan(values []string) (members int, ok bool) {
	var keys [MaxTraceStateMembers]string
	for _, v := range values {
		for {
			var m string
			i := indexByte(v, ',')
			if i < 0 {
				m, v = v, ""
			} else {
				m, v = v[:i], v[i+1:]
			}
			m = TrimOWS(m)
			if m != "" {
				eq := indexByte(m, '=')
				if eq < 0 {
					return 0, false
				}
				k, val := m[:eq], m[eq+1:]
				if !validTraceStateKey(k) || !validTraceStateValue(val) {
					return 0, false
				}
				if members == MaxTraceStateMembers {
					return 0, false
				}
				for _, prev := range keys[:members] {
					if prev == k {
						return 0, false
					}
				}
				keys[members] = k
				members++
			}
			if i < 0 {
				break
			}
		}
	}
	return members, true
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}
