package sqlxprobe

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// commentBody splits a commented statement into the statement as sent,
// the comment's body and the trailing semicolon, checking the frame: the
// statement, a space, one comment, then the semicolon if it had one.
func commentBody(t *testing.T, q, out string) (body string) {
	t.Helper()
	stmt := strings.TrimRight(q, " \t\r\n")
	semi := ""
	if strings.HasSuffix(stmt, ";") {
		stmt, semi = strings.TrimRight(strings.TrimSuffix(stmt, ";"), " \t\r\n"), ";"
	}
	if !strings.HasPrefix(out, stmt+" /*") || !strings.HasSuffix(out, "*/"+semi) {
		t.Fatalf("comment(%q) = %q: not the statement, one comment, then %q", q, out, semi)
	}
	return out[len(stmt)+3 : len(out)-2-len(semi)]
}

// commentChar: what a comment body may contain. URL encoding leaves
// ALPHA / DIGIT / "-" / "." / "_" / "~", escapes go through "%" and the
// quote as \', and pairs are key='value' joined by commas: no "*" and no
// "/", so no "*/" to end the comment early and no "/*" to nest one
// (PostgreSQL nests block comments).
func commentChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~%=',\\", c) >= 0
}

// parseComment reads the pairs back: key='value', values with \' for a
// quote, both URL-decoded.
func parseComment(t *testing.T, body string) [][2]string {
	t.Helper()
	var pairs [][2]string
	for body != "" {
		eq := strings.Index(body, "='")
		if eq < 0 {
			t.Fatalf("no ='… in %q", body)
		}
		k := body[:eq]
		rest := body[eq+2:]
		var v strings.Builder
		i := 0
		for ; i < len(rest); i++ {
			if rest[i] == '\\' && i+1 < len(rest) && rest[i+1] == '\'' {
				v.WriteByte('\'')
				i++
				continue
			}
			if rest[i] == '\'' {
				break
			}
			v.WriteByte(rest[i])
		}
		if i == len(rest) {
			t.Fatalf("unterminated value in %q", body)
		}
		dk, err1 := url.PathUnescape(strings.ReplaceAll(k, `\'`, "'"))
		dv, err2 := url.PathUnescape(v.String())
		if err1 != nil || err2 != nil {
			t.Fatalf("pair %q=%q does not decode: %v %v", k, v.String(), err1, err2)
		}
		pairs = append(pairs, [2]string{dk, dv})
		body = rest[i+1:]
		if body != "" {
			if body[0] != ',' {
				t.Fatalf("pairs not separated by a comma: %q", body)
			}
			body = body[1:]
		}
	}
	return pairs
}

// FuzzSQLCommenter: whatever the statement (one with its own comment or
// ending inside an open quote is left alone), the tracestate (it comes from
// the incoming request: attacker-controlled), the static tags and the
// driver name, the commenter appends exactly one comment after the
// statement; no value can end it early or open a nested one; every pair
// reads back to the exact key and value, sorted by key; and the statement
// the database parses (its fingerprint, comments removed) is unchanged.
func FuzzSQLCommenter(f *testing.F) {
	f.Add("SELECT * FROM t WHERE id = $1", "vendor", "x*/; DROP TABLE t; /*", "route", "/polls/{id}", "pgx")
	f.Add("SELECT 1;", "k", "'--", "app", "it's */ or /* nested", "mysql")
	f.Add("SELECT 2 *", "a@b", `\'*/`, "", "", "")
	f.Add("SELECT 'unterminated", "k", "v", "k\x00", "\xff\xfe", "sqlite")
	f.Add("", "k", "v", "traceparent", "spoofed", "x")
	f.Add("SELECT $1(", "k", "v", "", "", "") // SQLite's "$a(…" runs to white space
	f.Add("SELECT @a(x", "k", "v", "", "", "sqlite")
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	f.Fuzz(func(t *testing.T, q, tsKey, tsVal, tagKey, tagVal, driverName string) {
		ts, err := trace.TraceState{}.Insert(tsKey, tsVal)
		if err != nil {
			ts = trace.TraceState{}
		}
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts})
		in, err := newInstr(driverName, "", []Option{WithCommenter(CommentFull), WithCommentTags(map[string]string{tagKey: tagVal})})
		if err != nil {
			t.Fatal(err)
		}
		out := in.comment(q, sc)
		if hasComment(q) || !endsInCode(q) {
			if out != q {
				t.Fatalf("a statement with its own comment or an open quote was changed: %q -> %q", q, out)
			}
			return
		}
		body := commentBody(t, q, out)
		for i := 0; i < len(body); i++ {
			if !commentChar(body[i]) {
				t.Fatalf("comment body %q has %q", body, body[i])
			}
		}
		pairs := parseComment(t, body)
		want := map[string]string{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
		if ts.Len() > 0 {
			want["tracestate"] = ts.String()
		}
		if driverName != "" {
			want["db_driver"] = driverName
		}
		if tagKey != "" && tagKey != "traceparent" && tagKey != "tracestate" {
			want[tagKey] = tagVal
		}
		got := map[string]string{}
		var keys []string
		for _, p := range pairs {
			got[p[0]] = p[1]
			keys = append(keys, p[0])
		}
		if !slices.IsSorted(keys) || len(got) != len(pairs) {
			t.Fatalf("keys %q: not sorted or repeated", keys)
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("%s: got %q, want %q (comment %q)", k, got[k], v, body)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("pairs %v, want %v", got, want)
		}
		// What the database parses: the comment adds no token (white space
		// aside: a comment between tokens separates them).
		squeeze := func(s string) string { return strings.Join(strings.Fields(Fingerprint(s)), "") }
		if a, b := squeeze(out), squeeze(q); a != b {
			t.Fatalf("the comment changed the statement's tokens:\n %q\n %q", a, b)
		}
	})
}

// TestCommentCannotBreakOut runs hostile tracestate values and tags
// through real databases: the statement runs as written, the table the
// value tries to drop is still there, and PostgreSQL logs the comment whole.
func TestCommentCannotBreakOut(t *testing.T) {
	hostile := []string{
		"x*/; DROP TABLE victim; /*",
		"*/ DROP TABLE victim --",
		`\'*/ DROP TABLE victim; /*`,
		"/* nested /* */ DROP TABLE victim",
	}
	run := func(t *testing.T, h *harness, q string) {
		h.db.MustExec("CREATE TABLE IF NOT EXISTS victim (id int)")
		for _, v := range hostile {
			ts, err := trace.TraceState{}.Insert("evil", v)
			if err != nil {
				t.Fatalf("tracestate value %q: %v", v, err)
			}
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: [16]byte{1}, SpanID: [8]byte{1}, TraceFlags: trace.FlagsSampled, TraceState: ts})
			ctx := trace.ContextWithSpanContext(context.Background(), sc)
			var one int
			if err := h.db.GetContext(ctx, &one, q); err != nil || one != 1 {
				t.Fatalf("%q with tracestate %q: %v", q, v, err)
			}
			if _, err := h.db.Exec("SELECT count(*) FROM victim"); err != nil {
				t.Fatalf("the table is gone after tracestate %q: %v", v, err)
			}
		}
	}
	tags := WithCommentTags(map[string]string{"route": "*/ DROP TABLE victim; /*", "app": "it's"})
	t.Run("sqlite", func(t *testing.T) {
		run(t, newSQLite(t, WithCommenter(CommentFull), tags), "SELECT 1")
	})
	t.Run("postgresql", func(t *testing.T) {
		h, srv := newPostgres(t, WithCommenter(CommentFull), tags)
		run(t, h, "SELECT 1")
		log := srv.Log()
		if !strings.Contains(log, "tracestate='evil%3Dx%2A%2F%3B%20DROP%20TABLE%20victim%3B%20%2F%2A'*/") {
			t.Errorf("the server log lacks the escaped comment")
		}
	})
}

// A statement that ends inside an open quote is sent unchanged: the
// comment would be taken into the literal.
func TestEndsInCode(t *testing.T) {
	for q, want := range map[string]bool{
		"SELECT 1":                        true,
		"SELECT 'a''b'":                   true,
		"SELECT 'a":                       false,
		`SELECT 'a\'`:                     false, // open when backslash escapes (MySQL)
		`SELECT 'a\''`:                    false, // open when it does not (PostgreSQL)
		`SELECT "ident`:                   false,
		"SELECT `ident":                   false,
		"SELECT $1, $2":                   true,
		"SELECT $$body$$":                 true,
		"SELECT $$body":                   false,
		"SELECT $fn$ body $fn$":           true,
		"SELECT $fn$ body $other$":        false,
		"SELECT '$$' FROM t WHERE a = $1": true,
		`SELECT 'it''s', "q""q", E'\\'`:   true,
	} {
		if got := endsInCode(q); got != want {
			t.Errorf("endsInCode(%q) = %v, want %v", q, got, want)
		}
	}
}
