// Package sqlxprobe instruments github.com/jmoiron/sqlx.
package sqlxprobe
