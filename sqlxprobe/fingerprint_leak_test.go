package sqlxprobe

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// The two leak properties every fingerprint must have, for each reading
// of its dialect (fingerprint_ref_test.go):
//
//  1. No literal-only word: no word (run of letters, digits, '_' and
//     non-ASCII bytes) that occurs in the reading's literals and nowhere
//     else in the statement appears in the fingerprint.
//  2. Literal content does not matter: rotating the letters and digits
//     inside every literal (a-f stay hexadecimal, 0 and 1 stay binary)
//     leaves the fingerprint unchanged. A fingerprint that copied a literal
//     byte, or read a literal as code, changes.

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c >= 0x80
}

func wordsOf(s string, into map[string]bool) {
	for k := 0; k < len(s); {
		if !isWordByte(s[k]) {
			k++
			continue
		}
		e := k
		for e < len(s) && isWordByte(s[e]) {
			e++
		}
		into[s[k:e]] = true
		k = e
	}
}

// literalOnlyWords returns the words of q that the reading finds only in
// literals.
func literalOnlyWords(toks []refToken, q string) map[string]bool {
	lit, other := map[string]bool{}, map[string]bool{}
	for _, t := range toks {
		if t.kind == rLiteral {
			wordsOf(q[t.start:t.end], lit)
		} else {
			wordsOf(q[t.start:t.end], other)
		}
	}
	for w := range other {
		delete(lit, w)
	}
	return lit
}

// leakedWords returns the literal-only words of q under r found in out.
func leakedWords(r reading, q, out string) []string {
	lit := literalOnlyWords(r.lex(q), q)
	if len(lit) == 0 {
		return nil
	}
	got := map[string]bool{}
	wordsOf(out, got)
	var leaked []string
	for w := range got {
		if lit[w] {
			leaked = append(leaked, w)
		}
	}
	sort.Strings(leaked)
	return leaked
}

// rotate maps a letter or digit to another of the same class.
func rotate(c byte) byte {
	switch {
	case c >= 'a' && c <= 'f':
		return 'a' + (c-'a'+1)%6
	case c >= 'A' && c <= 'F':
		return 'A' + (c-'A'+1)%6
	case c >= 'g' && c <= 'z':
		return 'g' + (c-'g'+1)%20
	case c >= 'G' && c <= 'Z':
		return 'G' + (c-'G'+1)%20
	case c == '0':
		return '1'
	case c == '1':
		return '0'
	case c >= '2' && c <= '9':
		return '2' + (c-'2'+1)%8
	}
	return c
}

// mutateLiterals rotates the letters and digits of every literal body of
// q under r. A number keeps its first character and its letters (0x, e);
// a run touching '$' is left alone (it could become a dollar-quote tag).
func mutateLiterals(r reading, q string) string {
	b := []byte(q)
	for _, t := range r.lex(q) {
		if t.kind != rLiteral {
			continue
		}
		body := b[t.bodyStart:t.bodyEnd]
		number := t.bodyStart == t.start && len(body) > 0 && (body[0] >= '0' && body[0] <= '9' || body[0] == '.')
		for k := 0; k < len(body); {
			if !(isWordByte(body[k]) && body[k] < 0x80) {
				k++
				continue
			}
			e := k
			for e < len(body) && isWordByte(body[e]) && body[e] < 0x80 {
				e++
			}
			dollar := (k > 0 && body[k-1] == '$') || (e < len(body) && body[e] == '$') ||
				(k == 0 && t.bodyStart > 0 && q[t.bodyStart-1] == '$') || (e == len(body) && t.bodyEnd < len(q) && q[t.bodyEnd] == '$')
			if !dollar {
				for m := k; m < e; m++ {
					if number && (m == 0 || !(body[m] >= '0' && body[m] <= '9')) {
						continue
					}
					body[m] = rotate(body[m])
				}
			}
			k = e
		}
	}
	return string(b)
}

// checkNoLeak checks both properties of FingerprintDialect(d, q) under
// every reading of d and the basic contract (no longer than q, valid UTF-8
// stays valid). It returns a description of the first failure, or "".
func checkNoLeak(d Dialect, q string) string {
	out := FingerprintDialect(d, q)
	if len(out) > len(q) {
		return fmt.Sprintf("output longer than input: %q", out)
	}
	if utf8.ValidString(q) && !utf8.ValidString(out) {
		return fmt.Sprintf("valid UTF-8 input gave invalid output %q", out)
	}
	for _, r := range readingsFor[d] {
		if w := leakedWords(r, q, out); len(w) > 0 {
			return fmt.Sprintf("%s: %s reading: literal words %q in fingerprint %q", d, r.name, w, out)
		}
		m := mutateLiterals(r, q)
		if m == q {
			continue
		}
		if out2 := FingerprintDialect(d, m); out2 != out {
			return fmt.Sprintf("%s: %s reading: fingerprint depends on literal content:\n  query   %q\n  mutated %q\n  got     %q\n  and     %q", d, r.name, q, m, out, out2)
		}
	}
	return ""
}

// failedClosed reports whether the fingerprint of q gave up before the end
// of the statement (its last "?" stands for text that held more than one
// token), for statistics.
func failedClosed(d Dialect, q string) bool {
	out := FingerprintDialect(d, q)
	if !strings.HasSuffix(out, "?") {
		return false
	}
	// Compare with the fingerprint of q plus a harmless tail: a statement
	// read to its end keeps the tail.
	return !strings.HasSuffix(FingerprintDialect(d, q+"\n;select zzqq"), "zzqq")
}
