package sqlite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest"
)

// DestinationConfig configures the sqlite destination.
type DestinationConfig struct {
	Path string `json:"path" jsonschema:"required,description=Path of the SQLite database file; created (with its directory) if missing"`
	sqldest.DeletesSetting
}

// NewDestination builds the sqlite destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	if cfg.Path == "" {
		return nil, errors.New("path is required")
	}
	hard, err := cfg.Hard()
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create directory: %w", err)
		}
	}
	db, err := Open(cfg.Path)
	if err != nil {
		return nil, err
	}
	d := sqldest.New(db, DestDialect{}, nil)
	d.HardDeletes(hard)
	return d, nil
}

// DestDialect is SQLite's SQL for loading. Types are declared so their
// affinity keeps values as written: decimals as TEXT ("DECIMAL TEXT"), so
// "12.50" is not turned into the REAL 12.5, and timestamps as
// "YYYY-MM-DD HH:MM:SS.fffffffff" text in UTC, which sorts in time order.
type DestDialect struct{ Dialect }

var _ sqldest.Dialect = DestDialect{}

// Table quotes name; everything lives in the main database.
func (d DestDialect) Table(name string) string { return d.Quote(name) }

// MaxParams is SQLite's default SQLITE_MAX_VARIABLE_NUMBER.
func (DestDialect) MaxParams() int { return 32766 }

// ColumnType declares t.
func (DestDialect) ColumnType(t connector.Type, _ bool) string {
	switch t {
	case connector.TypeBool:
		return "BOOLEAN"
	case connector.TypeInt64:
		return "INTEGER"
	case connector.TypeFloat64:
		return "REAL"
	case connector.TypeDecimal:
		return "DECIMAL TEXT"
	case connector.TypeBytes:
		return "BLOB"
	case connector.TypeDate:
		return "DATE"
	case connector.TypeTimestamp:
		return "DATETIME"
	case connector.TypeJSON:
		return "JSON TEXT"
	}
	return "TEXT"
}

// Columns reads the table's columns, nil when it does not exist.
func (d DestDialect) Columns(ctx context.Context, q sqldest.Querier, table string) ([]sqldest.Column, error) {
	rows, err := q.QueryContext(ctx, "SELECT name, type FROM pragma_table_info(?) ORDER BY cid", table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sqldest.Column
	for rows.Next() {
		var name, decl string
		if err := rows.Scan(&name, &decl); err != nil {
			return nil, err
		}
		out = append(out, sqldest.Column{Name: name, Type: MapType(decl)})
	}
	return out, rows.Err()
}

// Upsert merges with ON CONFLICT DO UPDATE; SQLite applies the rows of one
// statement in order, so the last occurrence of a key wins.
func (d DestDialect) Upsert(table string, cols, pk []string, cursor string) string {
	var set []string
	for _, c := range cols {
		if !contains(pk, c) {
			set = append(set, d.Quote(c)+" = excluded."+d.Quote(c))
		}
	}
	keys := make([]string, len(pk))
	for i, k := range pk {
		keys[i] = d.Quote(k)
	}
	clause := "ON CONFLICT (" + strings.Join(keys, ", ") + ") DO "
	if len(set) == 0 {
		return clause + "NOTHING"
	}
	clause += "UPDATE SET " + strings.Join(set, ", ")
	if cursor != "" {
		c := d.Quote(cursor)
		clause += fmt.Sprintf(" WHERE %s.%s IS NULL OR excluded.%s IS NULL OR excluded.%s >= %s.%s", table, c, c, c, table, c)
	}
	return clause
}

// Retype rebuilds the table: SQLite cannot change a column's declared
// type, and it is the declared type that decides how values are stored.
func (d DestDialect) Retype(table string, cols []sqldest.Column, _ []string, pk []string) []string {
	tmp := "_tributary_retype"
	defs := make([]string, len(cols))
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = d.Quote(c.Name)
		defs[i] = names[i] + " " + d.ColumnType(c.Type, false)
		if contains(pk, c.Name) {
			defs[i] += " NOT NULL"
		}
	}
	if len(pk) > 0 {
		keys := make([]string, len(pk))
		for i, k := range pk {
			keys[i] = d.Quote(k)
		}
		defs = append(defs, "PRIMARY KEY ("+strings.Join(keys, ", ")+")")
	}
	list := strings.Join(names, ", ")
	return []string{
		"DROP TABLE IF EXISTS " + d.Quote(tmp),
		"CREATE TABLE " + d.Quote(tmp) + " (" + strings.Join(defs, ", ") + ")",
		"INSERT INTO " + d.Quote(tmp) + " (" + list + ") SELECT " + list + " FROM " + d.Quote(table),
		"DROP TABLE " + d.Quote(table),
		"ALTER TABLE " + d.Quote(tmp) + " RENAME TO " + d.Quote(table),
	}
}

// Swap drops the target and renames the fresh table, inside the load's
// transaction: readers see the old table or the new one.
func (d DestDialect) Swap(target, fresh, _ string, exists bool) []string {
	var out []string
	if exists {
		out = append(out, "DROP TABLE "+d.Quote(target))
	}
	return append(out, "ALTER TABLE "+d.Quote(fresh)+" RENAME TO "+d.Quote(target))
}

// TransactionalDDL is true: SQLite changes schemas inside transactions.
func (DestDialect) TransactionalDDL() bool { return true }

// TimeLayout is how timestamps are stored: UTC, no zone suffix, so text
// order is time order.
const TimeLayout = "2006-01-02 15:04:05.999999999"

// Value renders v for SQLite.
func (DestDialect) Value(t connector.Type, v any) (any, error) {
	if t == connector.TypeJSON {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	switch x := v.(type) {
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case connector.Decimal:
		return x.String(), nil
	case time.Time:
		if t == connector.TypeDate {
			return x.UTC().Format(time.DateOnly), nil
		}
		return x.UTC().Format(TimeLayout), nil
	case []byte:
		if x == nil {
			return []byte{}, nil
		}
		return x, nil
	}
	return v, nil
}

// StateUpsert stores a state row.
func (d DestDialect) StateUpsert() string {
	q := d.Quote
	return fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s) VALUES (?, ?, ?, ?) ON CONFLICT (%s, %s) DO UPDATE SET %s = excluded.%s, %s = excluded.%s",
		q(sqldest.StateTable), q("pipeline"), q("stream"), q("state"), q("updated_at"), q("pipeline"), q("stream"),
		q("state"), q("state"), q("updated_at"), q("updated_at"))
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
