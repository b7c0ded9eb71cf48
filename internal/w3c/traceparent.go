// Package w3c parses and formats the W3C Trace Context (traceparent,
// tracestate) and W3C Baggage headers exactly as the specifications say,
// without allocating on the parse path.
//
// Specifications: https://www.w3.org/TR/trace-context/ (Level 1, with the
// Level 2 random flag kept) and https://www.w3.org/TR/baggage/.
//
// All functions are safe for concurrent use; none of them panics on any input.
package w3c

// Header names, lower case as the specifications write them, and the
// canonical MIME forms net/http stores in an http.Header.
const (
	TraceParentHeader = "traceparent"
	TraceStateHeader  = "tracestate"
	BaggageHeader     = "baggage"

	TraceParentCanonical = "Traceparent"
	TraceStateCanonical  = "Tracestate"
	BaggageCanonical     = "Baggage"
)

// TraceParentLen is the length of a version-00 traceparent value.
const TraceParentLen = 55

// Trace flags kept when a traceparent is parsed: sampled (Level 1) and
// random (Level 2). Other bits are unknown to version 00 and are cleared, as
// the specification asks of a participant that propagates them.
const (
	FlagSampled = 0x01
	FlagRandom  = 0x02
	knownFlags  = FlagSampled | FlagRandom
)

// TraceParent is a parsed traceparent header.
type TraceParent struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte
}

// isOWS reports whether c is optional white space (space or horizontal tab).
func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// TrimOWS removes leading and trailing spaces and tabs.
func TrimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// unhexLC returns the value of a lower-case hex digit. Upper-case digits are
// not valid in traceparent (HEXDIGLC).
func unhexLC(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// decodeHex decodes lower-case hex src into dst (len(src) == 2*len(dst)) and
// reports whether it was valid and not all zero.
func decodeHex(dst []byte, src string) (valid, nonZero bool) {
	var or byte
	for i := range dst {
		hi, ok1 := unhexLC(src[2*i])
		lo, ok2 := unhexLC(src[2*i+1])
		if !ok1 || !ok2 {
			return false, false
		}
		dst[i] = hi<<4 | lo
		or |= dst[i]
	}
	return true, or != 0
}

// ParseTraceParent parses one traceparent header value. It returns false
// when the value is invalid, in which case the caller must ignore it and the
// tracestate header too.
//
// Rules (W3C Trace Context, "traceparent Header Field Values"): optional
// white space around the value is ignored; version "ff" is invalid; version
// 00 must be exactly 55 characters; a higher (future) version is parsed by
// the version-00 layout, may be longer, and then has a '-' after the flags;
// all hex is lower case; an all-zero trace ID or parent ID is invalid.
func ParseTraceParent(s string) (TraceParent, bool) {
	var tp TraceParent
	s = TrimOWS(s)
	if len(s) < TraceParentLen {
		return tp, false
	}
	var ver [1]byte
	if ok, _ := decodeHex(ver[:], s[0:2]); !ok || ver[0] == 0xff {
		return tp, false
	}
	if ver[0] == 0 && len(s) != TraceParentLen {
		return tp, false
	}
	if len(s) > TraceParentLen && s[TraceParentLen] != '-' {
		return tp, false
	}
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return tp, false
	}
	if ok, nz := decodeHex(tp.TraceID[:], s[3:35]); !ok || !nz {
		return tp, false
	}
	if ok, nz := decodeHex(tp.SpanID[:], s[36:52]); !ok || !nz {
		return tp, false
	}
	var fl [1]byte
	if ok, _ := decodeHex(fl[:], s[53:55]); !ok {
		return tp, false
	}
	tp.Flags = fl[0] & knownFlags
	return tp, true
}

// ParseTraceParentValues parses the traceparent header values of one
// request. More than one traceparent header makes the request's trace
// context invalid (the test suite's "duplicated traceparent" case).
func ParseTraceParentValues(values []string) (TraceParent, bool) {
	if len(values) != 1 {
		return TraceParent{}, false
	}
	return ParseTraceParent(values[0])
}

const hexdigits = "0123456789abcdef"

// AppendTraceParent appends the version-00 traceparent for the IDs and
// flags to dst.
func AppendTraceParent(dst []byte, traceID [16]byte, spanID [8]byte, flags byte) []byte {
	dst = append(dst, '0', '0', '-')
	for _, b := range traceID {
		dst = append(dst, hexdigits[b>>4], hexdigits[b&0xf])
	}
	dst = append(dst, '-')
	for _, b := range spanID {
		dst = append(dst, hexdigits[b>>4], hexdigits[b&0xf])
	}
	flags &= knownFlags
	return append(dst, '-', hexdigits[flags>>4], hexdigits[flags&0xf])
}
