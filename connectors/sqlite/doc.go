// Package sqlite is the SQLite connector (pure Go, modernc.org/sqlite). The
// source reads tables and queries through sqlsource with SQLite's dialect:
// types come from the declared column type's affinity, and timestamps are
// compared as the text SQLite stores. The destination loads through sqldest
// into a database file it creates if missing, with WAL and a busy timeout
// on every connection.
package sqlite
