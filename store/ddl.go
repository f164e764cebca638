package store

import (
	"regexp"
	"strings"
)

var (
	wordTimestamp = regexp.MustCompile(`\bTIMESTAMP\b`)
	wordJSON      = regexp.MustCompile(`\bJSON\b`)
)

// portable writes a migration once for both dialects. Its statements
// spell a time TIMESTAMP, a JSON document JSON and a generated integer
// key {id}; PostgreSQL gets TIMESTAMPTZ, JSONB and an identity column,
// SQLite TIMESTAMP, TEXT and an autoincrement rowid.
func portable(stmts ...string) migration {
	var m migration
	for _, st := range stmts {
		lite := strings.ReplaceAll(st, "{id}", "INTEGER PRIMARY KEY AUTOINCREMENT")
		m.sqlite = append(m.sqlite, wordJSON.ReplaceAllString(lite, "TEXT"))
		pg := strings.ReplaceAll(st, "{id}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
		pg = wordTimestamp.ReplaceAllString(pg, "TIMESTAMPTZ")
		m.postgres = append(m.postgres, wordJSON.ReplaceAllString(pg, "JSONB"))
	}
	return m
}
