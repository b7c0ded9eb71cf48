package sqlxprobe

import "testing"

func TestAnalyze(t *testing.T) {
	for _, tc := range []struct{ q, op, coll string }{
		{"SELECT * FROM users WHERE id = ?", "SELECT", "users"},
		{"select count(*) from public.orders", "SELECT", "public.orders"},
		{`SELECT "User"."Id" FROM "User" WHERE x = ?`, "SELECT", "User"},
		{"SELECT `u`.`id` FROM `users` AS `u`", "SELECT", "users"},
		{"INSERT INTO t (a) VALUES (?)", "INSERT", "t"},
		{"INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", "INSERT", "kv"},
		{"UPDATE accounts SET balance = ?", "UPDATE", "accounts"},
		{"DELETE FROM sessions WHERE id = ?", "DELETE", "sessions"},
		{"WITH r AS (SELECT * FROM o) SELECT a FROM r", "SELECT", "r"},
		{"CREATE TABLE IF NOT EXISTS kv (k text)", "CREATE", "kv"},
		{"DROP TABLE IF EXISTS tmp", "DROP", "tmp"},
		{"CREATE FUNCTION f() RETURNS int AS ?", "CREATE", ""},
		{"SELECT ?", "SELECT", ""},
		{"SELECT * FROM (SELECT 1) s", "SELECT", ""},
		{"BEGIN", "BEGIN", ""},
		{"", "", ""},
	} {
		sh := analyze(FingerprintDialect(DialectPostgres, tc.q)) // keeps "…" names
		if sh.operation != tc.op || sh.collection != tc.coll {
			t.Errorf("analyze(%q) = %q %q, want %q %q", tc.q, sh.operation, sh.collection, tc.op, tc.coll)
		}
	}
}
