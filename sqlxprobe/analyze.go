package sqlxprobe

import "strings"

// queryShape is what the instrumentation derives from a fingerprint: the
// operation (first verb, upper case), the main collection and the summary
// "OPERATION collection" used as span name and db.query.summary.
type queryShape struct {
	operation  string
	collection string
	summary    string
}

// analyze derives the operation and main collection from a fingerprint. It
// is a heuristic over the first words of the statement, good enough for
// span names; it never fails (unknown statements yield only an operation).
func analyze(fp string) queryShape {
	var words [12]string
	n := 0
	depth := 0
	rest := fp
	// Collect the first top-level words (skipping parenthesised parts, so a
	// CTE body does not hide the main statement).
	for len(rest) > 0 && n < len(words) {
		w, r := nextWord(rest)
		rest = r
		if w == "" {
			break
		}
		switch w {
		case "(":
			if depth == 0 {
				words[n] = "(" // stands for the whole group
				n++
			}
			depth++
			continue
		case ")":
			if depth > 0 {
				depth--
			}
			continue
		}
		if depth == 0 {
			words[n] = w
			n++
		}
	}
	if n == 0 {
		return queryShape{}
	}
	ws := words[:n]
	// WITH … AS (…) <main statement>: the operation is the main statement.
	if strings.EqualFold(ws[0], "with") {
		for i := 1; i < len(ws); i++ {
			if isVerb(ws[i]) {
				ws = ws[i:]
				break
			}
		}
	}
	op := strings.ToUpper(ws[0])
	var coll string
	switch op {
	case "SELECT", "DELETE":
		coll = after(ws, "from")
		if coll == "" && op == "SELECT" {
			// FROM may be beyond the first words: look it up in the text.
			coll = fromInText(fp)
		}
	case "INSERT", "REPLACE":
		coll = after(ws, "into")
	case "UPDATE":
		coll = skipModifiers(ws[1:])
	case "CREATE", "DROP", "ALTER", "TRUNCATE":
		coll = objectName(ws[1:])
	}
	sh := queryShape{operation: op, collection: coll, summary: op}
	if coll != "" {
		sh.summary = op + " " + coll
	}
	return sh
}

func isVerb(w string) bool {
	switch strings.ToUpper(w) {
	case "SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "VALUES":
		return true
	}
	return false
}

// nextWord returns the next word (identifier with dots and quotes, or a
// single parenthesis) of s.
func nextWord(s string) (string, string) {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i == len(s) {
		return "", ""
	}
	if s[i] == '(' || s[i] == ')' {
		return s[i : i+1], s[i+1:]
	}
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '(' && s[j] != ')' && s[j] != ',' && s[j] != ';' {
		j++
	}
	if j == i { // a lone ',' or ';'
		return s[i : i+1], s[i+1:]
	}
	return s[i:j], s[j:]
}

func after(ws []string, kw string) string {
	for i := 0; i+1 < len(ws); i++ {
		if strings.EqualFold(ws[i], kw) {
			return tableName(ws[i+1])
		}
	}
	return ""
}

func skipModifiers(ws []string) string {
	for _, w := range ws {
		switch strings.ToUpper(w) {
		case "ONLY", "LOW_PRIORITY", "IGNORE", "OR", "ROLLBACK", "ABORT", "FAIL":
			continue
		}
		return tableName(w)
	}
	return ""
}

func objectName(ws []string) string {
	for i, w := range ws {
		switch strings.ToUpper(w) {
		case "TABLE", "VIEW", "INDEX", "SEQUENCE", "MATERIALIZED", "UNIQUE", "TEMP", "TEMPORARY",
			"IF", "NOT", "EXISTS", "CONCURRENTLY", "OR", "REPLACE", "UNLOGGED":
			continue
		}
		if i == 0 { // CREATE FUNCTION etc.: not a collection
			return ""
		}
		return tableName(w)
	}
	return ""
}

func fromInText(fp string) string {
	depth := 0
	rest := fp
	for len(rest) > 0 {
		w, r := nextWord(rest)
		rest = r
		switch w {
		case "":
			return ""
		case "(":
			depth++
		case ")":
			depth--
		default:
			if depth == 0 && strings.EqualFold(w, "from") {
				nw, _ := nextWord(rest)
				if nw == "(" {
					return ""
				}
				return tableName(nw)
			}
		}
	}
	return ""
}

// tableName strips quoting from a (possibly schema-qualified) name and
// rejects tokens that are not names.
func tableName(w string) string {
	if w == "" || w == "?" || w == "(" {
		return ""
	}
	c := w[0]
	if !(charClass[c]&cIdentStart != 0 || c == '"' || c == '`') {
		return ""
	}
	if strings.ContainsAny(w, "\"`") {
		w = strings.NewReplacer("\"", "", "`", "").Replace(w)
	}
	return w
}
