// Package postgres is the PostgreSQL connector: a source that reads tables
// and custom queries (full refresh, or incremental past a saved cursor) or,
// with its cdc setting, the tables' changes through logical replication
// (see cdc.go), and
// a destination that loads batches with binary COPY and keeps each stream's
// state in the same transaction as its rows, so a killed run resumes with
// every row loaded exactly once.
//
// The destination writes the PGCOPY binary stream itself from the typed
// rows of a batch (see copy.go) instead of going through pgx's CopyFrom:
// no per-value plan lookups or boxing, numerics encoded without math/big,
// and one COPY kept open across batches so encoding overlaps the server's
// work.
package postgres
