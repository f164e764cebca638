package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tributary-data/tributary/connector"
	"github.com/tributary-data/tributary/connectors/sqldest"
)

// DestinationConfig configures the mysql destination.
type DestinationConfig struct {
	DSN      string `json:"dsn,omitempty" secret:"true" jsonschema:"description=Go MySQL driver DSN (user:pass@tcp(host:3306)/db) or a mysql:// URL; either dsn or url"`
	URL      string `json:"url,omitempty" secret:"true" jsonschema:"description=URL form: mysql://user:pass@host:3306/db?param=value"`
	Database string `json:"database,omitempty" jsonschema:"description=Database the tables are written to; default: the connection's"`
	sqldest.DeletesSetting
}

// NewDestination builds the mysql destination from its JSON config.
func NewDestination(_ context.Context, raw json.RawMessage) (connector.Destination, error) {
	var cfg DestinationConfig
	if err := connector.DecodeConfig(raw, &cfg); err != nil {
		return nil, err
	}
	dc, err := Conn{DSN: cfg.DSN, URL: cfg.URL}.config()
	if err != nil {
		return nil, err
	}
	hard, err := cfg.Hard()
	if err != nil {
		return nil, err
	}
	if cfg.Database == "" {
		cfg.Database = dc.DBName
	}
	if cfg.Database == "" {
		return nil, errors.New("database is required (in the config or the connection)")
	}
	db, err := open(dc)
	if err != nil {
		return nil, err
	}
	d := sqldest.New(db, DestDialect{Database: cfg.Database}, nil)
	d.HardDeletes(hard)
	return d, nil
}

// DestDialect is MySQL's SQL for loading into one database.
type DestDialect struct {
	Dialect
	Database string
}

var _ sqldest.Dialect = DestDialect{}

// Table qualifies name with the database.
func (d DestDialect) Table(name string) string { return d.Quote(d.Database) + "." + d.Quote(name) }

// MaxParams is the protocol's limit on prepared statement parameters.
func (DestDialect) MaxParams() int { return 65535 }

// ColumnType declares t. Key columns get bounded types because InnoDB
// cannot index TEXT or BLOB whole.
func (DestDialect) ColumnType(t connector.Type, key bool) string {
	switch t {
	case connector.TypeBool:
		return "TINYINT(1)"
	case connector.TypeInt64:
		return "BIGINT"
	case connector.TypeFloat64:
		return "DOUBLE"
	case connector.TypeDecimal:
		// Any Decimal (18 significant digits, scale up to 30) fits.
		return "DECIMAL(65,30)"
	case connector.TypeBytes:
		if key {
			return "VARBINARY(255)"
		}
		return "LONGBLOB"
	case connector.TypeDate:
		return "DATE"
	case connector.TypeTimestamp:
		return "DATETIME(6)"
	case connector.TypeJSON:
		return "JSON"
	}
	if key {
		return "VARCHAR(255)"
	}
	return "LONGTEXT"
}

// Columns reads the table's columns, nil when it does not exist.
func (d DestDialect) Columns(ctx context.Context, q sqldest.Querier, table string) ([]sqldest.Column, error) {
	rows, err := q.QueryContext(ctx, `SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, d.Database, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []sqldest.Column
	for rows.Next() {
		var name, dataType, colType string
		if err := rows.Scan(&name, &dataType, &colType); err != nil {
			return nil, err
		}
		out = append(out, sqldest.Column{Name: name, Type: MapType(dataType, colType)})
	}
	if err := rows.Err(); err != nil || out == nil {
		return out, err
	}
	rows.Close()
	jsonCols, err := mariaJSONColumns(ctx, q, "?", []any{d.Database})
	if err != nil {
		return nil, err
	}
	for i, c := range out {
		if jsonCols[[3]string{d.Database, table, c.Name}] {
			out[i].Type = connector.TypeJSON
		}
	}
	return out, nil
}

// Upsert merges with ON DUPLICATE KEY UPDATE, which applies the rows of a
// statement in order, so the last occurrence of a key wins. With a cursor
// every assignment keeps the old value when the stored cursor is newer;
// the cursor itself is assigned last, as MySQL evaluates assignments left
// to right against the already updated row.
func (d DestDialect) Upsert(_ string, cols, pk []string, cursor string) string {
	var set []string
	keep := ""
	if cursor != "" {
		c := d.Quote(cursor)
		keep = fmt.Sprintf("%s IS NULL OR VALUES(%s) IS NULL OR VALUES(%s) >= %s", c, c, c, c)
	}
	assign := func(col string) string {
		c := d.Quote(col)
		if keep == "" {
			return c + " = VALUES(" + c + ")"
		}
		return fmt.Sprintf("%s = IF(%s, VALUES(%s), %s)", c, keep, c, c)
	}
	for _, c := range cols {
		if c != cursor && !contains(pk, c) {
			set = append(set, assign(c))
		}
	}
	if cursor != "" && !contains(pk, cursor) {
		set = append(set, assign(cursor))
	}
	if len(set) == 0 {
		k := d.Quote(pk[0])
		set = append(set, k+" = "+k)
	}
	return "ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
}

// Retype modifies the changed columns in one ALTER TABLE.
func (d DestDialect) Retype(table string, cols []sqldest.Column, changed []string, pk []string) []string {
	var mods []string
	for _, c := range cols {
		if !contains(changed, c.Name) {
			continue
		}
		key := contains(pk, c.Name)
		m := "MODIFY COLUMN " + d.Quote(c.Name) + " " + d.ColumnType(c.Type, key)
		if key {
			m += " NOT NULL"
		}
		mods = append(mods, m)
	}
	return []string{"ALTER TABLE " + d.Table(table) + " " + strings.Join(mods, ", ")}
}

// Swap renames both tables in one RENAME TABLE, which MySQL performs
// atomically: readers see the old table or the new one.
func (d DestDialect) Swap(target, fresh, old string, exists bool) []string {
	if !exists {
		return []string{"RENAME TABLE " + d.Table(fresh) + " TO " + d.Table(target)}
	}
	return []string{
		"DROP TABLE IF EXISTS " + d.Table(old),
		"RENAME TABLE " + d.Table(target) + " TO " + d.Table(old) + ", " + d.Table(fresh) + " TO " + d.Table(target),
		"DROP TABLE " + d.Table(old),
	}
}

// TransactionalDDL is false: MySQL commits implicitly before DDL.
func (DestDialect) TransactionalDDL() bool { return false }

// Value renders v for the driver.
func (DestDialect) Value(t connector.Type, v any) (any, error) {
	if t == connector.TypeJSON {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return string(b), nil
	}
	switch x := v.(type) {
	case connector.Decimal:
		return x.String(), nil
	case time.Time:
		// DATETIME(6) rounds extra digits, which could move a value to the
		// next second; truncating keeps it where it was.
		return x.UTC().Truncate(time.Microsecond), nil
	case []byte:
		if x == nil {
			return []byte{}, nil
		}
	}
	return v, nil
}

// StateUpsert stores a state row.
func (d DestDialect) StateUpsert() string {
	q := d.Quote
	return fmt.Sprintf("INSERT INTO %s (%s, %s, %s, %s) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE %s = VALUES(%s), %s = VALUES(%s)",
		d.Table(sqldest.StateTable), q("pipeline"), q("stream"), q("state"), q("updated_at"), q("state"), q("state"), q("updated_at"), q("updated_at"))
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
