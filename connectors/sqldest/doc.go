// Package sqldest loads streams into a database reachable through
// database/sql. It owns the load protocol every transactional SQL
// destination shares: tables created from the stream schema and evolved by
// the schema policy, multi-row inserts as wide as the driver's parameter
// limit allows, upserts on the primary key for dedup, a fresh table swapped
// in for overwrite, and the _tributary_state and _tributary_quarantine
// tables written in the same transaction as the data, so a checkpoint is
// all or nothing. A [Dialect] supplies each database's SQL.
package sqldest
