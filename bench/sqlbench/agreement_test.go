package sqlbench

import (
	"regexp"
	"strings"
	"testing"

	sqllexer "github.com/DataDog/go-sqllexer"

	"github.com/verdict-obs/verdict/internal/sqlcorpus"
	"github.com/verdict-obs/verdict/sqlxprobe"
)

const corpusPath = "../../sqlxprobe/testdata/queries.txt"

func lexerFor(dialect string) sqllexer.DBMSType {
	switch dialect {
	case "pg":
		return sqllexer.DBMSPostgres
	case "mysql":
		return sqllexer.DBMSMySQL
	}
	return sqllexer.DBMSType("sqlite")
}

func newObfuscator() *sqllexer.Obfuscator {
	return sqllexer.NewObfuscator(
		sqllexer.WithReplaceDigits(false),
		sqllexer.WithReplacePositionalParameter(true),
		sqllexer.WithReplaceBoolean(true),
		sqllexer.WithReplaceBindParameter(true),
		sqllexer.WithDollarQuotedFunc(false),
	)
}

func newNormalizer() *sqllexer.Normalizer {
	return sqllexer.NewNormalizer(
		sqllexer.WithKeepSQLAlias(true),
		sqllexer.WithKeepIdentifierQuotation(true),
		sqllexer.WithRemoveSpaceBetweenParentheses(true),
	)
}

var (
	spaces  = regexp.MustCompile(`\s+`)
	grouped = regexp.MustCompile(`\(\?(,\?)+\)`)
)

// shape normalises formatting so that only the placement of "?" and the
// remaining tokens are compared: whitespace removed, lower case, a
// parenthesised list of only "?" collapsed to "(?)" (go-sqllexer groups
// every such list, we only IN lists), trailing semicolons dropped.
func shape(s string) string {
	s = strings.ToLower(spaces.ReplaceAllString(s, ""))
	s = grouped.ReplaceAllString(s, "(?)")
	return strings.TrimRight(s, ";")
}

// knownDifferences are corpus queries (by their first characters) where we
// deliberately differ from go-sqllexer, with the reason.
var knownDifferences = map[string]string{
	`SELECT E'line1\nline2\'s' AS s`:                                "E'' string: we replace prefix and string by one ?, go-sqllexer leaves the E",
	`SELECT x FROM t WHERE y = -5 AND z = +7 AND w = 3-1`:           "3-1 is a subtraction: we keep the operator (?-?), go-sqllexer reads -1 as a negative number and drops it",
	`SELECT a - 1, b-2, -c FROM t`:                                  "b-2 is a subtraction: we keep the operator, go-sqllexer drops it (b ?)",
	`SELECT 1e10, 2.5E-3, .5, 0.75, 1_000_000`:                      ".5 and 1_000_000 are single numbers: go-sqllexer splits them (. ?, ? _?_?)",
	`SELECT 0x1F, X'1F', B'1010', x'ff'`:                            "X''/B'' literals: we replace prefix and string by one ?, go-sqllexer leaves the prefix",
	`SELECT * FROM items WHERE tags && ARRAY['red', 'blue']`:        "we collapse only IN lists; go-sqllexer also collapses ARRAY[...]",
	`SELECT * FROM items WHERE id = ANY(ARRAY[1, 2, 3])`:            "we collapse only IN lists; go-sqllexer also collapses ARRAY[...]",
	`SELECT /* nested /* inner 'x' */ still comment */ 2`:           "PostgreSQL block comments nest: go-sqllexer ends the comment at the first */ and keeps 'still comment */'",
	`SELECT U&'d\0061t\+000061' AS u`:                               "U&'' string: we replace it whole, go-sqllexer leaves U &",
	`SELECT json_build_object('id', id, 'n', 1) FROM t`:             "go-sqllexer drops the trailing ?, ? after an identifier in a list; we keep every argument",
	`SELECT * FROM t WHERE c = $tag$ never closed`:                  "unterminated dollar quote: we replace the rest by ? (never leak), go-sqllexer keeps the text",
	`SELECT * FROM t WHERE name = 'It\'s escaped' AND b = "double"`: "MySQL: 'It\\'s' ends elsewhere under NO_BACKSLASH_ESCAPES, so we redact the rest of the statement (fail closed); go-sqllexer assumes backslash escapes",
	`INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')`:      "repeated VALUES rows of one shape collapse to one row (batches of any size share a fingerprint); go-sqllexer keeps every row",
	`INSERT INTO t (a, b, c) VALUES (?, ?, ?), (?, ?, ?)`:           "repeated VALUES rows of one shape collapse to one row; go-sqllexer keeps every row",
	`WITH c(x) AS (VALUES (1), (2)) SELECT x FROM c`:                "repeated VALUES rows of one shape collapse to one row; go-sqllexer keeps every row",
	`SELECT _utf8mb4'hello' COLLATE utf8mb4_bin`:                    "charset introducer: we replace _utf8mb4'…' by one ?, go-sqllexer keeps _utf8mb4",
	`SELECT 0xDEADBEEF, 0b1010, b'0101', X'0A0B'`:                   "0b1010 and b''/X'' literals: we replace each by one ?, go-sqllexer splits them",
	`SET @rank := 0`: "@name is a MySQL user variable (an identifier), kept; go-sqllexer replaces it as a bind parameter",
	`SELECT @rank := @rank + 1 AS rnk, name FROM players ORDER BY score DESC`: "@name is a MySQL user variable (an identifier), kept; go-sqllexer replaces it as a bind parameter",
	`SELECT N'national string'`:                                           "N'' string: we replace prefix and string by one ?, go-sqllexer leaves the N",
	`SELECT * FROM users WHERE id = ?1`:                                   "SQLite ?NNN is one placeholder for us; go-sqllexer reads ? and 1",
	`SELECT * FROM users WHERE id = :id AND name = :name`:                 ":name placeholders become ? for us (sqlx named queries), go-sqllexer keeps them",
	`SELECT * FROM users WHERE id = @id`:                                  "@name kept (MySQL user variable ambiguity), go-sqllexer replaces it",
	`SELECT * FROM t WHERE blob = x'CAFEBABE'`:                            "x'' blob literal: we replace prefix and string by one ?, go-sqllexer leaves the x",
	`SELECT * FROM t WHERE a = $name`:                                     "$name is a SQLite named parameter: ? for us, kept by go-sqllexer",
	`SELECT * FROM t WHERE a = 1 AND b = 'x' /* unterminated comment 'y'`: "unterminated comment: we drop the rest (never leak), go-sqllexer keeps it with its literal",
	`SELECT *FROM t WHERE a=-1`:                                           "the sign of -1 belongs to the literal for us (a=?), go-sqllexer keeps it (a =- ?)",
}

func TestAgreementWithGoSQLLexer(t *testing.T) {
	entries, err := sqlcorpus.Read(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	obf, norm := newObfuscator(), newNormalizer()
	agree, known := 0, 0
	for _, e := range entries {
		ours := sqlxprobe.FingerprintDialect(dialectOf(e.Dialect), e.Query)
		theirs, _, err := sqllexer.ObfuscateAndNormalize(e.Query, obf, norm, sqllexer.WithDBMS(lexerFor(e.Dialect)))
		if err != nil {
			t.Logf("line %d: go-sqllexer error %v", e.Line, err)
			continue
		}
		if shape(ours) == shape(theirs) {
			agree++
			continue
		}
		if reason, ok := knownDifferences[e.Query]; ok {
			known++
			t.Logf("line %d known difference (%s):\n ours   %s\n theirs %s", e.Line, reason, ours, theirs)
			continue
		}
		t.Errorf("line %d (%s) disagrees:\n query  %s\n ours   %s\n theirs %s", e.Line, e.Dialect, e.Query, ours, theirs)
	}
	t.Logf("agreement: %d of %d queries identical after formatting, %d documented differences", agree, len(entries), known)
	if agree*100 < len(entries)*85 {
		t.Errorf("only %d of %d queries agree", agree, len(entries))
	}
}

// dialectOf maps the corpus's dialect tags.
func dialectOf(tag string) sqlxprobe.Dialect {
	switch tag {
	case "pg":
		return sqlxprobe.DialectPostgres
	case "mysql":
		return sqlxprobe.DialectMySQL
	case "sqlite":
		return sqlxprobe.DialectSQLite
	}
	return sqlxprobe.DialectGeneric
}
