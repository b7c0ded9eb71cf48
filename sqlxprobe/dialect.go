package sqlxprobe

import "strings"

// WithDialect sets how statements are read for their fingerprint
// (db.query.text). By default the dialect follows the driver name, see
// [DialectForDriver]; set it for drivers registered under other names.
func WithDialect(d Dialect) Option {
	return optionFunc(func(c *config) { c.dialect, c.dialectSet = d, true })
}

// DialectForDriver returns the dialect an instrumented pool uses for a
// database/sql driver name when [WithDialect] is not given:
//
//	driver name contains          dialect
//	"postgres", or is pgx*, pq    DialectPostgres
//	"mysql" or "maria"            DialectMySQL
//	"sqlite", or is libsql        DialectSQLite
//	anything else                 DialectGeneric
//
// Matching ignores case, so "postgres", "pgx", "pgx/v5", "cloudsqlpostgres",
// "mysql", "nrmysql", "sqlite", "sqlite3" and "sqlite3_extended" are all
// recognised.
func DialectForDriver(driverName string) Dialect {
	n := strings.ToLower(driverName)
	switch {
	case strings.Contains(n, "postgres") || strings.HasPrefix(n, "pgx") || n == "pq":
		return DialectPostgres
	case strings.Contains(n, "mysql") || strings.Contains(n, "maria"):
		return DialectMySQL
	case strings.Contains(n, "sqlite") || n == "libsql":
		return DialectSQLite
	}
	return DialectGeneric
}
