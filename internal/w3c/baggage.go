package w3c

import "errors"

// Baggage limits from the W3C Baggage specification, section "Limits".
const (
	MaxBaggageMembers = 64
	MaxBaggageBytes   = 8192
)

// ErrBaggageSyntax means the baggage header is malformed; the whole header
// is then ignored.
var ErrBaggageSyntax = errors.New("w3c: malformed baggage")

// BaggageMember is one list member as it appears on the wire: Value is still
// percent-encoded and Properties is the raw text after the first ';' (empty
// when there are none).
type BaggageMember struct {
	Key        string
	Value      string
	Properties string
}

// isTchar reports whether c is an RFC 7230 token character.
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}

// isBaggageOctet: %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
func isBaggageOctet(c byte) bool {
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
		(c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)
}

// validBaggageValue checks *baggage-octet and that every '%' starts a valid
// percent-encoded octet.
func validBaggageValue(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isBaggageOctet(c) {
			return false
		}
		if c == '%' {
			if i+2 >= len(s) {
				return false
			}
			if _, ok := unhexAny(s[i+1]); !ok {
				return false
			}
			if _, ok := unhexAny(s[i+2]); !ok {
				return false
			}
			i += 2
		}
	}
	return true
}

func unhexAny(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// splitKV splits "key OWS = OWS value" and validates both sides.
func splitKV(s string) (k, v string, ok bool) {
	eq := indexByte(s, '=')
	if eq < 0 {
		return "", "", false
	}
	k, v = TrimOWS(s[:eq]), TrimOWS(s[eq+1:])
	return k, v, validToken(k) && validBaggageValue(v)
}

// validProperties checks *( OWS ";" OWS property ) after the first ';',
// where property = key OWS "=" OWS value / key OWS.
func validProperties(s string) bool {
	for {
		var p string
		i := indexByte(s, ';')
		if i < 0 {
			p = s
		} else {
			p, s = s[:i], s[i+1:]
		}
		p = TrimOWS(p)
		if indexByte(p, '=') >= 0 {
			if _, _, ok := splitKV(p); !ok {
				return false
			}
		} else if !validToken(p) {
			return false
		}
		if i < 0 {
			return true
		}
	}
}

// ParseBaggage parses the baggage header values of one request (several
// headers are one list joined by commas) into dst and returns the number of
// members stored. A syntax error anywhere returns ErrBaggageSyntax and no
// members: the header is ignored as a whole. The limits are applied by
// keeping whole members in order while they fit (at most 64 members and 8192
// bytes of serialized list, counting one byte per separating comma); later
// members are dropped whole, never cut, and truncated reports that some
// were. It does not allocate.
func ParseBaggage(values []string, dst *[MaxBaggageMembers]BaggageMember) (n int, truncated bool, err error) {
	size := 0
	full := false
	for _, v := range values {
		for {
			var m string
			i := indexByte(v, ',')
			if i < 0 {
				m = v
			} else {
				m, v = v[:i], v[i+1:]
			}
			m = TrimOWS(m)
			if m == "" {
				return 0, false, ErrBaggageSyntax
			}
			kv, props := m, ""
			if j := indexByte(m, ';'); j >= 0 {
				kv, props = m[:j], m[j+1:]
				if !validProperties(props) {
					return 0, false, ErrBaggageSyntax
				}
			}
			k, val, ok := splitKV(kv)
			if !ok {
				return 0, false, ErrBaggageSyntax
			}
			if !full {
				add := len(m)
				if n > 0 {
					add++
				}
				if n == MaxBaggageMembers || size+add > MaxBaggageBytes {
					full = true
				} else {
					dst[n] = BaggageMember{Key: k, Value: val, Properties: TrimOWS(props)}
					n++
					size += add
				}
			}
			if i < 0 {
				break
			}
		}
	}
	return n, full, nil
}

// PercentDecode decodes a baggage value that ParseBaggage validated. It
// returns s itself (no allocation) when s has no '%'.
func PercentDecode(s string) string {
	if indexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhexAny(s[i+1])
			lo, ok2 := unhexAny(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}
