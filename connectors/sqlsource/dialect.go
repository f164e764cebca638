package sqlsource

import (
	"context"
	"database/sql"

	"github.com/tributary-data/tributary/connector"
)

// Dialect is what a database contributes to the generic reader: how it
// quotes names and marks parameters, how its catalog is listed and how its
// result column types map to SDK types.
type Dialect interface {
	// Quote returns name quoted as an identifier, with embedded quote
	// characters escaped.
	Quote(name string) string
	// Placeholder returns the marker of the n-th bind parameter, counted
	// from 1: "?" for MySQL and SQLite, "$n" for PostgreSQL.
	Placeholder(n int) string
	// Tables lists the tables of the given schemas with their columns
	// (already mapped to SDK types) and primary keys. No schemas means the
	// connection's default schema.
	Tables(ctx context.Context, db *sql.DB, schemas []string) ([]Table, error)
	// ColumnType maps a result column of a custom query to an SDK type.
	ColumnType(ct *sql.ColumnType) connector.Type
}

// RawKeys is implemented by dialects that must compare key columns of a
// type in the form the database stores them, not as the SDK value: SQLite
// keeps timestamps as text and compares them as text, so the cursor is kept
// and bound exactly as read.
type RawKeys interface {
	RawKey(t connector.Type) bool
}

// Selector is implemented by dialects that read some columns through an
// expression rather than by name, such as SQLite, whose driver parses
// DATETIME text into time.Time and so loses the text a cursor compares.
type Selector interface {
	// Select returns the select-list expression for the quoted column
	// of type t.
	Select(quoted string, t connector.Type) string
}

// Table is a discovered table.
type Table struct {
	// Schema is the schema (database, for MySQL) holding the table; empty
	// where the database has none.
	Schema string
	Name   string
	// Stream is the stream name the table is offered as.
	Stream     string
	Columns    []Column
	PrimaryKey []string
}

// Column is a discovered column.
type Column struct {
	Name string
	// DBType is the type as the database declares it, e.g. "decimal(10,2)".
	DBType   string
	Type     connector.Type
	Nullable bool
}

// StreamSchema returns the table's columns as a connector schema.
func (t Table) StreamSchema() *connector.Schema {
	s := &connector.Schema{Fields: make([]connector.Field, len(t.Columns))}
	for i, c := range t.Columns {
		s.Fields[i] = connector.Field{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	return s
}

// CursorCandidates lists the columns a cursor can be kept on: integers,
// dates and timestamps, which grow with new rows.
func (t Table) CursorCandidates() []string {
	var out []string
	for _, c := range t.Columns {
		switch c.Type {
		case connector.TypeInt64, connector.TypeTimestamp, connector.TypeDate, connector.TypeDecimal:
			out = append(out, c.Name)
		}
	}
	return out
}
