package sqldest

import (
	"context"
	"database/sql"

	"github.com/tributary-data/tributary/connector"
)

// Dialect is what a database contributes to the generic loader.
type Dialect interface {
	// Quote returns name quoted as an identifier.
	Quote(name string) string
	// Placeholder returns the marker of the n-th parameter, from 1.
	Placeholder(n int) string
	// Table returns the quoted, schema-qualified name of a table of the
	// destination.
	Table(name string) string
	// MaxParams is the most bind parameters one statement may carry.
	MaxParams() int
	// ColumnType returns the column type to declare for t; key says the
	// column is part of the primary key (MySQL cannot index TEXT whole).
	ColumnType(t connector.Type, key bool) string
	// Columns returns the columns of table, or nil when it does not exist.
	Columns(ctx context.Context, q Querier, table string) ([]Column, error)
	// Upsert returns the clause that turns a multi-row INSERT of cols into
	// table (quoted) into a merge on pk, later rows winning; with a cursor,
	// a row only replaces one whose cursor is not newer.
	Upsert(table string, cols, pk []string, cursor string) string
	// Retype returns the statements that change the types of the changed
	// columns of table, whose columns become cols.
	Retype(table string, cols []Column, changed []string, pk []string) []string
	// Swap returns the statements that replace target with fresh, keeping
	// the name target; exists says whether target exists. old is a free
	// name the dialect may use on the way.
	Swap(target, fresh, old string, exists bool) []string
	// TransactionalDDL reports whether schema changes can run inside the
	// load transaction. Where they cannot (MySQL commits implicitly), the
	// writer rolls back, changes the schema, and writes the checkpoint's
	// batches again.
	TransactionalDDL() bool
	// Value returns v, of type t, in the form the driver binds for a
	// column of type t.
	Value(t connector.Type, v any) (any, error)
	// StateUpsert returns the statement storing a state row from the
	// parameters pipeline, stream, state, updated_at.
	StateUpsert() string
}

// Querier runs queries: a *sql.DB, *sql.Conn or *sql.Tx.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Column is a column of a destination table.
type Column struct {
	Name string
	Type connector.Type
}
