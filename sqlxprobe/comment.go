package sqlxprobe

import (
	"sort"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

type commentTag struct{ key, value string }

// sortedTags returns the static CommentFull tags (plus db_driver) sorted by
// key, already serialised.
func sortedTags(tags map[string]string, driverName string) []commentTag {
	out := make([]commentTag, 0, len(tags)+1)
	if driverName != "" {
		if _, ok := tags["db_driver"]; !ok {
			out = append(out, commentTag{"db_driver", driverName})
		}
	}
	for k, v := range tags {
		if k == "traceparent" || k == "tracestate" || k == "" {
			continue // owned by the span
		}
		out = append(out, commentTag{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// hasComment reports whether query already carries a comment; such
// queries are never changed (they may carry their own sqlcommenter tags or
// optimizer hints). A '#' counts too: it starts a line comment in MySQL
// (an appended comment after it would be commented out, its values with
// it), and a PostgreSQL operator cannot be told from it without the
// dialect, so such queries are left alone (found by FuzzSQLCommenter).
func hasComment(query string) bool {
	return strings.Contains(query, "/*") || strings.Contains(query, "--") || strings.Contains(query, "#")
}

// endsInCode reports whether query ends outside any quoted text (string
// literal, quoted identifier, dollar-quoted string) under the quoting rules
// of every dialect, with and without backslash escapes. Only then is an
// appended comment a comment: a statement that ends inside an open quote
// would take the comment into its literal, and the comment's own quotes
// would end that literal and turn the rest, values included, into SQL. Such
// a statement is already invalid; it is sent unchanged.
func endsInCode(query string) bool {
	return endsOutsideQuotes(query, false) && endsOutsideQuotes(query, true)
}

func endsOutsideQuotes(q string, backslash bool) bool {
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '\'', '"', '`':
			j := i + 1
			for ; j < len(q); j++ {
				if backslash && q[j] == '\\' {
					j++
					continue
				}
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled: an escaped quote
						j++
						continue
					}
					break
				}
			}
			if j >= len(q) {
				return false
			}
			i = j
		case '$':
			// $tag$ … $tag$ (PostgreSQL); $1 is a parameter.
			j := i + 1
			for j < len(q) && (q[j] == '_' || 'a' <= q[j] && q[j] <= 'z' || 'A' <= q[j] && q[j] <= 'Z' || '0' <= q[j] && q[j] <= '9' || q[j] >= 0x80) {
				j++
			}
			if j < len(q) && q[j] == '$' && (j == i+1 || q[i+1] < '0' || q[i+1] > '9') {
				tag := q[i : j+1]
				k := strings.Index(q[j+1:], tag)
				if k < 0 {
					return false
				}
				i = j + k + len(tag)
			}
		}
	}
	return true
}

// comment returns query with the sqlcommenter comment for sc appended, or
// query unchanged when there is nothing to add. Per the sqlcommenter
// specification, keys and values are URL-encoded, single quotes in them
// escaped, values wrapped in single quotes, pairs sorted by key and joined
// with commas. The comment goes after the statement, before a trailing
// semicolon, separated from it by a space as in the specification's
// examples: glued, it would become part of a token that runs until white
// space, such as SQLite's Tcl-style parameter suffix "$a(…" (found by
// FuzzSQLCommenter: "$1(" followed by the comment changed how the
// statement tokenises).
func (in *instr) comment(query string, sc trace.SpanContext) string {
	mode := in.cfg.comment
	if mode == CommentOff || !sc.IsValid() || hasComment(query) || !endsInCode(query) {
		return query
	}
	body := strings.TrimRight(query, " \t\r\n")
	semi := ""
	if strings.HasSuffix(body, ";") {
		body = strings.TrimRight(strings.TrimSuffix(body, ";"), " \t\r\n")
		semi = ";"
	}
	var b strings.Builder
	b.Grow(len(body) + 81 + len(semi))
	b.WriteString(body)
	b.WriteString(" /*")
	first := true
	write := func(k, v string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeEscaped(&b, k)
		b.WriteString("='")
		writeEscaped(&b, v)
		b.WriteByte('\'')
	}
	var tp [55]byte
	traceparent := string(appendTraceparent(tp[:0], sc))
	if mode == CommentTraceparent {
		write("traceparent", traceparent)
	} else {
		ts := sc.TraceState().String()
		dyn := [2]commentTag{{"traceparent", traceparent}, {"tracestate", ts}}
		nd := 1
		if ts != "" {
			nd = 2
		}
		// Merge the sorted static tags with the two (sorted) span keys.
		i, j := 0, 0
		for i < len(in.commentTags) || j < nd {
			if j >= nd || (i < len(in.commentTags) && in.commentTags[i].key < dyn[j].key) {
				write(in.commentTags[i].key, in.commentTags[i].value)
				i++
			} else {
				write(dyn[j].key, dyn[j].value)
				j++
			}
		}
	}
	b.WriteString("*/")
	b.WriteString(semi)
	return b.String()
}

const hexDigits = "0123456789abcdef"

// appendTraceparent appends the W3C traceparent of sc.
func appendTraceparent(dst []byte, sc trace.SpanContext) []byte {
	tid, sid := sc.TraceID(), sc.SpanID()
	dst = append(dst, "00-"...)
	for _, c := range tid {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	dst = append(dst, '-')
	for _, c := range sid {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	f := byte(sc.TraceFlags())
	return append(dst, '-', hexDigits[f>>4], hexDigits[f&15])
}

// writeEscaped writes s URL-encoded (every byte outside ALPHA / DIGIT /
// "-" / "." / "_" / "~" as %XX, upper-case hex) except the single quote,
// which is escaped as \' as the specification's meta-character rule asks
// (the same result as encodeURIComponent followed by quote escaping in the
// reference Node.js implementation).
func writeEscaped(b *strings.Builder, s string) {
	const upper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '\'':
			b.WriteString(`\'`)
		default:
			b.WriteByte('%')
			b.WriteByte(upper[c>>4])
			b.WriteByte(upper[c&15])
		}
	}
}
